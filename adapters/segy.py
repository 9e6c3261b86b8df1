"""The SEG-Y adapter: shot gathers, post-stack data and velocity in, SEG-Y out.

Ingest reads the layout (byte order, sample format, trace size) from the bytes, scans
the trace headers into a grid plan, then streams samples into a Zarr store block by
block (see :mod:`geogen.adapters.segy_ingest`).  Export rebuilds an ingested file from
its kept headers, or builds headers from coordinates for geogen's own stores.

Options (``geogen.ingest(..., **options)`` or the CLI flags of the same name):
``dz``/``dx`` (m) and ``depth_unit`` (auto|m|mm) for velocity in depth, ``workers``
(processes, default: one per core), ``level`` (Blosc-zstd level); export takes ``segy_format`` (ibm|ieee|...).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import xarray as xr

from geogen.adapters.base import Adapter, ExportRequest, IngestRequest
from geogen.adapters.segy_export import export_pairs, export_velocity, format_code, rebuild
from geogen.adapters.segy_format import BIN_FORMAT, FILE_HEADER_BYTES, SAMPLE_FORMATS, binary_field, read_layout
from geogen.adapters.segy_headers import HeaderTable
from geogen.adapters.segy_ingest import DEFAULT_LEVEL, ingest_grid, velocity_section, write
from geogen.adapters.segy_plan import choose_kind, poststack_plan, survey_plan, velocity_plan
from geogen.errors import InputError

SUFFIXES = {".sgy", ".segy", ".seg", ".sgy3d"}
NOT_SEGY = {".npy", ".npz", ".nc", ".zarr", ".json", ".yaml", ".yml", ".h5", ".pt"}


class SegyAdapter(Adapter):
    name: ClassVar[str] = "segy"
    export_format: ClassVar[str | None] = "segy"

    def sniff(self, path: Path) -> bool:
        """A SEG-Y suffix, or a file whose binary header holds a valid format code."""
        try:
            if not path.is_file():
                return False
            if path.suffix.lower() in SUFFIXES:
                return True
            if path.suffix.lower() in NOT_SEGY or path.stat().st_size < FILE_HEADER_BYTES + 240:
                return False
            with open(path, "rb") as fh:
                fh.seek(3200)
                binary = fh.read(400)
            return any(binary_field(binary, BIN_FORMAT, 2, e) in SAMPLE_FORMATS for e in ("big", "little"))  # type: ignore[arg-type]
        except OSError:
            return False

    def ingest(self, request: IngestRequest, out: Path) -> None:
        if len(request.paths) != 1:
            raise InputError("ingest one SEG-Y file at a time", path=request.paths[0])
        path = request.paths[0]
        layout = read_layout(path)
        table = HeaderTable(layout, request.headers)
        _check_trace_samples(table)
        table.check_overrides_populated()
        kind = choose_kind(table, request.kind)
        opts = request.options
        if kind == "survey":
            plan = survey_plan(table, request.duplicates)
        elif kind == "poststack":
            plan = poststack_plan(table, request.duplicates)
        else:
            plan = velocity_plan(table, request.duplicates, opts)
        workers, level = opts.get("workers"), int(opts.get("level") or DEFAULT_LEVEL)
        if plan.dims == ("x",):  # a 2-D velocity section: small, built in memory
            ds = velocity_section(layout, plan)
            ds.attrs.update(segy_header_bytes=dict(table.locations), segy_duplicates=request.duplicates)
            write(ds, out, "model", level=level)
            return
        ingest_grid(layout, plan, out, locations=table.locations, duplicates=request.duplicates,
                    workers=workers, level=level)

    def export(self, ds: xr.Dataset, out: Path, request: ExportRequest) -> None:
        kind = ds.attrs.get("geogen_kind")
        fmt = request.options.get("segy_format")
        if kind == "pairs":
            export_pairs(ds, out, fmt=format_code(fmt, 5))
        elif "trace_header" in ds.variables and (kind != "velocity" or ds.sizes.get("model", 1) == 1):
            rebuild(ds, out, fmt=fmt)
        elif kind == "velocity" and "x" in ds.dims:
            export_velocity(ds, out)
        else:
            raise InputError(f"a {kind or 'non-geogen'} store without SEG-Y headers cannot be written as SEG-Y; "
                             "export it as netcdf or zarr", path=request.source)


def _check_trace_samples(table: HeaderTable) -> None:
    """Every trace's own sample count (bytes 115-116) must match the binary header."""
    own = table["samples"] & 0xFFFF
    ns = table.layout.n_samples
    bad = (own != ns) & (own != 0)
    if bad.any():
        k = int(bad.argmax())
        raise InputError(f"trace {k + 1} has {int(own[k])} samples (bytes 115-116), the binary header says {ns}; "
                         "geogen reads fixed-length traces only: fix the headers or resample the file",
                         path=table.path)
