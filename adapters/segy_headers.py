"""Trace-header fields by name, read through segyio in windows of traces, with SEG-Y scalars.

Header fields are read with segyio (``SegyFile.attributes(byte)[start:stop]``, segyio's C
core, which knows each field's size and sign), on a file opened with the layout that
:mod:`geogen.adapters.segy_format` decided and memory-mapped for one window of traces at a
time: a window's pages count as resident memory only until it is closed, so a scan of
10^8 headers holds one window, never the file.  Nothing here keeps a Python object per
trace; everything that survives a window is a per-file summary (:class:`HeaderScan`).

The one piece of header reading that stays geogen's own is :func:`raw_headers`: the
byte-exact 240-byte headers that a store keeps so that export rebuilds the file (segyio
hands out header *fields*, not the bytes).

Scalars, per SEG-Y rev 1/2 (0 means 1, a positive value multiplies, a negative one divides):
coordinates by bytes 71-72, elevations and depths by 69-70, the delay recording time (and
the other times in bytes 95-114; geogen reads only the delay) by 215-216.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geogen.adapters.segy_format import (
    BIN_EXT_INTERVAL,
    BIN_INTERVAL,
    BIN_SAMPLES,
    TRACE_HEADER_BYTES,
    SegyLayout,
    binary_double,
    prefix,
)
from geogen.errors import InputError

#: Name -> 1-based start byte of the standard (rev 1) location.
DEFAULT_BYTES: dict[str, int] = {
    "trace_sequence": 1,
    "ffid": 9,
    "channel": 13,
    "energy_source_point": 17,
    "cdp": 21,
    "offset": 37,
    "receiver_elevation": 41,
    "source_elevation": 45,
    "source_depth": 49,
    "elevation_scalar": 69,
    "coordinate_scalar": 71,
    "source_x": 73,
    "source_y": 77,
    "group_x": 81,
    "group_y": 85,
    "coordinate_units": 89,
    "delay": 109,
    "samples": 115,
    "interval": 117,
    "cdp_x": 181,
    "cdp_y": 185,
    "inline": 189,
    "crossline": 193,
    "time_scalar": 215,
}
ALIASES = {"receiver_x": "group_x", "receiver_y": "group_y", "fldr": "ffid", "tracf": "channel",
           "iline": "inline", "xline": "crossline", "il": "inline", "xl": "crossline",
           "delrt": "delay", "scalco": "coordinate_scalar", "scalel": "elevation_scalar",
           "counit": "coordinate_units", "scalar_trace_header": "time_scalar"}
ALLOWED_SCALARS = np.array([0, 1, -1, 10, -10, 100, -100, 1000, -1000, 10000, -10000])
#: Fields read in the scan; the grid keys keep their distinct values.
KEYS = ("ffid", "channel", "inline", "crossline")
COORDINATES = ("source_x", "source_y", "group_x", "group_y", "cdp_x", "cdp_y")
ELEVATIONS = ("receiver_elevation", "source_elevation", "source_depth")
#: Traces per window of the header scan (one window of mapped pages resident at a time), and
#: the most bytes of file such a window may span (a fault maps neighbouring cached pages too,
#: so a window of long traces makes resident most of what it spans, not just its headers).
SCAN_WINDOW = 1 << 17
SCAN_BYTES = 32 << 20
#: Files of up to this many traces keep their key fields from the scan (4 bytes per trace
#: and key), so that the grid is built without reading the headers again.
CACHE_TRACES = 1 << 21
CACHED = (*KEYS, "cdp")
#: Coordinate units (bytes 89-90).
UNIT_NAMES = {0: "length", 1: "length", 2: "arc-seconds", 3: "decimal degrees", 4: "degrees-minutes-seconds"}


def field_starts() -> frozenset[int]:
    """The trace-header positions segyio reads (the start of every rev-1 field)."""
    import segyio

    return frozenset(int(v) for v in segyio.TraceField.enums())


def resolve_overrides(overrides: Mapping[str, int], path: Path) -> dict[str, int]:
    """Merge ``--header NAME=BYTE`` into the default locations; unknown names are an error."""
    locations = dict(DEFAULT_BYTES)
    starts = None
    for name, byte in overrides.items():
        key = ALIASES.get(name.lower(), name.lower())
        if key not in DEFAULT_BYTES:
            raise InputError(f"--header {name}={byte}: unknown header name; known names: "
                             f"{', '.join(sorted(DEFAULT_BYTES))}", path=path)
        starts = starts or field_starts()
        if byte not in starts:
            near = sorted(starts, key=lambda s: (abs(s - byte), s))[:2]
            raise InputError(f"--header {name}={byte}: byte {byte} does not start a SEG-Y trace-header field "
                             f"(segyio reads fields at their standard positions); did you mean "
                             f"{' or '.join(str(n) for n in sorted(near))}?", path=path)
        locations[key] = byte
    return locations


def apply_scalar(values: np.ndarray, scalars: np.ndarray | int) -> np.ndarray:
    """``values`` with SEG-Y scalars applied, as float64: 0 means 1, > 0 multiplies, < 0 divides.

    Dividing (rather than multiplying by the reciprocal) keeps e.g. 123456 / 100 exact to
    the last bit.  Scalars outside the allowed set are the scan's business, not this one's.
    """
    out = np.array(values, dtype=np.float64)
    s = np.broadcast_to(np.asarray(scalars, dtype=np.float64), out.shape)
    pos, neg = s > 0, s < 0
    out[pos] *= s[pos]
    out[neg] /= -s[neg]
    return out


# ----------------------------------------------------------------------------- reading

def read_fields(layout: SegyLayout, fields: Mapping[str, int], start: int, stop: int) -> dict[str, np.ndarray]:
    """Header fields (name -> byte) of traces ``[start, stop)`` through segyio, as int64 arrays."""
    f = layout.open(mmap=True)
    try:
        return {name: f.attributes(byte)[start:stop].astype(np.int64) for name, byte in fields.items()}
    finally:
        f.close()


def field_windows(layout: SegyLayout, fields: Mapping[str, int], *, window: int | None = None,
                  start: int = 0, stop: int | None = None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """``(first trace, fields)`` for consecutive windows of traces, one mapped window at a time."""
    stop = layout.n_traces if stop is None else stop
    window = window or scan_window(layout)
    for s in range(start, stop, window):
        yield s, read_fields(layout, fields, s, min(stop, s + window))


def scan_window(layout: SegyLayout) -> int:
    """Traces per window: :data:`SCAN_WINDOW`, fewer for long traces (:data:`SCAN_BYTES`)."""
    return max(1, min(SCAN_WINDOW, SCAN_BYTES // layout.trace_bytes))


def fields_at(layout: SegyLayout, fields: Mapping[str, int], traces: np.ndarray) -> dict[str, np.ndarray]:
    """Header fields of the given traces (0-based, any order) through segyio.

    Not memory-mapped: segyio's per-index read of a mapped file touches every page of it
    (measured: the whole file resident for 1000 indices), a seek and read per index does not.
    """
    traces = np.asarray(traces, dtype=np.intc)
    if traces.size == 0:
        return {name: np.zeros(0, np.int64) for name in fields}
    f = layout.open(mmap=False)
    try:
        return {name: f.attributes(byte)[traces].astype(np.int64) for name, byte in fields.items()}
    finally:
        f.close()


def raw_headers(layout: SegyLayout, first: int, count: int) -> np.ndarray:
    """The 240-byte headers of traces ``[first, first + count)`` as ``(count, 240)`` uint8, byte for byte.

    geogen's own reader (segyio hands out fields, not bytes): a short-lived memory map of
    the span, of which only the header bytes are copied, so that a trace's samples are
    never read here.
    """
    out = np.empty((count, TRACE_HEADER_BYTES), np.uint8)
    if count:
        record = np.dtype([("header", np.uint8, (TRACE_HEADER_BYTES,)),
                           ("samples", np.uint8, (layout.trace_bytes - TRACE_HEADER_BYTES,))])
        mm = np.memmap(layout.path, dtype=record, mode="r", offset=layout.data_offset + first * layout.trace_bytes,
                       shape=(count,))
        try:
            out[:] = mm["header"]
        finally:
            del mm
    return out


def header_values(raw: np.ndarray, byte: int, size: int, endian: str) -> np.ndarray:
    """One integer field from raw ``(n, 240)`` headers (used where only raw bytes exist: export)."""
    view = np.ascontiguousarray(raw[:, byte - 1:byte - 1 + size])
    return view.view(f"{prefix(endian)}i{size}")[:, 0].astype(np.int64)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the scan

@dataclass
class HeaderScan:
    """What one pass over every trace header tells: bounded per-file summaries, no per-trace arrays."""

    layout: SegyLayout
    locations: dict[str, int]
    populated: dict[str, bool] = field(default_factory=dict)
    keys: dict[str, np.ndarray] = field(default_factory=dict)  # sorted distinct values of KEYS
    samples_hist: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.int64))
    interval_hist: np.ndarray = field(default_factory=lambda: np.zeros(1 << 16, np.int64))
    delay_ms: float = 0.0  # trace 1's delay recording time, time scalar applied
    time_scalar: int = 0  # trace 1's time scalar (bytes 215-216)
    delay_mismatch: tuple[int, float] | None = None  # first trace (0-based) with another delay, and that delay
    bad_scalar: dict[str, tuple[int, int]] = field(default_factory=dict)  # which -> (trace, value)
    units: dict[int, int] = field(
        default_factory=dict
    )  # coordinate-units code -> first trace with it (traces with x/y)
    cached: dict[str, np.ndarray] = field(default_factory=dict)  # key fields per trace, for files of few traces

    @property
    def path(self) -> Path:
        return self.layout.path

    @property
    def n_traces(self) -> int:
        return self.layout.n_traces

    def distinct(self, name: str) -> np.ndarray:
        return self.keys[name]

    def windows(self, fields: Mapping[str, int]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Like :func:`field_windows`, from the scan's copy of the key fields where it kept one
        (files of up to :data:`CACHE_TRACES` traces): no second pass over the file."""
        if all(name in self.cached and self.locations.get(name) == byte for name, byte in fields.items()):
            for s in range(0, self.n_traces, SCAN_WINDOW):
                yield s, {name: self.cached[name][s:s + SCAN_WINDOW].astype(np.int64) for name in fields}
            return
        yield from field_windows(self.layout, fields)


def scan_headers(layout: SegyLayout, locations: dict[str, int], *, window: int | None = None) -> HeaderScan:
    """One pass over every trace header, a window of traces at a time."""
    scan = HeaderScan(layout, locations)
    names = [n for n in DEFAULT_BYTES if n not in ("trace_sequence", "energy_source_point")]
    fields = {n: locations[n] for n in names}
    scan.populated = dict.fromkeys(names, False)
    scan.keys = {k: np.zeros(0, np.int64) for k in KEYS}
    keep = layout.n_traces <= CACHE_TRACES
    if keep:
        scan.cached = {k: np.empty(layout.n_traces, np.int32) for k in CACHED}
    for start, w in field_windows(layout, fields, window=window):
        _scan_window(scan, start, w)
        if keep:
            for k in CACHED:
                scan.cached[k][start:start + w[k].size] = w[k]
    return scan


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _scan_window(scan: HeaderScan, start: int, w: dict[str, np.ndarray]) -> None:
    for name, values in w.items():
        if not scan.populated[name] and values.any():
            scan.populated[name] = True
    for key in KEYS:
        scan.keys[key] = np.union1d(scan.keys[key], np.unique(w[key]))
    scan.samples_hist += np.bincount(w["samples"] & 0xFFFF, minlength=1 << 16)
    scan.interval_hist += np.bincount(w["interval"] & 0xFFFF, minlength=1 << 16)
    has_xy = np.zeros(w["delay"].shape, bool)
    for name in COORDINATES:
        has_xy |= w[name] != 0
    has_z = np.zeros_like(has_xy)
    for name in ELEVATIONS:
        has_z |= w[name] != 0
    checks = {"coordinate": (w["coordinate_scalar"], has_xy), "elevation": (w["elevation_scalar"], has_z),
              "time": (w["time_scalar"], w["delay"] != 0)}
    for which, (scalars, used) in checks.items():
        if which not in scan.bad_scalar:
            k = _first(used & ~np.isin(scalars, ALLOWED_SCALARS))
            if k is not None:
                scan.bad_scalar[which] = (start + k, int(scalars[k]))
    units = w["coordinate_units"]
    for code in np.unique(units[has_xy]):
        if int(code) not in scan.units:
            scan.units[int(code)] = start + int(np.flatnonzero(has_xy & (units == code))[0])
    time_scalars = np.where(np.isin(w["time_scalar"], ALLOWED_SCALARS), w["time_scalar"], 0)
    delay = apply_scalar(w["delay"], time_scalars)
    if start == 0 and delay.size:
        scan.delay_ms, scan.time_scalar = float(delay[0]), int(w["time_scalar"][0])
    if scan.delay_mismatch is None:
        k = _first(delay != scan.delay_ms)
        if k is not None:
            scan.delay_mismatch = (start + k, float(delay[k]))


# ----------------------------------------------------------------------------- sample interval

@dataclass(frozen=True)
class Interval:
    """The sample interval used (file units: us for time), where it came from, and who disagrees."""

    value: float | None
    source: str
    disagree: int = 0
    example: int = 0


def resolve_interval(scan: HeaderScan) -> Interval:
    """Sample interval by the same rule as the sample count: the binary header's (rev 2's extended
    double when non-zero), then the trace headers' most common positive value; zero, negative
    and non-finite values never count."""
    layout = scan.layout
    rev = layout.revision
    binary = layout.binary(BIN_INTERVAL, 2)  # signed: a "negative" interval is no interval
    ext = binary_double(layout.binary_header, BIN_EXT_INTERVAL, layout.endian)
    ext_ok = bool(np.isfinite(ext) and 0 < ext < 1e9)
    signed = np.arange(1 << 16).astype(np.uint16).view(np.int16)
    positive = np.where(signed > 0, scan.interval_hist, 0)
    value: float | None
    if rev >= 2 and ext_ok:
        value, source = float(ext), "extended sample interval, binary header bytes 3273-3280"
    elif binary > 0:
        value, source = float(binary), "binary header bytes 3217-3218"
    elif ext_ok and binary == 0:
        value, source = float(ext), "extended sample interval, binary header bytes 3273-3280"
    elif positive.any():
        common = int(np.argmax(positive))
        value, source = (
            float(common),
            f"trace headers bytes 117-118 ({int(positive[common])} of {scan.n_traces} traces)",
        )
    else:
        return Interval(None, f"binary header bytes 3217-3218 hold {binary} and no trace header (bytes 117-118) "
                              "gives a positive interval")
    codes = np.flatnonzero(scan.interval_hist)
    own = int(round(value)) & 0xFFFF if float(value).is_integer() and value < 1 << 16 else -1
    other = [int(c) for c in codes if c not in (0, own)]
    disagree = int(sum(scan.interval_hist[c] for c in other))
    example = int(signed[max(other, key=lambda c: scan.interval_hist[c])]) if other else 0
    return Interval(value, source, disagree, example)


def header_warning(scan: HeaderScan, interval: Interval | None) -> str | None:
    """One line: how many trace headers disagree with the sample count and interval used, and
    where a count or interval came from somewhere other than the binary header's own fields."""
    layout = scan.layout
    ns = layout.n_samples
    hist = scan.samples_hist
    bad_ns = int(hist.sum() - hist[0] - (hist[ns] if ns < hist.size else 0))
    parts = []
    if bad_ns:
        others = hist.copy()
        others[0] = 0
        if ns < others.size:
            others[ns] = 0
        parts.append(f"{bad_ns} of {layout.n_traces} trace headers give another sample count (bytes 115-116, "
                     f"e.g. {int(np.argmax(others))}) than the {ns} of the {layout.samples_from}, which the file "
                     "size confirms; read with that")
    base = layout.binary(BIN_SAMPLES, 2, signed=False)
    if base != ns and not (base == 0 and layout.samples_from.startswith("extended")):
        parts.append(f"the sample count {ns} comes from the {layout.samples_from} (bytes 3221-3222 hold {base})")
    if interval is not None and interval.value is not None:
        if interval.disagree:
            parts.append(f"{interval.disagree} trace headers give another sample interval (bytes 117-118, e.g. "
                         f"{interval.example}) than the {interval.value:g} of the {interval.source}; used that")
        binary = layout.binary(BIN_INTERVAL, 2)
        if binary != interval.value and not (binary == 0 and interval.source.startswith("extended")):
            parts.append(f"the sample interval {interval.value:g} comes from the {interval.source} "
                         f"(bytes 3217-3218 hold {binary})")
    return "; ".join(parts) if parts else None


# ----------------------------------------------------------------------------- text header

def decode_text_header(raw: bytes) -> tuple[str, str]:
    """(decoded text, 'ascii' or 'ebcdic').

    EBCDIC letters and digits all lie above 0x7F and its space is 0x40 ('@' in ASCII),
    so a header with high bytes, or with more 0x40 than 0x20, is EBCDIC.
    """
    data = np.frombuffer(raw, np.uint8)
    high = int(np.count_nonzero(data >= 0x80))
    if high > 0.05 * max(data.size, 1) or np.count_nonzero(data == 0x40) > np.count_nonzero(data == 0x20):
        return raw.decode("cp037", errors="replace"), "ebcdic"
    return raw.decode("ascii", errors="replace").replace("\x00", " "), "ascii"


def text_lines(text: str) -> str:
    """A 3200-character card image as 40 lines of 80 characters."""
    if "\n" in text:
        return text
    return "\n".join(text[i:i + 80].rstrip() for i in range(0, len(text), 80))


def describe_scalars() -> dict[str, Any]:
    """What ingest applies, for the store's attributes."""
    return {"coordinate_scalar": "per trace, bytes 71-72 (0 = 1, > 0 multiplies, < 0 divides)",
            "elevation_scalar": "per trace, bytes 69-70, applied to elevations and depths",
            "time_scalar": "bytes 215-216, applied to the delay recording time (bytes 109-110)"}
