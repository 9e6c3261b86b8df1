"""Small SEG-Y files written with segyio for the SEG-Y tests, with the values they hold."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import segyio

su = segyio.su


@dataclass
class ShotFile:
    path: Path
    data: np.ndarray  # (shot, receiver, time) float32, zeros where missing
    mask: np.ndarray  # (shot, receiver) bool
    ffid: np.ndarray
    source_x: np.ndarray
    source_y: np.ndarray
    source_z: np.ndarray  # depth below datum, m
    receiver_x: np.ndarray  # (shot, receiver), NaN where missing
    receiver_z: np.ndarray
    offset: np.ndarray
    time: np.ndarray
    extra: dict = field(default_factory=dict)


def _spec(fmt: int, ns: int, n: int, endian: str) -> segyio.spec:
    spec = segyio.spec()
    spec.format = fmt
    spec.samples = np.arange(ns)
    spec.tracecount = n
    spec.endian = endian
    return spec


def write_shots(path: Path, *, n_shots: int = 4, n_receivers: int = 6, ns: int = 50, fmt: int = 5,
                endian: str = "big", dt_us: int = 2000, delay_ms: int = 0, missing: tuple = (),
                coordinate_scalars: tuple[int, ...] = (-100, 10, 0), elevation_scalar: int = -10,
                ascii_text: bool = False, seed: int = 0) -> ShotFile:
    """Shot gathers on a 2-D line: FFID 101.., channels 1.., per-trace coordinate scalars cycling
    through ``coordinate_scalars`` so that each trace needs its own scalar applied."""
    rng = np.random.default_rng(seed)
    data = np.zeros((n_shots, n_receivers, ns), np.float32)
    mask = np.ones((n_shots, n_receivers), bool)
    for s, r in missing:
        mask[s, r] = False
    n = int(mask.sum())
    ffid = 101 + np.arange(n_shots)
    sx = 1000.0 + 50.0 * np.arange(n_shots)  # multiples of 10 m: exact under every scalar used
    sy = 200.0 + np.zeros(n_shots)
    sdepth = 5.5 + np.arange(n_shots)  # m below the surface
    selev = 12.3 + np.zeros(n_shots)  # surface elevation at the source
    gx = sx[:, None] + 20.0 * (np.arange(n_receivers) + 1)
    gelev = 10.0 + 0.5 * np.arange(n_receivers)[None, :] + np.zeros((n_shots, 1))
    spec = _spec(fmt, ns, n, endian)
    if fmt in (1, 5):
        values = rng.standard_normal((n_shots, n_receivers, ns)).astype(np.float32) * 100
    else:
        values = rng.integers(-100, 100, (n_shots, n_receivers, ns)).astype(np.float32)
    k = 0
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: dt_us, segyio.BinField.Traces: n_receivers})
        for s in range(n_shots):
            for r in range(n_receivers):
                if not mask[s, r]:
                    continue
                co = coordinate_scalars[k % len(coordinate_scalars)]
                cf = 1.0 if co == 0 else (co if co > 0 else 1.0 / -co)
                ef = elevation_scalar if elevation_scalar > 0 else 1.0 / -elevation_scalar
                f.header[k] = {
                    su.tracl: k + 1, su.tracr: k + 1, su.fldr: int(ffid[s]), su.tracf: r + 1, su.ep: s + 1,
                    su.offset: int(round(gx[s, r] - sx[s])),
                    su.gelev: int(round(gelev[s, r] / ef)), su.selev: int(round(selev[s] / ef)),
                    su.sdepth: int(round(sdepth[s] / ef)), su.scalel: elevation_scalar, su.scalco: co,
                    su.sx: int(round(sx[s] / cf)), su.sy: int(round(sy[s] / cf)),
                    su.gx: int(round(gx[s, r] / cf)), su.gy: int(round(sy[s] / cf)),
                    su.delrt: delay_ms, su.ns: ns, su.dt: dt_us,
                }
                trace = values[s, r]
                f.trace[k] = (
                    trace.astype(np.float32)
                    if fmt in (1, 5)
                    else trace.astype({2: np.int32, 3: np.int16, 8: np.int8}[fmt])
                )
                data[s, r] = trace
                k += 1
    if fmt == 1:  # what IBM can hold: read it back through segyio, the reference decoder
        with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
            raw = f.trace.raw[:]
        data[mask] = raw
    set_text(path, "GEOGEN TEST SHOT GATHERS", ascii_text=ascii_text)
    rx = np.where(mask, gx, np.nan)
    rz = np.where(mask, -gelev, np.nan)
    off = np.where(mask, np.rint(gx - sx[:, None]), np.nan)
    time = delay_ms / 1000 + dt_us * 1e-6 * np.arange(ns)
    return ShotFile(path, data, mask, ffid, sx, sy, sdepth - selev, rx, rz, off, time)


def set_text(path: Path, title: str, *, ascii_text: bool = False) -> bytes:
    cards = "".join(f"C{i + 1:2d} {title if i == 0 else ''}".ljust(80) for i in range(40))
    raw = cards.encode("ascii" if ascii_text else "cp037")
    with open(path, "r+b") as fh:
        fh.write(raw)
    return raw


def write_stacked(path: Path, values: np.ndarray, *, inlines: np.ndarray | None = None,
                  crosslines: np.ndarray | None = None, cdps: np.ndarray | None = None,
                  cdp_x: np.ndarray, cdp_y: np.ndarray | None = None, interval: int = 4000,
                  fmt: int = 5, endian: str = "big", scalar: int = -10, group_x: bool = False) -> Path:
    """Post-stack traces (or velocity traces): ``values`` is (n_traces, ns), one trace per entry."""
    n, ns = values.shape
    spec = _spec(fmt, ns, n, endian)
    factor = scalar if scalar > 0 else 1.0 / -scalar
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: interval})
        for k in range(n):
            h = {su.tracl: k + 1, su.ns: ns, su.dt: interval, su.scalco: scalar,
                 su.cdpx: int(round(cdp_x[k] / factor))}
            if cdp_y is not None:
                h[su.cdpy] = int(round(cdp_y[k] / factor))
            if group_x:
                h = {
                    su.tracl: k + 1,
                    su.ns: ns,
                    su.dt: interval,
                    su.scalco: scalar,
                    su.gx: int(round(cdp_x[k] / factor)),
                }
            if inlines is not None:
                h[su.iline], h[su.xline] = int(inlines[k]), int(crosslines[k])
            if cdps is not None:
                h[su.cdp] = int(cdps[k])
            f.header[k] = h
            f.trace[k] = values[k].astype({2: np.int32, 3: np.int16, 8: np.int8}.get(fmt, np.float32))
    set_text(path, "GEOGEN TEST STACK")
    return path


def patch_trace(path: Path, trace: int, byte: int, value: int, size: int = 2, *, endian: str = "big",
                n_ext: int = 0) -> None:
    """Overwrite one trace-header field (0-based ``trace``, 1-based ``byte``) in place."""
    with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
        sample_size = {1: 4, 2: 4, 3: 2, 5: 4, 8: 1}[int(f.bin[segyio.BinField.Format])]
        trace_bytes = 240 + len(f.samples) * sample_size
    with open(path, "r+b") as fh:
        fh.seek(3600 + 3200 * n_ext + trace * trace_bytes + byte - 1)
        fh.write(int(value).to_bytes(size, endian, signed=True))


def patch_traces(path: Path, byte: int, values, size: int = 2, *, trace_bytes: int, endian: str = "big",
                 n_ext: int = 0) -> None:
    """Overwrite one trace-header field in every trace (``values``: one per trace, or one for all),
    for files that segyio may no longer open (so the trace size is given)."""
    n = (path.stat().st_size - 3600 - 3200 * n_ext) // trace_bytes
    values = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,))
    with open(path, "r+b") as fh:
        for k in range(n):
            fh.seek(3600 + 3200 * n_ext + k * trace_bytes + byte - 1)
            fh.write(int(values[k]).to_bytes(size, endian, signed=True))


def set_binary(path: Path, byte: int, value, size: int = 2, *, endian: str = "big", signed: bool = True) -> None:
    """Overwrite one binary-header field (1-based file byte 3201-3600); a float ``value`` of
    size 8 is written as an IEEE double (rev 2's extended sample interval)."""
    if size == 8:
        raw = np.array(value, dtype=(">" if endian == "big" else "<") + "f8").tobytes()
    else:
        raw = int(value).to_bytes(size, endian, signed=signed)
    with open(path, "r+b") as fh:
        fh.seek(byte - 1)
        fh.write(raw)


def write_raw(path: Path, samples: np.ndarray, headers: dict[int, tuple], *, fmt: int = 5, endian: str = "big",
              binary: dict[int, tuple] | None = None) -> Path:
    """A SEG-Y file byte by byte, for what segyio cannot write (rev-2 extended counts and the like).

    ``samples`` is ``(n, ns)`` in the format's dtype; ``headers`` maps a 1-based trace byte to
    ``(values, size)``; ``binary`` maps a 1-based file byte to ``(value, size)`` (size 8: double).
    """
    n, ns = samples.shape
    e = ">" if endian == "big" else "<"
    code = {3: "i2", 5: "f4", 8: "i1", 2: "i4"}[fmt]
    record = np.dtype([("h", np.uint8, (240,)), ("s", e + code, (ns,))])
    traces = np.zeros(n, record)
    for byte, (values, size) in headers.items():
        v = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)).astype(f"{e}i{size}")
        traces["h"][:, byte - 1:byte - 1 + size] = v.view(np.uint8).reshape(n, size)
    traces["s"] = samples
    with open(path, "wb") as fh:
        fh.write("".join(f"C{i + 1:2d} GEOGEN RAW TEST".ljust(80) for i in range(40)).encode("cp037"))
        fh.write(bytes(400))
        fh.write(traces.tobytes())
    set_binary(path, 3225, fmt, endian=endian)
    for byte, (value, size) in (binary or {}).items():
        set_binary(path, byte, value, size, endian=endian)
    return path
