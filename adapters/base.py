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
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from geogen.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

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

    def ingest(self, request: IngestRequest, out: Path) -> dict[str, Any] | None:
        """Write a geogen store for ``request`` at the (not yet existing) path ``out``.

        May return the store's summary (the dict of :func:`geogen.summary.info` without value
        ranges) when the adapter knows it from the write, so that the caller need not read
        the store again; None otherwise.
        """
        raise InputError(f"the {self.name} adapter cannot ingest", path=request.paths[0])

    def export(self, ds: xr.Dataset, out: Path, request: ExportRequest) -> None:
        """Write ``ds`` in this adapter's format at the (not yet existing) path ``out``."""
        raise InputError(f"the {self.name} adapter cannot export")


@cache
def _load(name: str, value: str) -> Adapter | None:
    """One registered adapter, imported on first use; None (with a warning) if it fails to load."""
    for ep in entry_points(group="geogen.adapters", name=name):
        if ep.value == value:
            try:
                return ep.load()()
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                warnings.warn(f"geogen adapter {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=3)
    return None


#: Adapters tried first by :func:`adapter_for`: their modules import no xarray or dask, so a
#: file they recognise is ingested without loading either (the others follow by name).
TRY_FIRST = ("segy",)


def _registered() -> list[tuple[str, str]]:
    eps = sorted(entry_points(group="geogen.adapters"), key=lambda ep: (ep.name not in TRY_FIRST, ep.name))
    return [(ep.name, ep.value) for ep in eps]


def adapters() -> dict[str, Adapter]:
    """Every adapter registered in the ``geogen.adapters`` entry-point group, by name.

    A third-party adapter that fails to import is skipped with a warning, so that one
    broken plug-in cannot take every format down with it.
    """
    found = {name: _load(name, value) for name, value in _registered()}
    return {name: adapter for name, adapter in found.items() if adapter is not None}


def adapter_for(path: Path) -> Adapter:
    """The first registered adapter that recognises ``path``.

    Adapters are imported one at a time (:data:`TRY_FIRST`, then by name) until one
    recognises the path: ingesting SEG-Y never imports the other adapters (nor xarray).
    """
    if not path.exists():
        raise InputError("no such file or directory", path=path)
    for name, value in _registered():
        adapter = _load(name, value)
        if adapter is not None and adapter.sniff(path):
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
