"""SEG-Y into a Zarr store: scan the headers, plan the grid, fill the chunks block by block.

1. :func:`geogen.adapters.segy_format.read_layout` decides byte order, format and sample
   count from the bytes and the file size.
2. :func:`geogen.adapters.segy_headers.scan_headers` reads every trace header once through
   segyio, a window of traces at a time, into per-file summaries.
3. :mod:`geogen.adapters.segy_plan` builds the grid of trace numbers (a second streaming
   pass over the key fields) and the per-row geometry.
4. The store is laid out (:mod:`geogen.adapters.segy_zarr`), and :class:`FillJob` fills it a
   block of grid rows at a time: samples through segyio (``trace.raw``, which also converts
   IBM floats), per-trace geometry from header fields through segyio, the raw 240-byte
   headers byte for byte; every chunk is encoded and written by whoever read the block
   (forked processes, a dask cluster, or this process: :mod:`geogen.adapters.segy_parallel`).

Only one block per worker is in memory at a time, and the parent holds the grid of trace
numbers (4 bytes per cell) and bounded summaries, so memory does not follow the file size.
The summary printed after ingest is assembled from what the fill reported (geometry ranges,
live traces, bytes written): no second pass over the store.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geogen.adapters.segy_format import TRACE_HEADER_BYTES, SegyLayout, SegyWarning, read_layout
from geogen.adapters.segy_headers import (
    HeaderScan,
    decode_text_header,
    describe_scalars,
    header_warning,
    raw_headers,
    resolve_interval,
    resolve_overrides,
    scan_headers,
    text_lines,
)
from geogen.adapters.segy_plan import (
    GridPlan,
    TraceGeometry,
    choose_kind,
    conversion,
    poststack_plan,
    survey_plan,
    velocity_plan,
)
from geogen.adapters.segy_zarr import ArraySpec, StoreLayout, coordinates_attr
from geogen.data.axes import describe_axis
from geogen.errors import InputError

#: Decoded bytes per block of grid rows (samples, raw headers, geometry): a few shots.
BLOCK_BYTES = 32 * 2**20
#: Largest grid row (one shot, one inline) in float32 samples: blocks are whole rows.
MAX_ROW_BYTES = 2**30
#: Smallest sample chunk for grids whose rows are single traces (2-D stacks, velocity by CDP).
MIN_CHUNK_BYTES = 2**20
DEFAULT_LEVEL = 1  # Blosc-zstd level: see bench/bench_ingest.py for the measured trade-off
#: Blosc codec for the samples.  Measured on the bench's float32 shot gathers (one core, this
#: 2-core machine under load, 2 MiB Blosc blocks): lz4 with bit shuffling compresses at
#: 1100-1300 MB/s to 87.6 % of the size, zstd level 1 at 400-620 MB/s to 83.6-84.9 % (byte or
#: bit shuffling); levels 3 and 5 of zstd cost 2-3x the CPU for the same ratio.  Seismic
#: amplitudes hardly compress, so lz4's speed is worth its 3-4 % more bytes here; every other
#: array of the store is zstd.  ``sample_codec="zstd"`` (API option) chooses the smaller store.
SAMPLE_BLOCKSIZE = 2 * 2**20
SAMPLE_SHUFFLE = "bitshuffle"
SAMPLE_CNAME = "lz4"


def ingest_segy(path: Path, out: Path, *, kind: str = "auto", headers: Mapping[str, int] | None = None,
                duplicates: str = "error", options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ingest one SEG-Y file into a new store at ``out``; returns the store's summary."""
    options = dict(options or {})
    layout = read_layout(path)
    locations = resolve_overrides(headers or {}, layout.path)
    scan = scan_headers(layout, locations)
    check_overrides_populated(scan, headers or {})
    interval = resolve_interval(scan)
    note = header_warning(scan, interval)
    if note:
        warnings.warn(SegyWarning(f"{layout.path}: {note}"), stacklevel=2)
    kind = choose_kind(scan, kind)
    conv = conversion(scan, options)
    if kind == "survey":
        plan = survey_plan(scan, duplicates, interval, conv)
    elif kind == "poststack":
        plan = poststack_plan(scan, duplicates, interval, conv)
    else:
        plan = velocity_plan(scan, duplicates, interval, conv, options)
    level = int(options.get("level") or DEFAULT_LEVEL)
    attrs = {**store_attrs(layout), **conv.describe(), "segy_scalars": describe_scalars(),
             "segy_header_bytes": dict(locations), "segy_duplicates": duplicates, **plan.attrs}
    if plan.dims == ("x",):  # a 2-D velocity section: small, built in memory
        return velocity_section(layout, plan, out, attrs, level)
    return ingest_grid(layout, plan, out, attrs, level=level, workers=options.get("workers"),
                       scheduler=options.get("scheduler"), sample_codec=options.get("sample_codec"))


def check_overrides_populated(scan: HeaderScan, overrides: Mapping[str, int]) -> None:
    """An override that points at an all-zero field is almost surely a wrong byte."""
    from geogen.adapters.segy_format import field_size
    from geogen.adapters.segy_headers import ALIASES

    for name in sorted(ALIASES.get(k.lower(), k.lower()) for k in overrides):
        if name in scan.populated and not scan.populated[name]:
            byte = scan.locations[name]
            raise InputError(f"--header {name}={byte}: bytes {byte}-{byte + field_size(byte) - 1} are zero in every "
                             f"trace (all {scan.n_traces}); check the byte position", path=scan.path)


def store_attrs(layout: SegyLayout) -> dict[str, Any]:
    text, encoding = decode_text_header(layout.text_header)
    return {"segy_file": layout.path.name, **layout.describe(), "segy_text_encoding": encoding,
            "segy_text_header": text_lines(text)}


def header_arrays(store: StoreLayout, layout: SegyLayout, level: int) -> dict[str, np.ndarray]:
    """Declare the raw text/binary header variables; returns their values."""
    _, encoding = decode_text_header(layout.text_header)
    values = {"text_header": np.frombuffer(layout.text_header, np.uint8),
              "binary_header": np.frombuffer(layout.binary_header, np.uint8)}
    store.add(ArraySpec("text_header", ("text_byte",), (3200,), "uint8", 3200, level,
                        attrs={"long_name": f"SEG-Y textual file header, raw bytes ({encoding})"}))
    store.add(ArraySpec("binary_header", ("binary_byte",), (400,), "uint8", 400, level,
                        attrs={"long_name": "SEG-Y binary file header, raw bytes"}))
    if layout.extended_text:
        ext = np.frombuffer(layout.extended_text, np.uint8).reshape(-1, 3200)
        values["extended_text_header"] = ext
        store.add(ArraySpec("extended_text_header", ("extended_header", "text_byte"), ext.shape, "uint8",
                            ext.shape[0], level, attrs={"long_name": "SEG-Y extended textual headers, raw bytes"}))
    return values


def _coordinate(store: StoreLayout, name: str, dims: Any, values: np.ndarray, attrs: dict[str, Any] | None,
                level: int) -> np.ndarray:
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    values = np.asarray(values)
    dtype = "float64" if values.dtype.kind == "f" else "bool" if values.dtype.kind == "b" else "int64"
    store.add(
        ArraySpec(name, dims, tuple(values.shape), dtype, max(1, values.shape[0]), level, attrs=dict(attrs or {}))
    )
    return values


def rows_per_block(plan: GridPlan, n_samples: int, sample_rows: int) -> int:
    per_row = int(np.prod(plan.shape[1:], dtype=np.int64))
    per_trace = n_samples * 4 + TRACE_HEADER_BYTES + 8 * 5 + 2  # samples, raw header, numbers, mask, geometry
    rows = max(1, BLOCK_BYTES // max(1, per_row * per_trace))
    return max(sample_rows, rows // sample_rows * sample_rows)


def sample_chunk_rows(plan: GridPlan, n_samples: int) -> int:
    """One shot or inline per chunk; grids of single traces (2-D) get chunks of about a MiB.

    The chunks of one block are stored together, as one shard (Zarr v3 sharding): a reader
    still reads one shot, and the store holds one file per block instead of one per shot
    (creating files is the dearest part of writing on some file systems).
    """
    if len(plan.dims) > 1:
        return 1
    return max(1, MIN_CHUNK_BYTES // max(1, n_samples * 4))


def ingest_grid(
    layout: SegyLayout,
    plan: GridPlan,
    out: Path,
    attrs: dict[str, Any],
    *,
    level: int = DEFAULT_LEVEL,
    workers: int | None = None,
    scheduler: str | None = None,
    sample_codec: str | None = None,
) -> dict[str, Any]:
    """Lay the store out, then fill samples, raw headers and the per-trace variables (trace
    numbers, mask, geometry) a block of grid rows at a time, in the workers."""
    from geogen.adapters import segy_parallel

    ns = layout.n_samples
    name = "velocity" if plan.kind == "velocity" else "seismic"
    sample_codec = sample_codec or SAMPLE_CNAME
    if sample_codec not in ("lz4", "zstd"):
        raise InputError(f"sample_codec {sample_codec!r}: choose lz4 or zstd")
    per_row = int(np.prod(plan.shape[1:], dtype=np.int64))
    if per_row * ns * 4 > MAX_ROW_BYTES:
        raise InputError(f"one {plan.dims[0]} of the grid would hold {per_row} traces of {ns} samples "
                         f"({per_row * ns * 4 / 2**30:.1f} GiB), more than geogen reads in one piece; the "
                         f"{'/'.join(plan.dims)} keys are probably wrong: pass --header NAME=BYTE or --kind",
                         path=layout.path)
    store = StoreLayout(out, {**attrs, "geogen_kind": plan.kind})
    in_memory = header_arrays(store, layout, level)
    geometry = plan.geometry.variables() if plan.geometry else {}
    non_dim = [c for c, spec in plan.coords.items() if (spec[0] if isinstance(spec[0], str) else None) != c]
    coords = coordinates_attr(sorted([*non_dim, *geometry, "trace_mask"]))
    grid = plan.shape
    sample_rows = min(sample_chunk_rows(plan, ns), grid[0])
    block_rows = min(rows_per_block(plan, ns, sample_rows), grid[0])
    data_attrs = ({"units": "m/s", "long_name": "P-wave velocity"} if name == "velocity"
                  else {"units": "1", "long_name": "recorded amplitude"})
    big = {
        name: ArraySpec(name, (*plan.dims, plan.sample_dim), (*grid, ns), "float32", sample_rows, level,
                        SAMPLE_BLOCKSIZE, {**data_attrs, "coordinates": coords}, SAMPLE_SHUFFLE, sample_codec,
                        shard_rows=-(-block_rows // sample_rows) * sample_rows),
        "trace_header": ArraySpec("trace_header", (*plan.dims, "header_byte"), (*grid, TRACE_HEADER_BYTES), "uint8",
                                  block_rows, level, attrs={"long_name": "SEG-Y trace headers, raw 240 bytes",
                                                            "coordinates": coords}),
    }
    small = {
        "trace_number": ArraySpec("trace_number", plan.dims, grid, "int64", block_rows, level,
                                  attrs={"long_name": "1-based trace position in the SEG-Y file, 0 where no trace",
                                         "coordinates": coords}),
        "trace_mask": ArraySpec("trace_mask", plan.dims, grid, "bool", block_rows, level,
                                attrs={"long_name": "True where a trace was recorded"}),
        **{g: ArraySpec(g, plan.dims, grid, "float64", block_rows, level, attrs=a) for g, a in geometry.items()},
    }
    for spec in (*big.values(), *small.values()):
        store.add(spec)
    for cname, (dims, values, *rest) in plan.coords.items():
        in_memory[cname] = _coordinate(store, cname, dims, values, rest[0] if rest else None, level)
    in_memory[plan.sample_dim] = _coordinate(store, plan.sample_dim, plan.sample_dim, plan.sample_values,
                                             plan.sample_attrs, level)
    store.create()
    for vname, values in in_memory.items():
        store.write_whole(vname, values)
    job = FillJob(layout, plan.trace_number, out, {**big, **small}, name, block_rows, plan.kind == "velocity",
                  plan.geometry)
    stats = segy_parallel.run(job, workers=workers, scheduler=scheduler)
    store.finish()
    return summarise(store, in_memory, stats, plan)


# ----------------------------------------------------------------------------- the fill


def live_spans(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, slice]]]:
    """For grid cells holding 1-based trace numbers (0: none): the live cells in file order, their
    0-based traces, and the spans of the file that serve them (:func:`spans`)."""
    live = np.flatnonzero(flat)
    traces = flat[live].astype(np.int64) - 1
    order = np.argsort(traces, kind="stable")
    ordered = traces[order]
    return live[order], ordered, spans(ordered)


def spans(ordered: np.ndarray) -> list[tuple[int, int, slice]]:
    """Ranges ``[a, b)`` of the file to read for ascending trace indices, and which indices each serves.

    Small gaps are read through (one call instead of several); a gap of more than a few
    traces starts a new range.
    """
    out: list[tuple[int, int, slice]] = []
    if ordered.size == 0:
        return out
    gaps = np.flatnonzero(np.diff(ordered) > 8) + 1
    bounds = np.r_[0, gaps, ordered.size]
    for i, j in zip(bounds[:-1], bounds[1:]):
        out.append((int(ordered[i]), int(ordered[j - 1]) + 1, slice(int(i), int(j))))
    return out


@dataclass
class FillJob:
    """What a worker needs to fill blocks of grid rows; picklable (for dask).

    Per block: the samples (segyio ``trace.raw``, which converts IBM floats), the raw 240-byte
    headers, and the per-trace variables (trace numbers, mask, geometry from header fields
    read by segyio on the same mapped file, whose header pages the sample read has touched).
    """

    layout: SegyLayout
    trace_number: np.ndarray  # grid of 1-based trace numbers, int32
    root: Path
    specs: dict[str, ArraySpec]  # every array the blocks fill
    samples: str  # name of the sample array
    rows: int  # grid rows per block
    velocity: bool
    geometry: TraceGeometry | None = None

    @property
    def starts(self) -> list[int]:
        return list(range(0, self.trace_number.shape[0], self.rows))

    def fill(self, r0: int, codecs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Read, decode, encode and write the chunks of rows ``[r0, r0 + rows)``; returns block stats
        (live traces and each geometry variable's range).  ``codecs`` is one worker's cache of
        codecs and buffers, reused from block to block."""
        r1 = min(self.trace_number.shape[0], r0 + self.rows)
        codecs = codecs if codecs is not None else {}
        stats: dict[str, Any] = {}
        for name, values in self.read(r0, r1, codecs.setdefault("buffers", {})).items():
            spec = self.specs[name]
            if name not in codecs:
                codecs[name] = spec.codec()
            spec.write_rows(self.root, r0, values, codecs[name])
            if name == "trace_mask":
                stats["live"] = int(np.count_nonzero(values))
            elif values.dtype == np.float64:
                finite = values[np.isfinite(values)]
                if finite.size:
                    stats[name] = (float(finite.min()), float(finite.max()))
        return stats

    def read(self, r0: int, r1: int, buffers: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Every array's rows ``[r0, r1)``: samples (float32, 0 where no trace), raw headers,
        trace numbers, mask and geometry (NaN where no trace).  The samples live in ``buffers``
        (reused by the next call) when given."""
        buffers = {} if buffers is None else buffers
        layout = self.layout
        tn = self.trace_number[r0:r1]
        shape = tn.shape
        flat = tn.reshape(-1)
        n_cells, ns = flat.size, layout.n_samples
        cells, ordered, runs = live_spans(flat)
        variables = self.geometry.variables() if self.geometry else {}
        geometry = {g: np.full(n_cells, np.nan) for g in variables}
        f = layout.open(mmap=True)
        try:
            if len(runs) == 1 and ordered.size == n_cells and runs[0][1] - runs[0][0] == n_cells \
                    and np.array_equal(cells, np.arange(n_cells)):
                # the block is one stretch of the file in grid order (a sorted survey): no scatter
                a, b, _ = runs[0]
                samples = read_traces(f, a, b, _buffer(buffers, "samples", (n_cells, ns), np.float32), buffers)
                headers = raw_headers(layout, a, b - a)
            else:
                samples = _buffer(buffers, "samples", (n_cells, ns), np.float32)
                samples[:] = 0
                headers = np.zeros((n_cells, TRACE_HEADER_BYTES), np.uint8)
                for a, b, picks in runs:
                    rel = ordered[picks] - a
                    samples[cells[picks]] = read_traces(f, a, b, _buffer(buffers, "run", (b - a, ns), np.float32),
                                                        buffers)[rel]
                    headers[cells[picks]] = raw_headers(layout, a, b - a)[rel]
            if self.geometry is not None:
                for a, b, picks in runs:
                    rel = ordered[picks] - a
                    fields = {n: f.attributes(byte)[a:b][rel] for n, byte in self.geometry.fields.items()}
                    for g, v in self.geometry.compute(fields).items():
                        geometry[g][cells[picks]] = v
        finally:
            f.close()
        if self.velocity and cells.size:
            from geogen.data.store import check_velocity_values

            check_velocity_values(samples[cells], path=layout.path)
        out = {
            self.samples: samples.reshape((*shape, ns)),
            "trace_header": headers.reshape((*shape, TRACE_HEADER_BYTES)),
            "trace_number": tn.astype(np.int64),
            "trace_mask": tn > 0,
        }
        out.update({g: v.reshape(shape) for g, v in geometry.items()})
        return out


def _buffer(buffers: dict[str, np.ndarray], key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A reusable array of at least ``shape`` (C-contiguous view of the first elements)."""
    n = int(np.prod(shape, dtype=np.int64))
    buf = buffers.get(key)
    if buf is None or buf.size < n or buf.dtype != np.dtype(dtype):
        buf = buffers[key] = np.empty(n, dtype)
    return buf[:n].reshape(shape)


def read_traces(f: Any, a: int, b: int, out: np.ndarray, buffers: dict[str, np.ndarray]) -> np.ndarray:
    """Traces ``[a, b)`` into ``out`` (float32 ``(b - a, ns)``) through segyio's reader.

    The same call as segyio's ``f.trace.raw[a:b]`` (``gettr``, which byte-swaps and converts
    IBM floats in C), but into a buffer kept from block to block rather than a new array per
    block; integer formats land in a buffer of their own type first.
    """
    n, ns = out.shape
    target = out if f.dtype == np.float32 else _buffer(buffers, "native", (n, ns), f.dtype)
    f.xfd.gettr(target, a, 1, n, 0, ns, 1, ns)
    if target is not out:
        np.copyto(out, target, casting="unsafe")
    return out


# ----------------------------------------------------------------------------- a 2-D velocity section


def velocity_section(
    layout: SegyLayout, plan: GridPlan, out: Path, attrs: dict[str, Any], level: int
) -> dict[str, Any]:
    """A 2-D velocity section as a ``velocity`` store: velocity(model=1, z, x), headers kept."""
    from geogen.data.store import check_velocity_values

    n = layout.n_traces
    f = layout.open(mmap=True)
    try:
        traces = np.asarray(f.trace.raw[0:n], dtype=np.float32).reshape(n, layout.n_samples)
    finally:
        f.close()
    check_velocity_values(traces, path=layout.path)
    store = StoreLayout(out, {**attrs, "geogen_kind": "velocity"})
    values = header_arrays(store, layout, level)
    nz = layout.n_samples
    store.add(ArraySpec("velocity", ("model", "z", "x"), (1, nz, n), "float32", 1, level,
                        attrs={"units": "m/s", "long_name": "P-wave velocity"}))
    store.add(ArraySpec("trace_header", ("x", "header_byte"), (n, TRACE_HEADER_BYTES), "uint8", n, level,
                        attrs={"long_name": "SEG-Y trace headers, raw 240 bytes"}))
    store.add(ArraySpec("trace_number", ("x",), (n,), "int64", n, level,
                        attrs={"long_name": "1-based trace position in the SEG-Y file"}))
    values["velocity"] = traces.T[None]
    values["trace_header"] = raw_headers(layout, 0, n)
    values["trace_number"] = plan.trace_number.astype(np.int64)
    values["model"] = _coordinate(store, "model", "model", np.zeros(1, np.int64), None, level)
    values["z"] = _coordinate(store, "z", "z", plan.sample_values, plan.sample_attrs, level)
    for cname, (dims, v, *rest) in plan.coords.items():
        values[cname] = _coordinate(store, cname, dims, v, rest[0] if rest else None, level)
    store.create()
    for vname, v in values.items():
        store.write_whole(vname, v)
    store.finish()
    return summarise(store, values, {"live": n}, plan)


# ----------------------------------------------------------------------------- the summary

GEOMETRY = ("source_x", "source_y", "source_z", "receiver_x", "receiver_y", "receiver_z", "offset", "cdp_x", "cdp_y")
DATA = ("seismic", "velocity", "trace_header", "trace_number", "text_header", "binary_header", "extended_text_header")


def summarise(
    store: StoreLayout, in_memory: dict[str, np.ndarray], stats: dict[str, Any], plan: GridPlan
) -> dict[str, Any]:
    """The ``geogen info`` summary of the new store (without value ranges), from what ingest knows."""
    specs = store.arrays
    dims: dict[str, int] = {}
    for spec in specs.values():
        for d, n in zip(spec.dims, spec.shape):
            dims.setdefault(d, int(n))
    summary: dict[str, Any] = {"path": None, "kind": store.attrs.get("geogen_kind"), "origin": None,
                               "dimensions": dims, "axes": {}, "variables": {}}
    for name, spec in specs.items():
        if spec.dims == (name,) and name in in_memory:
            summary["axes"][name] = describe_axis(in_memory[name], spec.attrs)
    if plan.sample_dim == "time" and len(plan.sample_values) > 1:
        summary["sample_interval_s"] = float(plan.sample_values[1] - plan.sample_values[0])
    ranges: dict[str, dict[str, float]] = {}
    for name in GEOMETRY:
        if name in in_memory and np.asarray(in_memory[name]).dtype.kind == "f":
            v = np.asarray(in_memory[name], dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                ranges[name] = {"min": float(v.min()), "max": float(v.max())}
        elif isinstance(stats.get(name), (tuple, list)):
            ranges[name] = {"min": float(stats[name][0]), "max": float(stats[name][1])}
    if ranges:
        summary["geometry"] = ranges
    for name in DATA:
        if name in specs:
            spec = specs[name]
            entry: dict[str, Any] = {"dims": list(spec.dims), "dtype": spec.dtype}
            if spec.attrs.get("units") is not None:
                entry["units"] = str(spec.attrs["units"])
            summary["variables"][name] = entry
    if "trace_mask" in specs:
        summary["live_traces"] = int(stats["live"])
        summary["missing_traces"] = int(np.prod(specs["trace_mask"].shape)) - int(stats["live"])
    summary["size_on_disk_bytes"] = _size_on_disk(store.root)
    summary["uncompressed_bytes"] = sum(int(np.prod(s.shape, dtype=np.int64)) * s.np_dtype.itemsize
                                        for s in specs.values())
    return summary


def _size_on_disk(root: Path) -> int:
    total = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total
