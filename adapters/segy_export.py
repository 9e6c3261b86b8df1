"""Write SEG-Y: rebuild an ingested file from its kept headers, or build headers from coordinates.

A store that came from SEG-Y keeps the textual, binary and raw trace headers and the
original trace numbers, so its file is rebuilt record for record, in the original
order, byte order and sample format (IEEE data re-exported as IEEE is byte-identical).
Stores made by geogen (``pairs``, velocity maps) get rev-1 headers built from their
coordinates: FFID per source, channel per receiver, positions with scalars, offset,
depths, sample count and interval, so that any SEG-Y reader sees the geometry.

This writer is geogen's own, not segyio's: a byte-exact rebuild writes each kept 240-byte
header and the original sample encoding as they were, in blocks of records with
positioned writes, where segyio writes header fields and traces one trace at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geogen.adapters.segy_codec import encode
from geogen.adapters.segy_format import (
    BIN_EXT_HEADERS,
    BIN_FORMAT,
    BIN_INTERVAL,
    BIN_SAMPLES,
    FILE_HEADER_BYTES,
    SAMPLE_FORMATS,
    TEXT_BYTES,
    Endian,
    field_size,
    trace_dtype,
)
from geogen.errors import InputError

FORMAT_NAMES = {"ibm": 1, "int32": 2, "int16": 3, "ieee": 5, "int8": 8}
BLOCK_TRACES = 4096


def format_code(value: Any, default: int) -> int:
    """``--segy-format`` value (ibm, ieee, int16, ... or a code) -> a format code."""
    if value is None:
        return default
    code = FORMAT_NAMES.get(str(value).lower()) if not str(value).isdigit() else int(value)
    if code not in SAMPLE_FORMATS:
        raise InputError(f"SEG-Y sample format {value!r}: choose one of {', '.join(FORMAT_NAMES)}")
    return code


# ----------------------------------------------------------------------------- writer

def write_segy(path: Path, *, text: bytes, binary: bytes, extended: bytes = b"", n_traces: int,
               n_samples: int, fmt: int, endian: Endian,
               blocks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Write a fixed-length SEG-Y file from blocks of (output positions, headers, samples).

    Positions are 0-based trace slots; blocks may come in any order, so a store's rows can
    be written back into the file's original trace order without holding it all.
    """
    binary = _set_binary(binary, {BIN_FORMAT: fmt}, endian)
    record = trace_dtype(fmt, endian, n_samples)
    start = FILE_HEADER_BYTES + len(extended)
    with open(path, "wb") as fh:
        fh.write(text)
        fh.write(binary)
        fh.write(extended)
        fh.truncate(start + n_traces * record.itemsize)
        fd = fh.fileno()
        for positions, headers, samples in blocks:
            if positions.size == 0:
                continue
            order = np.argsort(positions)
            records = np.empty(positions.size, record)
            records["header"] = headers[order]
            records["samples"] = encode(samples[order], fmt, endian)
            pos = positions[order]
            breaks = np.flatnonzero(np.diff(pos) != 1) + 1
            for run in np.split(np.arange(pos.size), breaks):
                os.pwrite(fd, records[run[0]:run[-1] + 1].tobytes(), start + int(pos[run[0]]) * record.itemsize)


def _set_binary(binary: bytes, fields: dict[int, int], endian: Endian) -> bytes:
    out = bytearray(binary)
    for byte, value in fields.items():
        start = byte - TEXT_BYTES - 1
        out[start:start + 2] = int(value).to_bytes(2, endian, signed=value < 0)
    return bytes(out)


# ----------------------------------------------------------------------------- rebuild

def rebuild(ds: xr.Dataset, out: Path, *, fmt: Any = None) -> None:
    """A store ingested from SEG-Y (survey, poststack, velocity volume) back to its file."""
    name = "velocity" if "velocity" in ds.data_vars else "seismic"
    for needed in ("trace_header", "trace_number", "text_header", "binary_header"):
        if needed not in ds.variables:
            raise InputError(f"store has no {needed} variable, so its SEG-Y file cannot be rebuilt; "
                             "export it as netcdf or zarr instead")
    endian: Endian = ds.attrs.get("segy_endian", "big")
    code = format_code(fmt, int(ds.attrs.get("segy_format", 5)))
    values, headers = ds[name], ds["trace_header"]
    sample_dim = values.dims[-1]
    if values.dims[:-1] != headers.dims[:-1]:  # a velocity section: velocity(model, z, x)
        values = values.isel(model=0).transpose("x", "z")
        sample_dim = "z"
    numbers = np.asarray(ds["trace_number"].values)
    live_sorted = np.sort(numbers[numbers > 0])
    extended = bytes(np.asarray(ds["extended_text_header"].values).tobytes()) if "extended_text_header" in ds else b""

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        first = values.dims[0]
        n_rows = values.sizes[first]
        per_row = max(1, int(np.prod(numbers.shape[1:], dtype=np.int64)))
        step = max(1, BLOCK_TRACES // per_row)
        for r0 in range(0, n_rows, step):
            sl = {first: slice(r0, r0 + step)}
            tn = numbers[r0:r0 + step].ravel()
            live = tn > 0
            samples = np.asarray(values.isel(sl).values).reshape(-1, values.sizes[sample_dim])[live]
            raw = np.asarray(headers.isel(sl).values).reshape(-1, 240)[live]
            yield np.searchsorted(live_sorted, tn[live]), raw, samples

    write_segy(out, text=bytes(np.asarray(ds["text_header"].values).tobytes()),
               binary=bytes(np.asarray(ds["binary_header"].values).tobytes()), extended=extended,
               n_traces=live_sorted.size, n_samples=values.sizes[sample_dim], fmt=code, endian=endian,
               blocks=blocks())


# ----------------------------------------------------------------------------- built headers

def choose_scalar(values: np.ndarray) -> int:
    """The SEG-Y scalar that stores ``values`` (m) exactly: 1, -10, -100 or -1000."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    for scalar in (1, -10, -100, -1000):
        scaled = v * -scalar if scalar < 0 else v
        if np.allclose(scaled, np.rint(scaled), rtol=0, atol=1e-6) and np.all(np.abs(scaled) < 2**31):
            return scalar
    return -1000 if np.all(np.abs(v * 1000) < 2**31) else 1


def scale(values: np.ndarray, scalar: int) -> np.ndarray:
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    return np.rint(v * -scalar if scalar < 0 else v / scalar).astype(np.int64)


def trace_headers(n: int, fields: dict[int, Any], endian: Endian) -> np.ndarray:
    """``(n, 240)`` uint8 headers with the given 1-based byte -> value(s) set."""
    out = np.zeros((n, 240), np.uint8)
    for byte, values in fields.items():
        size = field_size(byte)
        v = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,))
        limit = 2 ** (8 * size - 1)
        if np.any(v >= limit) or np.any(v < -limit):
            raise InputError(f"a value for trace-header bytes {byte}-{byte + size - 1} does not fit {size} bytes")
        out[:, byte - 1 : byte - 1 + size] = (
            v.astype(f"{'>' if endian == 'big' else '<'}i{size}").view(np.uint8).reshape(n, size)
        )
    return out


def text_header(lines: list[str]) -> bytes:
    """A 40-card EBCDIC textual header (``C 1 ...``)."""
    cards = [f"C{i + 1:2d} {lines[i] if i < len(lines) else ''}"[:80].ljust(80) for i in range(40)]
    cards[-1] = "C40 END TEXTUAL HEADER".ljust(80)
    return "".join(cards).encode("cp037")


def binary_header(*, n_samples: int, interval: int, fmt: int, endian: Endian, per_ensemble: int = 0) -> bytes:
    if not 0 < interval < 2**16:
        raise InputError(f"sample interval {interval} does not fit SEG-Y's 2-byte field (1-65535)")
    fields = {3213: per_ensemble, BIN_INTERVAL: interval, BIN_SAMPLES: n_samples, BIN_FORMAT: fmt,
              3255: 1, 3501: 0x0100, 3503: 1, BIN_EXT_HEADERS: 0}
    return _set_binary(bytes(400), fields, endian)


def _interval_us(axis: np.ndarray, what: str) -> int:
    if axis.size < 2:
        return 1000
    step = float(axis[1] - axis[0]) * 1e6
    if abs(step - round(step)) > 1e-3 or not 0 < round(step) < 2**16:
        raise InputError(f"{what} spacing {step:g} cannot be written as a whole SEG-Y sample interval (1-65535)")
    return int(round(step))


def write_gathers(path: Path, seismic: np.ndarray, *, time: np.ndarray, source_x: np.ndarray,
                  source_z: np.ndarray, receiver_x: np.ndarray, receiver_z: np.ndarray,
                  fmt: int = 5, endian: Endian = "big", title: str = "") -> None:
    """One sample's shot gathers ``(source, time, receiver)`` as a SEG-Y file, FFID per source."""
    n_src, nt, n_rec = seismic.shape
    n = n_src * n_rec
    s = np.repeat(np.arange(n_src), n_rec)
    r = np.tile(np.arange(n_rec), n_src)
    sx, gx = np.asarray(source_x, float)[s], np.asarray(receiver_x, float)[r]
    sz, gz = np.asarray(source_z, float)[s], np.asarray(receiver_z, float)[r]
    co, el = choose_scalar(np.r_[sx, gx]), choose_scalar(np.r_[sz, gz])
    dt = _interval_us(time, "time")
    fields = {1: np.arange(1, n + 1), 5: np.arange(1, n + 1), 9: s + 1, 13: r + 1, 17: s + 1, 29: 1,
              37: np.rint(gx - sx), 41: scale(-gz, el), 45: 0, 49: scale(sz, el), 69: el, 71: co,
              73: scale(sx, co), 81: scale(gx, co), 109: int(round(float(time[0]) * 1000)), 115: nt, 117: dt}
    lines = [
        title or "GEOGEN SHOT GATHERS",
        f"{n_src} SHOTS (FFID 1-{n_src}) X {n_rec} CHANNELS, {nt} SAMPLES AT {dt} US",
        "SOURCE DEPTH BYTES 49-52, RECEIVER ELEVATION (=-DEPTH) 41-44, SCALAR 69",
        "SOURCE X 73-76, GROUP X 81-84, SCALAR 71; OFFSET 37-40 IN METRES",
        "UNITS: METRES, SECONDS",
    ]
    traces = np.ascontiguousarray(seismic.transpose(0, 2, 1)).reshape(n, nt)
    write_segy(
        path,
        text=text_header(lines),
        binary=binary_header(n_samples=nt, interval=dt, fmt=fmt, endian=endian, per_ensemble=n_rec),
        n_traces=n,
        n_samples=nt,
        fmt=fmt,
        endian=endian,
        blocks=[(np.arange(n), trace_headers(n, fields, endian), traces)],
    )


def write_section(path: Path, velocity: np.ndarray, *, z: np.ndarray, x: np.ndarray,
                  endian: Endian = "big", title: str = "") -> None:
    """A velocity map ``(z, x)`` in m/s as a SEG-Y section: one trace per x, depth interval in mm."""
    nz, nx = velocity.shape
    dz_mm = _interval_us(np.asarray(z, float) / 1000.0, "depth")  # metres -> mm through the same check
    co = choose_scalar(x)
    xs = scale(x, co)
    fields = {1: np.arange(1, nx + 1), 5: np.arange(1, nx + 1), 21: np.arange(1, nx + 1), 29: 1, 71: co,
              73: xs, 81: xs, 181: xs, 115: nz, 117: dz_mm}
    lines = [title or "GEOGEN VELOCITY SECTION", f"{nx} TRACES ALONG X, {nz} DEPTH SAMPLES",
             f"DEPTH SAMPLE INTERVAL {dz_mm} MM (BYTES 3217 AND 117); VELOCITY IN M/S",
             "X IN CDP_X 181-184, GROUP X 81-84, SOURCE X 73-76, SCALAR 71"]
    write_segy(path, text=text_header(lines), binary=binary_header(n_samples=nz, interval=dz_mm, fmt=5, endian=endian),
               n_traces=nx, n_samples=nz, fmt=5, endian=endian,
               blocks=[(np.arange(nx), trace_headers(nx, fields, endian), np.ascontiguousarray(velocity.T))])


def export_pairs(ds: xr.Dataset, out: Path, *, fmt: int = 5) -> None:
    """A ``pairs`` store -> ``out/`` with ``seismic_NNNNN.sgy`` and ``velocity_NNNNN.sgy`` per sample."""
    out.mkdir(parents=True)
    time = np.asarray(ds["time"].values, float)
    geometry = {k: np.asarray(ds[k].values, float) for k in ("source_x", "source_z", "receiver_x", "receiver_z")}
    z, x = np.asarray(ds["z"].values, float), np.asarray(ds["x"].values, float)
    seismic = ds["seismic"].transpose("sample", "source", "time", "receiver")
    for i in range(ds.sizes["sample"]):
        tag = f"{i:05d}"
        write_gathers(out / f"seismic_{tag}.sgy", np.asarray(seismic[i].values, np.float32), time=time, fmt=fmt,
                      title=f"GEOGEN PAIRS SAMPLE {i} ({ds.attrs.get('origin', 'unknown')})", **geometry)
        write_section(out / f"velocity_{tag}.sgy", np.asarray(ds["velocity"][i].values, np.float32), z=z, x=x,
                      title=f"GEOGEN PAIRS SAMPLE {i} VELOCITY")


def export_velocity(ds: xr.Dataset, out: Path) -> None:
    """A velocity store -> one section file (one model) or ``out/velocity_NNNNN.sgy`` per model."""
    z, x = np.asarray(ds["z"].values, float), np.asarray(ds["x"].values, float)
    v = ds["velocity"].transpose("model", "z", "x")
    if v.sizes["model"] == 1:
        write_section(out, np.asarray(v[0].values, np.float32), z=z, x=x)
        return
    out.mkdir(parents=True)
    for m in range(v.sizes["model"]):
        write_section(out / f"velocity_{m:05d}.sgy", np.asarray(v[m].values, np.float32), z=z, x=x)
