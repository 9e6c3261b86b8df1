"""The adapter contract and the registry that finds adapters through entry points.

An adapter knows one family of formats.  Ingest asks each adapter whether it
recognises a path (:meth:`Adapter.sniff`), then lets the first that does write a
geogen store into a temporary directory; the caller renames it into place, so an
adapter never has to care about atomicity.  Export works the same way in reverse.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Literal

import xarray as xr

from geogen.errors import InputError

IngestKind = Literal["auto", "survey", "poststack", "velocity", "pairs"]
DuplicatePolicy = Literal["error", "first", "last"]


@dataclass(frozen=True)
class IngestRequest:
    """What the user asked of ``geogen ingest`` (paths and options), for one adapter."""

    paths: tuple[Path, ...]
    kind: IngestKind = "auto"
    headers: dict[str, int] = field(default_factory=dict)  # NAME -> 1-based byte
    duplicates: DuplicatePolicy = "error"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked of ``geogen export``: the source store and options."""

    source: Path | None
    options: dict[str, Any] = field(default_factory=dict)


class Adapter:
    """Base class: override what the format supports.

    ``name`` is the entry-point name; ``export_format`` is the ``--format`` value it
    writes (or None if it cannot write).
    """

    name: ClassVar[str] = ""
    export_format: ClassVar[str | None] = None

    def sniff(self, path: Path) -> bool:
        """True if this adapter can read ``path``; must be cheap and never raise."""
        return False

    def ingest(self, request: IngestRequest, out: Path) -> None:
        """Write a geogen store for ``request`` at the (not yet existing) path ``out``."""
        raise InputError(f"the {self.name} adapter cannot ingest", path=request.paths[0])

    def export(self, ds: xr.Dataset, out: Path, request: ExportRequest) -> None:
        """Write ``ds`` in this adapter's format at the (not yet existing) path ``out``."""
        raise InputError(f"the {self.name} adapter cannot export")


@cache
def adapters() -> dict[str, Adapter]:
    """Every adapter registered in the ``geogen.adapters`` entry-point group, by name.

    A third-party adapter that fails to import is skipped with a warning, so that one
    broken plug-in cannot take every format down with it.
    """
    found: dict[str, Adapter] = {}
    for ep in entry_points(group="geogen.adapters"):
        try:
            found[ep.name] = ep.load()()
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            warnings.warn(f"geogen adapter {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
    return found


def adapter_for(path: Path) -> Adapter:
    """The first registered adapter that recognises ``path``."""
    if not path.exists():
        raise InputError("no such file or directory", path=path)
    for adapter in adapters().values():
        if adapter.sniff(path):
            return adapter
    raise InputError(
        "is not a format geogen reads (SEG-Y, OpenFWI .npy, Zarr or netCDF); "
        "check the file, or pass --kind if it is SEG-Y with an unusual header",
        path=path,
    )


def exporter_for(fmt: str) -> Adapter:
    for adapter in adapters().values():
        if adapter.export_format == fmt:
            return adapter
    known = sorted(a.export_format for a in adapters().values() if a.export_format)
    raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(known)}")
