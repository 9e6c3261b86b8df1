"""The SEG-Y adapter: shot gathers, post-stack data and velocity in, SEG-Y out.

Ingest decides the layout (byte order, format, sample count) from the bytes, scans the
trace headers through segyio into a grid plan, then fills a Zarr store block by block
(see :mod:`geogen.adapters.segy_ingest`).  Export rebuilds an ingested file from its kept
headers, or builds headers from coordinates for geogen's own stores.

What geogen reads itself and what segyio reads: byte order and sample count (segyio
cannot detect either; :mod:`~geogen.adapters.segy_format`), and the raw 240-byte headers
kept for a byte-exact export (:func:`~geogen.adapters.segy_headers.raw_headers`) are
geogen's; samples (with the IBM conversion) and header fields come from segyio.

Options (``geogen.ingest(..., **options)`` or the CLI flags of the same name):
``dz``/``dx`` (m) and ``depth_unit`` (auto|m|mm) for velocity in depth, ``geographic``
(keep arc-second/degree coordinates, as degrees), ``workers`` (processes, default: one
per core), ``scheduler`` (a dask scheduler address), ``level`` (Blosc level),
``sample_codec`` (``lz4``, the default, or ``zstd``: see ``segy_ingest.SAMPLE_CNAME``); export
takes ``segy_format`` (ibm|ieee|...).

Only what ingest needs is imported on that path (numpy, segyio, numcodecs): no xarray,
dask or torch, so that ``geogen ingest`` starts quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from geogen.adapters.base import Adapter, ExportRequest, IngestRequest
from geogen.adapters.segy_format import BIN_FORMAT, FILE_HEADER_BYTES, SAMPLE_FORMATS, binary_field
from geogen.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

SUFFIXES = {".sgy", ".segy", ".seg", ".sgy3d"}
NOT_SEGY = {".npy", ".npz", ".nc", ".zarr", ".json", ".yaml", ".yml", ".h5", ".pt", ".las"}


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

    def ingest(self, request: IngestRequest, out: Path) -> dict[str, Any]:
        from geogen.adapters.segy_ingest import ingest_segy

        if len(request.paths) != 1:
            raise InputError("ingest one SEG-Y file at a time", path=request.paths[0])
        return ingest_segy(request.paths[0], out, kind=request.kind, headers=request.headers,
                           duplicates=request.duplicates, options=request.options)

    def export(self, ds: xr.Dataset, out: Path, request: ExportRequest) -> None:
        from geogen.adapters.segy_export import export_pairs, export_velocity, format_code, rebuild

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
