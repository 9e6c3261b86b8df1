"""Stream a planned SEG-Y file into a Zarr store, block by block, in parallel.

xarray writes the store's layout and every small variable (geometry, masks, file
headers); the two big arrays (samples, raw trace headers) are filled a few grid rows
(shots, inlines) at a time.  By default forked worker processes do it
(:mod:`geogen.adapters.segy_parallel`): each reads its blocks with ``pread``, decodes
them, encodes every chunk with the Blosc-zstd codec the array's metadata declares and
writes the chunk files, while the parent process lays the store out.  Where that does
not apply the blocks go through Zarr from a pool of threads (:func:`fill`), which runs
at about one core: Blosc encodes from Python threads serialise, and Zarr's write path
costs as much CPU again.  Either way only one block per worker is in memory at once, so
a file larger than RAM ingests in bounded memory, and both write the same bytes.
(Measured on the bench file, 2 cores: 0.58 CPU-s and 0.33-0.45 s wall with the worker
processes, against 0.65 CPU-s and wall for the threads; see bench/bench_ingest.py.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from geogen.adapters import segy_parallel
from geogen.adapters.segy_codec import decode
from geogen.adapters.segy_format import TRACE_HEADER_BYTES, SegyLayout
from geogen.adapters.segy_headers import decode_text_header, text_lines
from geogen.adapters.segy_plan import GridPlan
from geogen.data.store import check_velocity_values, compressor
from geogen.errors import InputError
from geogen.progress import track

BLOCK_BYTES = 8 * 2**20  # decoded samples per block (a few shots)
DEFAULT_LEVEL = 1  # Blosc-zstd level: see bench/bench_ingest.py for the measured trade-off
#: Blosc block size for samples.  Measured on float32 shot gathers (zstd 1, bit shuffle):
#: 2 MiB blocks compress at ~1000 MB/s per core to 85 % of the size, the automatic
#: choice at ~420 MB/s to 88 %; levels 3 and 5 cost 2-3x the CPU for the same ratio.
SAMPLE_BLOCKSIZE = 2 * 2**20


def sample_codec(level: int) -> Any:
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=level, shuffle="bitshuffle", blocksize=SAMPLE_BLOCKSIZE)


class TraceReader:
    """Reads the traces of grid rows ``[r0, r1)`` with positioned reads, in file order.

    ``pread`` into a reused buffer rather than a memory map: mapped file pages count as
    resident memory until the kernel reclaims them, so a big file would look (and, under
    memory pressure, behave) unbounded; explicit reads keep at most one block per thread.
    """

    def __init__(self, layout: SegyLayout, plan: GridPlan) -> None:
        self.layout = layout
        self.fmt = layout.format
        self.numbers = plan.trace_number.reshape(plan.shape[0], -1)
        self.inner = plan.trace_number.shape[1:]
        self.record = layout.trace_dtype

    def _cells(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        flat = self.numbers[r0:r1].ravel()
        live = np.flatnonzero(flat)
        return live, flat[live] - 1

    def _records(self, traces: np.ndarray, scratch: dict[str, np.ndarray]) -> np.ndarray:
        """Trace records for ascending ``traces``: one read of their span when it is dense."""
        first, last = int(traces[0]), int(traces[-1])
        span = last - first + 1
        if span <= 2 * traces.size:
            buf = _scratch(scratch, "records", span, self.record)
            _pread_into(self.layout, buf, first)
            return buf if span == traces.size else buf[traces - first]
        out = np.empty(traces.size, self.record)
        breaks = np.flatnonzero(np.diff(traces) != 1) + 1
        for run in np.split(np.arange(traces.size), breaks):
            _pread_into(self.layout, out[run[0]:run[-1] + 1], int(traces[run[0]]))
        return out

    def read(self, r0: int, r1: int, scratch: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(float32 samples, raw uint8 headers) of rows ``[r0, r1)``, zeros where no trace.

        ``scratch`` holds reusable buffers (one dict per thread); the samples returned
        live in it until the next call.
        """
        scratch = {} if scratch is None else scratch
        live, traces = self._cells(r0, r1)
        n_cells = (r1 - r0) * int(np.prod(self.inner, dtype=np.int64))
        ns = self.layout.n_samples
        out = _scratch(scratch, "samples", n_cells * ns, np.float32).reshape(n_cells, ns)
        headers = np.zeros((n_cells, TRACE_HEADER_BYTES), np.uint8)
        dense = live.size == n_cells
        if not dense:
            out[:] = 0
        if traces.size:
            order = np.argsort(traces, kind="stable")  # read forwards through the file
            records = self._records(traces[order], scratch)
            if dense and np.array_equal(order, np.arange(order.size)):
                decode(records["samples"], self.fmt, out=out)
                headers[:] = records["header"]
            else:
                out[live[order]] = decode(records["samples"], self.fmt)
                headers[live[order]] = records["header"]
        shape = (r1 - r0, *self.inner)
        return out.reshape((*shape, ns)), headers.reshape((*shape, TRACE_HEADER_BYTES))


def _scratch(scratch: dict[str, np.ndarray], key: str, n: int, dtype: Any) -> np.ndarray:
    buf = scratch.get(key)
    if buf is None or buf.size < n or buf.dtype != np.dtype(dtype):
        buf = scratch[key] = np.empty(n, dtype)
    return buf[:n]


def _pread_into(layout: SegyLayout, records: np.ndarray, first: int) -> None:
    """Fill ``records`` with the traces starting at ``first`` (0-based)."""
    view = memoryview(records).cast("B")
    offset = layout.data_offset + first * layout.trace_bytes
    with open(layout.path, "rb", buffering=0) as fh:
        done = 0
        while done < len(view):
            n = os.preadv(fh.fileno(), [view[done:]], offset + done)
            if n <= 0:
                raise InputError(f"file ended while reading trace {first + 1 + done // layout.trace_bytes}; "
                                 "was it changed during ingest?", path=layout.path)
            done += n


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
    """The store's Dataset; samples and raw headers are lazy placeholders (never computed) that
    :func:`fill` writes after xarray has laid out the store."""
    name = "velocity" if plan.kind == "velocity" else "seismic"
    header_vars, attrs = header_variables(layout)
    data_attrs = ({"units": "m/s", "long_name": "P-wave velocity"} if name == "velocity"
                  else {"units": "1", "long_name": "recorded amplitude"})
    ns = layout.n_samples
    variables: dict[str, Any] = {
        name: ((*plan.dims, plan.sample_dim),
               da.zeros((*plan.shape, ns), chunks=-1, dtype=np.float32), data_attrs),
        "trace_header": ((*plan.dims, "header_byte"),
                         da.zeros((*plan.shape, TRACE_HEADER_BYTES), chunks=-1, dtype=np.uint8),
                         {"long_name": "SEG-Y trace headers, raw 240 bytes"}),
        "trace_number": (plan.dims, plan.trace_number,
                         {"long_name": "1-based trace position in the SEG-Y file, 0 where no trace"}),
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


def encoding(ds: xr.Dataset, chunk_dim: str, level: int, *, header_rows: int = 1) -> dict[str, dict[str, Any]]:
    """Blosc-zstd everywhere; samples one ``chunk_dim`` row (shot, inline) per chunk.

    Raw trace headers go ``header_rows`` rows per chunk (one fill block), and the small
    per-trace variables (geometry, masks) in chunks of about a million values: Zarr
    pays about a millisecond of CPU per chunk, which for hundreds of tiny per-shot
    chunks would cost more than the samples themselves.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if var.dtype.kind in "OU" or var.ndim == 0:
            continue
        enc: dict[str, Any] = {"compressors": (compressor(level),)}
        if chunk_dim in var.dims and var.ndim > 1:
            per_row = int(np.prod([n for d, n in var.sizes.items() if d != chunk_dim]))
            if name in ("seismic", "velocity"):
                rows = 1
                enc["compressors"] = (sample_codec(level),)
            elif name == "trace_header":
                rows = header_rows
            else:
                rows = max(1, 2**20 // max(1, per_row))
            enc["chunks"] = tuple(min(rows, var.sizes[d]) if d == chunk_dim else var.sizes[d] for d in var.dims)
        out[str(name)] = enc
    return out


def rows_per_block(plan: GridPlan, n_samples: int) -> int:
    per_row = int(np.prod(plan.shape[1:], dtype=np.int64))
    return max(1, BLOCK_BYTES // max(1, per_row * n_samples * 4))


def write(ds: xr.Dataset, out: Path, chunk_dim: str, *, level: int = DEFAULT_LEVEL) -> None:
    """Write an in-memory Dataset at ``out`` (a fresh path)."""
    ds.to_zarr(out, mode="w-", zarr_format=3, consolidated=False, encoding=encoding(ds, chunk_dim, level))


def ingest_grid(layout: SegyLayout, plan: GridPlan, out: Path, *, locations: dict[str, int], duplicates: str,
                workers: int | None = None, level: int = DEFAULT_LEVEL, processes: bool = True) -> None:
    """Write the layout and small variables with xarray, then fill samples and headers in blocks.

    Samples and raw headers go through worker processes (:mod:`geogen.adapters.segy_parallel`),
    which start before xarray writes the layout and encode while it does; ``processes=False``,
    a platform without ``fork`` or metadata the workers cannot match take the Zarr path
    (:func:`fill`, threads).
    """
    ds = build_dataset(layout, plan, locations=locations, duplicates=duplicates)
    rows = rows_per_block(plan, layout.n_samples)
    enc = encoding(ds, plan.dims[0], level, header_rows=rows)
    name = "velocity" if plan.kind == "velocity" else "seismic"
    workers = int(workers or os.cpu_count() or 1)
    reader = TraceReader(layout, plan)
    velocity = plan.kind == "velocity"
    chunk_layouts = [segy_parallel.ChunkLayout.from_encoding(v, ds[v].shape, ds[v].dtype, enc[v])
                     for v in (name, "trace_header")]
    if processes and segy_parallel.available() and all(chunk_layouts):

        def read_block(r0: int, r1: int, scratch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            block, raw = reader.read(r0, r1, scratch)
            if velocity:
                _check_block(reader, block, r0, r1)
            return {name: block, "trace_header": raw}

        with segy_parallel.ChunkFill(out, chunk_layouts, read_block, plan.shape[0], rows, workers) as job:  # type: ignore[arg-type]
            ds.to_zarr(out, mode="w-", zarr_format=3, consolidated=False, compute=False, encoding=enc)
            if job.finish():
                return
    else:
        ds.to_zarr(out, mode="w-", zarr_format=3, consolidated=False, compute=False, encoding=enc)
    # Every chunk gets written anyway; skipping Zarr's "is it all fill value?" scan saves ~10 % CPU.
    with zarr.config.set({"array.write_empty_chunks": True}):
        group = zarr.open_group(out, mode="r+", zarr_format=3)
    fill(reader, group[name], group["trace_header"], rows=rows, velocity=velocity, workers=workers)


def _check_block(reader: TraceReader, block: np.ndarray, r0: int, r1: int) -> None:
    live = reader.numbers[r0:r1].reshape(block.shape[:-1]) > 0
    if live.any():
        check_velocity_values(block[live], path=reader.layout.path)


def fill(reader: TraceReader, values: Any, headers: Any, *, rows: int, velocity: bool, workers: int) -> None:
    """Read, decode and store every block of ``rows`` grid rows with ``workers`` threads."""
    n_rows = reader.numbers.shape[0]
    local = threading.local()

    def one(r0: int) -> None:
        r1 = min(n_rows, r0 + rows)
        if not hasattr(local, "scratch"):  # Zarr has encoded a block when setitem returns: reuse
            local.scratch = {}
        block, raw = reader.read(r0, r1, local.scratch)
        if velocity:
            _check_block(reader, block, r0, r1)
        values[r0:r1] = block
        headers[r0:r1] = raw

    run_blocks(one, range(0, n_rows, rows), workers)


def run_blocks(task: Callable[[int], None], starts: range, workers: int) -> None:
    """Run ``task`` over ``starts`` on a thread pool; the first error cancels the rest and is raised."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="geogen-ingest") as pool:
        futures = [pool.submit(task, s) for s in starts]
        try:
            for future in track(as_completed(futures), total=len(futures), description="ingest"):
                future.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def velocity_section(layout: SegyLayout, plan: GridPlan) -> xr.Dataset:
    """A 2-D velocity section as a ``velocity`` store: velocity(model=1, z, x), headers kept."""
    reader = TraceReader(layout, plan)
    traces, raw = reader.read(0, plan.shape[0])  # (x, z): sections are small
    check_velocity_values(traces, path=layout.path)
    header_vars, attrs = header_variables(layout)
    ds = xr.Dataset(
        {
            "velocity": (("model", "z", "x"), traces.T[None].copy(), {"units": "m/s", "long_name": "P-wave velocity"}),
            "trace_header": (("x", "header_byte"), raw, {"long_name": "SEG-Y trace headers, raw 240 bytes"}),
            "trace_number": ("x", plan.trace_number, {"long_name": "1-based trace position in the SEG-Y file"}),
            **header_vars,
        },
        coords={"model": ("model", np.zeros(1, np.int64)), "z": ("z", plan.sample_values, plan.sample_attrs),
                **plan.coords},
        attrs={**attrs, "geogen_kind": "velocity"},
    )
    return ds
