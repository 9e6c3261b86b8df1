"""Stream a planned SEG-Y file into a Zarr store, block by block, in parallel.

Samples and raw trace headers become dask arrays whose blocks read a few grid rows
(shots, inlines) straight from the memory-mapped file, decode them with numpy and hand
them to Zarr; dask's threaded scheduler runs blocks side by side (numpy and Blosc
release the GIL), and only a handful of blocks are in memory at any time, so a file
larger than RAM ingests in bounded memory.  The text, binary and raw trace headers and
each trace's original number are kept, so that export can rebuild the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from geogen.adapters.segy_codec import decode
from geogen.adapters.segy_format import TRACE_HEADER_BYTES, SegyLayout
from geogen.adapters.segy_headers import decode_text_header, text_lines
from geogen.adapters.segy_plan import GridPlan
from geogen.data.store import check_velocity_values, compressor

BLOCK_BYTES = 16 * 2**20  # decoded samples per dask block (a few shots)
DEFAULT_LEVEL = 1  # Blosc-zstd level: see bench/bench_ingest.py for the measured trade-off


class TraceReader:
    """Reads the traces of grid rows ``[r0, r1)`` from the memory map, in file order."""

    def __init__(self, layout: SegyLayout, plan: GridPlan) -> None:
        self.layout = layout
        self.fmt = layout.format
        self.numbers = plan.trace_number.reshape(plan.shape[0], -1)
        self.inner = plan.trace_number.shape[1:]

    def _cells(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        flat = self.numbers[r0:r1].ravel()
        live = np.flatnonzero(flat)
        return live, flat[live] - 1

    def samples(self, r0: int, r1: int) -> np.ndarray:
        live, traces = self._cells(r0, r1)
        out = np.zeros(((r1 - r0) * int(np.prod(self.inner, dtype=np.int64)), self.layout.n_samples), np.float32)
        if traces.size:
            mm = self.layout.memmap()
            order = np.argsort(traces)  # read forwards through the file
            block = _take(mm["samples"], traces[order])
            out[live[order]] = decode(block, self.fmt)
        return out.reshape((r1 - r0, *self.inner, self.layout.n_samples))

    def headers(self, r0: int, r1: int) -> np.ndarray:
        live, traces = self._cells(r0, r1)
        out = np.zeros(((r1 - r0) * int(np.prod(self.inner, dtype=np.int64)), TRACE_HEADER_BYTES), np.uint8)
        if traces.size:
            out[live] = _take(self.layout.memmap()["header"], traces)
        return out.reshape((r1 - r0, *self.inner, TRACE_HEADER_BYTES))


def _take(view: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """Rows ``traces`` of a memory-mapped field; one slice when they are consecutive."""
    if traces.size and traces[-1] - traces[0] + 1 == traces.size and np.all(np.diff(traces) == 1):
        return np.array(view[traces[0]:traces[-1] + 1])
    return view[traces]


def _lazy(reader_fn: Any, n_rows: int, rows_per_block: int, tail: tuple[int, ...], dtype: Any) -> da.Array:
    blocks = []
    for r0 in range(0, n_rows, rows_per_block):
        r1 = min(n_rows, r0 + rows_per_block)
        blocks.append(da.from_delayed(dask.delayed(reader_fn, pure=False)(r0, r1), shape=(r1 - r0, *tail), dtype=dtype))
    return da.concatenate(blocks, axis=0)


def header_variables(layout: SegyLayout) -> tuple[dict[str, Any], dict[str, Any]]:
    """Text/binary headers as uint8 variables plus decoded text in the attributes."""
    text, encoding = decode_text_header(layout.text_header)
    variables: dict[str, Any] = {
        "text_header": ("text_byte", np.frombuffer(layout.text_header, np.uint8),
                        {"long_name": f"SEG-Y textual file header, raw bytes ({encoding})"}),
        "binary_header": ("binary_byte", np.frombuffer(layout.binary_header, np.uint8),
                          {"long_name": "SEG-Y binary file header, raw bytes"}),
    }
    if layout.extended_text:
        ext = np.frombuffer(layout.extended_text, np.uint8).reshape(-1, 3200)
        variables["extended_text_header"] = (("extended_header", "text_byte"), ext,
                                             {"long_name": "SEG-Y extended textual headers, raw bytes"})
    attrs = {
        "segy_file": layout.path.name,
        "segy_endian": layout.endian,
        "segy_format": layout.format,
        "segy_sample_format": layout.format_name,
        "segy_traces": layout.n_traces,
        "segy_text_encoding": encoding,
        "segy_text_header": text_lines(text),
    }
    return variables, attrs


def build_dataset(layout: SegyLayout, plan: GridPlan, *, locations: dict[str, int],
                  duplicates: str) -> xr.Dataset:
    """The store as a lazy Dataset: samples and raw headers are read only when written."""
    reader = TraceReader(layout, plan)
    n_rows, inner, ns = plan.shape[0], plan.shape[1:], layout.n_samples
    row_bytes = max(1, int(np.prod(inner, dtype=np.int64)) * ns * 4)
    rows = max(1, BLOCK_BYTES // row_bytes)
    name = "velocity" if plan.kind == "velocity" else "seismic"
    values = _lazy(reader.samples, n_rows, rows, (*inner, ns), np.float32)
    headers = _lazy(reader.headers, n_rows, rows, (*inner, TRACE_HEADER_BYTES), np.uint8)
    if plan.kind == "velocity":
        values = values.map_blocks(_checked_velocity, reader, dtype=np.float32)
    header_vars, attrs = header_variables(layout)
    data_attrs = {"units": "m/s", "long_name": "P-wave velocity"} if name == "velocity" else {"units": "1", "long_name": "recorded amplitude"}
    variables: dict[str, Any] = {
        name: ((*plan.dims, plan.sample_dim), values, data_attrs),
        "trace_header": ((*plan.dims, "header_byte"), headers, {"long_name": "SEG-Y trace headers, raw 240 bytes"}),
        "trace_number": (plan.dims, plan.trace_number, {"long_name": "1-based trace position in the SEG-Y file, 0 where no trace"}),
        **header_vars,
    }
    coords = dict(plan.coords)
    coords[plan.sample_dim] = (plan.sample_dim, plan.sample_values, plan.sample_attrs)
    coords["trace_mask"] = (plan.dims, plan.mask, {"long_name": "True where a trace was recorded"})
    ds = xr.Dataset(variables, coords=coords)
    ds.attrs.update(attrs)
    ds.attrs.update(plan.attrs)
    ds.attrs.update(geogen_kind=plan.kind, segy_header_bytes=dict(locations), segy_duplicates=duplicates)
    return ds


def _checked_velocity(block: np.ndarray, reader: TraceReader) -> np.ndarray:
    """Reject km/s or garbage velocities in the live traces of one block."""
    live = np.abs(block).sum(axis=-1) > 0
    if live.any():
        check_velocity_values(block[live], path=reader.layout.path)
    return block


def write(ds: xr.Dataset, out: Path, chunk_dim: str, *, workers: int | None = None, level: int = DEFAULT_LEVEL) -> None:
    """Write ``ds`` at ``out`` (a fresh path): one ``chunk_dim`` row (shot, inline) per Zarr chunk."""
    first = chunk_dim
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if var.dtype.kind in "OU" or var.ndim == 0:
            continue
        enc: dict[str, Any] = {"compressors": (compressor(level),)}
        if first in var.dims and var.ndim > 1:
            enc["chunks"] = tuple(1 if d == first else var.sizes[d] for d in var.dims)
        encoding[str(name)] = enc
    n = workers or os.cpu_count() or 1
    with dask.config.set(scheduler="threads", num_workers=n):
        ds.to_zarr(out, mode="w-", zarr_format=3, consolidated=False, encoding=encoding)


def velocity_section(layout: SegyLayout, plan: GridPlan) -> xr.Dataset:
    """A 2-D velocity section as a ``velocity`` store: velocity(model=1, z, x), headers kept."""
    reader = TraceReader(layout, plan)
    traces = reader.samples(0, plan.shape[0])  # (x, z): sections are small
    check_velocity_values(traces, path=layout.path)
    header_vars, attrs = header_variables(layout)
    ds = xr.Dataset(
        {
            "velocity": (("model", "z", "x"), traces.T[None].copy(), {"units": "m/s", "long_name": "P-wave velocity"}),
            "trace_header": (("x", "header_byte"), reader.headers(0, plan.shape[0]), {"long_name": "SEG-Y trace headers, raw 240 bytes"}),
            "trace_number": ("x", plan.trace_number, {"long_name": "1-based trace position in the SEG-Y file"}),
            **header_vars,
        },
        coords={"model": ("model", np.zeros(1, np.int64)), "z": ("z", plan.sample_values, plan.sample_attrs),
                **plan.coords},
        attrs={**attrs, "geogen_kind": "velocity"},
    )
    return ds
