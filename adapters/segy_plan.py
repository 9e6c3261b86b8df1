"""From trace headers to a grid: which kind of data a file holds and where each trace goes.

A plan maps every kept trace to one cell of a regular grid (``shot x receiver`` for shot
gathers, ``inline x crossline`` or ``cdp`` for post-stack data and velocity volumes, ``x``
for a velocity section) and carries the per-row geometry (shot positions), the sample
axis and how per-trace geometry is computed from the header fields.  It holds no samples
and no per-trace geometry: the fill computes those block by block (:class:`TraceGeometry`).

Memory: the grid of trace numbers (4 bytes per cell) is the only array that grows with
the survey; it is built in a second streaming pass over the key fields, a window of
traces at a time, with duplicates resolved as they come (no sort of the whole file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geogen.adapters.segy_format import BIN_MEASUREMENT
from geogen.adapters.segy_headers import (
    UNIT_NAMES,
    HeaderScan,
    Interval,
    apply_scalar,
    fields_at,
)
from geogen.errors import InputError

FOOT = 0.3048
#: A grid may be this many times emptier than the file before it is refused as a wrong key byte.
MAX_EMPTY_FACTOR = 16
MAX_CELLS = 2**31 - 1


@dataclass(frozen=True)
class Conversion:
    """How raw coordinates and lengths become store values (metres, or degrees if asked)."""

    length_factor: float = 1.0  # feet -> metres
    length_unit: str = "m"  # the file's unit, from binary header bytes 3255-3256
    geographic: str | None = None  # "arc-seconds", "decimal degrees", "degrees-minutes-seconds"

    def xy(self, raw: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        value = apply_scalar(raw, scalars)
        if self.geographic is None:
            return value * self.length_factor
        if self.geographic == "arc-seconds":
            return value / 3600.0
        if self.geographic == "degrees-minutes-seconds":  # +-DDDMMSS.ss
            a = np.abs(value)
            return np.sign(value) * (np.floor(a / 10000) + np.floor(a / 100) % 100 / 60.0 + (a % 100) / 3600.0)
        return value

    def length(self, raw: np.ndarray, scalars: np.ndarray | int = 1) -> np.ndarray:
        return apply_scalar(raw, scalars) * self.length_factor

    def xy_attrs(self, axis: str) -> dict[str, Any]:
        if self.geographic is None:
            return {"units": "m"}
        return {
            "units": "degrees_east" if axis == "x" else "degrees_north",
            "long_name": f"{'longitude' if axis == 'x' else 'latitude'} (SEG-Y coordinate units: {self.geographic})",
        }

    def describe(self) -> dict[str, Any]:
        out = {"segy_length_unit": self.length_unit,
               "segy_coordinate_units": self.geographic or "length"}
        if self.length_factor != 1.0:
            out["segy_length_conversion"] = f"feet x {FOOT} = metres"
        return out


@dataclass(frozen=True)
class TraceGeometry:
    """Per-trace geometry of a grid, computed by the fill from each block's header fields."""

    kind: str  # "survey" or "stack"
    conversion: Conversion
    fields: dict[str, int]  # header name -> byte, read per block
    midpoint: bool = False  # stacks without CDP coordinates: source-receiver midpoint

    def variables(self) -> dict[str, dict[str, Any]]:
        """Name -> attributes of the float64 grid variables this produces."""
        c = self.conversion
        if self.kind == "survey":
            depth = {"units": "m", "positive": "down"}
            return {"receiver_x": c.xy_attrs("x"), "receiver_y": c.xy_attrs("y"),
                    "receiver_z": {**depth, "long_name": "receiver depth below datum (-group elevation)"},
                    "offset": {"units": "m"}}
        how = {"long_name": "source-receiver midpoint (no CDP coordinates in bytes 181-188)"} if self.midpoint else {}
        return {"cdp_x": {**c.xy_attrs("x"), **how}, "cdp_y": {**c.xy_attrs("y"), **how}}

    def compute(self, f: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        c = self.conversion
        if self.kind == "survey":
            return {"receiver_x": c.xy(f["group_x"], f["coordinate_scalar"]),
                    "receiver_y": c.xy(f["group_y"], f["coordinate_scalar"]),
                    "receiver_z": -c.length(f["receiver_elevation"], f["elevation_scalar"]),
                    "offset": c.length(f["offset"])}
        if not self.midpoint:
            return {
                "cdp_x": c.xy(f["cdp_x"], f["coordinate_scalar"]),
                "cdp_y": c.xy(f["cdp_y"], f["coordinate_scalar"]),
            }
        s = f["coordinate_scalar"]
        return {"cdp_x": 0.5 * (c.xy(f["source_x"], s) + c.xy(f["group_x"], s)),
                "cdp_y": 0.5 * (c.xy(f["source_y"], s) + c.xy(f["group_y"], s))}


@dataclass
class GridPlan:
    """Where each trace goes, and the coordinates of the grid it builds."""

    kind: str  # survey | poststack | velocity
    dims: tuple[str, ...]
    trace_number: np.ndarray  # grid-shaped int32, 1-based trace in the file, 0 where none
    coords: dict[str, tuple[Any, ...]]  # in-memory coordinates: name -> (dims, values, attrs)
    sample_dim: str
    sample_values: np.ndarray
    sample_attrs: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    geometry: TraceGeometry | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.trace_number.shape)

    @property
    def live(self) -> int:
        return int(np.count_nonzero(self.trace_number))


# ----------------------------------------------------------------------------- what the file holds

def distinct_values(scan: HeaderScan, name: str) -> np.ndarray:
    """Sorted distinct values of one field over every trace (an extra pass, for rarely needed keys)."""
    if name in scan.keys:
        return scan.keys[name]
    out = np.zeros(0, np.int64)
    for _, w in scan.windows({name: scan.locations[name]}):
        out = np.union1d(out, np.unique(w[name]))
    scan.keys[name] = out
    return out


def choose_kind(scan: HeaderScan, requested: str) -> str:
    """``--kind`` if given; else inline/crossline -> poststack, FFIDs with channels -> survey,
    distinct CDP numbers -> 2-D poststack."""
    p = scan.populated
    if requested != "auto":
        if requested not in ("survey", "poststack", "velocity"):
            raise InputError(
                f"--kind {requested}: a SEG-Y file holds survey, poststack or velocity data", path=scan.path
            )
        return requested
    if p["inline"] and p["crossline"]:
        return "poststack"
    if scan.keys["ffid"].size > 1 and p["channel"]:
        return "survey"
    # One shot or a 2-D stack?  Stacks carry CDP coordinates (bytes 181/185); field shots rarely do.
    if p["ffid"] and p["channel"] and not p["cdp_x"]:
        return "survey"
    if p["cdp"] and distinct_values(scan, "cdp").size == scan.n_traces:
        return "poststack"
    if p["ffid"] and p["channel"]:
        return "survey"
    raise InputError(
        "cannot tell what this SEG-Y file holds: no inline/crossline (bytes 189/193), no FFID with "
        "channels (bytes 9/13) and no distinct CDP numbers (byte 21); pass --kind and --header NAME=BYTE",
        path=scan.path)


def conversion(scan: HeaderScan, options: Mapping[str, Any]) -> Conversion:
    """Length unit (binary bytes 3255-3256) and coordinate units (trace bytes 89-90) -> a Conversion."""
    unit = scan.layout.binary(BIN_MEASUREMENT, 2)
    factor, name = (FOOT, "ft") if unit == 2 else (1.0, "m")
    codes = dict(scan.units)
    for code, trace in sorted(codes.items(), key=lambda kv: kv[1]):
        if code not in UNIT_NAMES:
            raise InputError(f"trace {trace + 1} has coordinate units {code} (bytes 89-90); SEG-Y defines 1 length, "
                             "2 arc-seconds, 3 decimal degrees, 4 degrees-minutes-seconds: fix the trace headers",
                             path=scan.path)
    kinds = {UNIT_NAMES[c] for c in codes}
    geo = sorted(kinds - {"length"})
    if not geo:
        return Conversion(factor, name)
    first = min(t for c, t in codes.items() if UNIT_NAMES[c] != "length")
    code = next(c for c, t in codes.items() if t == first)
    if len(kinds) > 1:
        other = min(t for c, t in codes.items() if UNIT_NAMES[c] != UNIT_NAMES[code])
        raise InputError(f"coordinate units differ between traces: trace {first + 1} has {UNIT_NAMES[code]} "
                         f"(bytes 89-90 = {code}), trace {other + 1} has {UNIT_NAMES[codes_at(codes, other)]}; "
                         "geogen needs one unit per file", path=scan.path)
    if not options.get("geographic"):
        raise InputError(f"trace {first + 1} gives its coordinates in {geo[0]} (bytes 89-90 = {code}); geogen stores "
                         "coordinates in metres: project the file first, or pass --geographic to keep them as degrees",
                         path=scan.path)
    return Conversion(factor, name, geo[0])


def codes_at(codes: dict[int, int], trace: int) -> int:
    return next(c for c, t in codes.items() if t == trace)


def check_scalars(scan: HeaderScan, *which: str) -> None:
    """An absurd coordinate or elevation scalar names its first trace."""
    for kind in which:
        if kind in scan.bad_scalar:
            trace, value = scan.bad_scalar[kind]
            byte = {"coordinate": 71, "elevation": 69, "time": 215}[kind]
            raise InputError(
                f"trace {trace + 1} has {kind} scalar {value} (bytes {byte}-{byte + 1}); "
                "SEG-Y allows 0, +-1, +-10, +-100, +-1000, +-10000: fix the trace headers", path=scan.path)


def time_axis(scan: HeaderScan, interval: Interval) -> tuple[np.ndarray, dict[str, Any]]:
    """Time in s: sample interval (us) and the delay recording time (ms, bytes 109-110, time scalar applied)."""
    if interval.value is None:
        raise InputError(f"has no usable sample interval: {interval.source}; fix the binary header (bytes 3217-3218)",
                         path=scan.path)
    check_scalars(scan, "time")
    if scan.delay_mismatch is not None:
        k, delay = scan.delay_mismatch
        raise InputError(f"trace {k + 1} has delay recording time {delay:g} ms (bytes 109-110, time scalar applied), "
                         f"trace 1 has {scan.delay_ms:g} ms; geogen needs one time axis: "
                         "split the file or apply the delays first", path=scan.path)
    delay = scan.delay_ms
    t0 = delay / 1000.0
    time = t0 + (interval.value * 1e-6) * np.arange(scan.layout.n_samples, dtype=np.float64)
    attrs = {"units": "s", "long_name": "two-way time",
             "delay_recording_time_ms": int(delay) if float(delay).is_integer() else delay,
             "time_scalar": scan.time_scalar or 1,
             "time_scalar_applied": "bytes 215-216 to the delay recording time (bytes 109-110)",
             "sample_interval_us": interval.value, "sample_interval_from": interval.source}
    return time, attrs


# ----------------------------------------------------------------------------- the grid

def build_grid(scan: HeaderScan, fields: dict[str, int], shape: tuple[int, ...],
               cells: Callable[[int, dict[str, np.ndarray]], np.ndarray], duplicates: str,
               describe: Callable[[dict[str, np.ndarray], int], str]) -> np.ndarray:
    """The grid of 1-based trace numbers (int32, 0 where none), a window of traces at a time.

    ``cells(start, fields)`` gives each trace's flat cell; ``duplicates`` says which trace
    of a cell is kept (``first``, ``last``) or that two are an error, reported as the first
    pair in file order with the count of all duplicates.
    """
    size = int(np.prod(shape, dtype=np.int64))
    n = scan.n_traces
    if size > MAX_CELLS or size > max(MAX_EMPTY_FACTOR * n, 1 << 20):
        raise InputError(f"the traces' keys span a grid of {' x '.join(str(s) for s in shape)} = {size} cells for "
                         f"{n} traces; the key bytes are probably wrong: pass --header NAME=BYTE or --kind",
                         path=scan.path)
    tn = np.zeros(size, np.int32)
    pair: tuple[int, int, str] | None = None  # first duplicate in file order: (kept trace, later trace, what)
    for start, w in scan.windows(fields):
        cell = cells(start, w)
        numbers = np.arange(start + 1, start + 1 + cell.size, dtype=np.int32)
        order = np.argsort(cell, kind="stable")
        sorted_cells = cell[order]
        starts = np.r_[True, sorted_cells[1:] != sorted_cells[:-1]]
        if duplicates == "last":
            ends = np.r_[sorted_cells[1:] != sorted_cells[:-1], True]
            tn[cell[order[ends]]] = numbers[order[ends]]
            continue
        firsts = order[starts]
        prior = tn[cell[firsts]]
        fresh = prior == 0
        tn[cell[firsts[fresh]]] = numbers[firsts[fresh]]
        if duplicates == "error" and pair is None and (not fresh.all() or not starts.all()):
            candidates = [(int(numbers[firsts[i]]), int(prior[i]), int(firsts[i])) for i in np.flatnonzero(~fresh)[:1]]
            later = np.flatnonzero(~starts)
            if later.size:
                run = np.cumsum(starts) - 1
                j = int(later[np.argmin(order[later])])
                b = int(order[j])
                candidates.append((int(numbers[b]), int(numbers[firsts[run[j]]]), b))
            b_num, a_num, local = min(candidates)
            pair = (a_num, b_num, describe(w, local))
    if pair is not None:
        n_dup = n - int(np.count_nonzero(tn))
        a, b, what = pair
        raise InputError(f"traces {a} and {b} both hold {what} ({n_dup} duplicate traces in all); pass "
                         "--duplicates first or --duplicates last to keep one of each", path=scan.path)
    return tn.reshape(shape)


def first_trace_per_row(tn: np.ndarray) -> np.ndarray:
    """0-based index of the first (lowest-numbered) trace in each grid row; -1 for an empty row."""
    rows = tn.reshape(tn.shape[0], -1)
    out = np.empty(rows.shape[0], np.int64)
    step = max(1, (1 << 20) // max(1, rows.shape[1]))
    big = np.iinfo(np.int32).max
    for r0 in range(0, rows.shape[0], step):
        block = rows[r0:r0 + step]
        out[r0:r0 + step] = np.where(block > 0, block, big).min(axis=1)
    return np.where(out == big, -1, out - 1)


def _trace_order_channels(scan: HeaderScan, shots: np.ndarray) -> tuple[np.ndarray, Callable]:
    """Channels numbered by trace order within each FFID, for files without channel numbers."""
    byte = scan.locations["ffid"]
    counts = np.zeros(shots.size, np.int64)
    for _, w in scan.windows({"ffid": byte}):
        counts += np.bincount(np.searchsorted(shots, w["ffid"]), minlength=shots.size)
    n_channels = int(counts.max()) if counts.size else 0
    seen = np.zeros(shots.size, np.int64)

    def cells(start: int, w: dict[str, np.ndarray]) -> np.ndarray:
        si = np.searchsorted(shots, w["ffid"])
        order = np.argsort(si, kind="stable")
        s_sorted = si[order]
        group = np.r_[0, np.flatnonzero(s_sorted[1:] != s_sorted[:-1]) + 1]
        within = np.arange(si.size) - np.repeat(group, np.diff(np.r_[group, si.size]))
        channel = np.empty(si.size, np.int64)
        channel[order] = within + seen[s_sorted]
        seen[:] += np.bincount(si, minlength=shots.size)
        w["channel"] = channel + 1
        return si * n_channels + channel

    return np.arange(1, n_channels + 1, dtype=np.int64), cells


def survey_plan(scan: HeaderScan, duplicates: str, interval: Interval, conv: Conversion) -> GridPlan:
    """Shot gathers: one row per FFID, one column per channel number."""
    loc = scan.locations
    if not scan.populated["ffid"]:
        raise InputError(f"FFID (bytes {loc['ffid']}-{loc['ffid'] + 3}) is zero in every trace, so "
                         "shots cannot be told apart; pass --header ffid=BYTE or --kind poststack", path=scan.path)
    check_scalars(scan, "coordinate", "elevation")
    time, time_attrs = time_axis(scan, interval)
    shots = scan.keys["ffid"]
    if scan.populated["channel"]:
        chans, channel_from = scan.keys["channel"], "header"

        def cells(start: int, w: dict[str, np.ndarray]) -> np.ndarray:
            return np.searchsorted(shots, w["ffid"]) * chans.size + np.searchsorted(chans, w["channel"])
    else:  # no channel numbers: number the traces within each shot in file order
        chans, cells = _trace_order_channels(scan, shots)
        channel_from = "trace order within each FFID"
    keys = {"ffid": loc["ffid"], "channel": loc["channel"]}
    tn = build_grid(scan, keys, (shots.size, chans.size), cells, duplicates,
                    lambda w, i: f"FFID {int(w['ffid'][i])} channel {int(w['channel'][i])}")
    lead = first_trace_per_row(tn)
    src = fields_at(scan.layout, {n: loc[n] for n in ("source_x", "source_y", "source_depth", "source_elevation",
                                                       "coordinate_scalar", "elevation_scalar")}, np.maximum(lead, 0))
    sz = (conv.length(src["source_depth"], src["elevation_scalar"])
          - conv.length(src["source_elevation"], src["elevation_scalar"]))
    coords: dict[str, tuple[Any, ...]] = {
        "ffid": ("shot", shots.astype(np.int64), {"long_name": "field file identification number"}),
        "channel": ("receiver", chans.astype(np.int64), {"long_name": f"channel number ({channel_from})"}),
        "source_x": ("shot", conv.xy(src["source_x"], src["coordinate_scalar"]), conv.xy_attrs("x")),
        "source_y": ("shot", conv.xy(src["source_y"], src["coordinate_scalar"]), conv.xy_attrs("y")),
        "source_z": ("shot", sz, {"units": "m", "positive": "down",
                                  "long_name": "source depth below datum (source depth - surface elevation)"}),
    }
    geometry = TraceGeometry("survey", conv, {n: loc[n] for n in ("group_x", "group_y", "receiver_elevation", "offset",
                                                                   "coordinate_scalar", "elevation_scalar")})
    return GridPlan("survey", ("shot", "receiver"), tn, coords, "time", time, time_attrs,
                    {"channel_numbers": channel_from}, geometry)


def stacked_plan(scan: HeaderScan, kind: str, duplicates: str, sample_dim: str, samples: np.ndarray,
                 sample_attrs: dict[str, Any], conv: Conversion) -> GridPlan:
    """Post-stack data or a velocity volume: (inline, crossline) in 3-D, (cdp) in 2-D."""
    loc = scan.locations
    check_scalars(scan, "coordinate")
    coords: dict[str, tuple[Any, ...]]
    if scan.populated["inline"] and scan.populated["crossline"]:
        ils, xls = scan.keys["inline"], scan.keys["crossline"]
        tn = build_grid(
            scan,
            {"inline": loc["inline"], "crossline": loc["crossline"]},
            (ils.size, xls.size),
            lambda s, w: np.searchsorted(ils, w["inline"]) * xls.size + np.searchsorted(xls, w["crossline"]),
            duplicates,
            lambda w, i: f"inline {int(w['inline'][i])} crossline {int(w['crossline'][i])}",
        )
        dims: tuple[str, ...] = ("inline", "crossline")
        coords = {"inline": ("inline", ils), "crossline": ("crossline", xls)}
    elif scan.populated["cdp"]:
        cdps = distinct_values(scan, "cdp")
        tn = build_grid(scan, {"cdp": loc["cdp"]}, (cdps.size,), lambda s, w: np.searchsorted(cdps, w["cdp"]),
                        duplicates, lambda w, i: f"CDP {int(w['cdp'][i])}")
        dims, coords = ("cdp",), {"cdp": ("cdp", cdps)}
    else:  # no CDP numbers either: one trace per CDP, numbered in file order
        n = scan.n_traces
        tn = np.arange(1, n + 1, dtype=np.int32)
        dims, coords = ("cdp",), {"cdp": ("cdp", np.arange(1, n + 1, dtype=np.int64))}
    midpoint = not (scan.populated["cdp_x"] or scan.populated["cdp_y"])
    names = ("source_x", "source_y", "group_x", "group_y") if midpoint else ("cdp_x", "cdp_y")
    geometry = TraceGeometry("stack", conv, {n: loc[n] for n in (*names, "coordinate_scalar")}, midpoint)
    return GridPlan(kind, dims, tn, coords, sample_dim, samples, sample_attrs, {}, geometry)


def poststack_plan(scan: HeaderScan, duplicates: str, interval: Interval, conv: Conversion) -> GridPlan:
    time, attrs = time_axis(scan, interval)
    return stacked_plan(scan, "poststack", duplicates, "time", time, attrs, conv)


def depth_spacing(scan: HeaderScan, interval: Interval, options: Mapping[str, Any]) -> tuple[float, str]:
    """dz in metres: ``dz`` option, else the sample-interval field read as mm or m.

    Depth SEG-Y has no agreed unit for bytes 3217-3218: ``depth_unit="auto"`` reads values
    of 100 or more as millimetres (10000 -> 10 m) and smaller ones as metres (10 -> 10 m).
    """
    if options.get("dz") is not None:
        return float(options["dz"]), "dz option"
    if interval.value is None:
        raise InputError(f"has no depth sample interval ({interval.source}); pass --dz in metres", path=scan.path)
    unit = options.get("depth_unit") or "auto"
    if unit not in ("auto", "m", "mm"):
        raise InputError(f"--depth-unit {unit}: choose auto, m or mm")
    value = interval.value
    if unit == "auto":
        unit = "mm" if value >= 100 else "m"
    return (value / 1000.0 if unit == "mm" else float(value)), f"sample interval field {value:g} read as {unit}"


def velocity_plan(scan: HeaderScan, duplicates: str, interval: Interval, conv: Conversion,
                  options: Mapping[str, Any]) -> GridPlan:
    dz, how = depth_spacing(scan, interval, options)
    z = dz * np.arange(scan.layout.n_samples, dtype=np.float64)
    z_attrs = {"units": "m", "positive": "down", "spacing_from": how}
    if scan.populated["inline"] and scan.populated["crossline"]:
        return stacked_plan(scan, "velocity", duplicates, "z", z, z_attrs, conv)
    n = scan.n_traces
    x, how_x = section_x(scan, conv, options)
    tn = np.arange(1, n + 1, dtype=np.int32)
    return GridPlan("velocity", ("x",), tn, {"x": ("x", x, {"units": "m", "spacing_from": how_x})}, "z", z, z_attrs)


def section_x(scan: HeaderScan, conv: Conversion, options: Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """x of each trace of a velocity section: from coordinates (regular), or ``dx`` option."""
    n = scan.n_traces
    source = next((name for name in ("cdp_x", "group_x", "source_x") if scan.populated[name]), None)
    x = None
    if source:
        check_scalars(scan, "coordinate")
        loc = scan.locations
        f = fields_at(scan.layout, {source: loc[source], "s": loc["coordinate_scalar"]}, np.arange(n))
        x = conv.xy(f[source], f["s"])
    if options.get("dx") is not None:
        dx = float(options["dx"])
        x0 = float(x[0]) if x is not None else 0.0
        return x0 + dx * np.arange(n, dtype=np.float64), "dx option"
    if x is None:
        raise InputError("velocity traces carry no x coordinate (cdp_x 181, group_x 81, source_x 73 are all 0); "
                         "pass --dx in metres", path=scan.path)
    if n > 1:
        steps = np.diff(x)
        dx = float(np.median(steps))
        off = np.abs(steps - dx) > 1e-3 * abs(dx) + 1e-6
        if dx == 0 or off.any():
            k = int(np.flatnonzero(off)[0]) + 2 if off.any() else 2
            raise InputError(f"trace {k}: {source} steps {steps[k - 2]:g} m, the section's spacing is {dx:g} m; "
                             "a velocity section needs regularly spaced traces: pass --dx to impose one",
                             path=scan.path)
        x = x[0] + dx * np.arange(n, dtype=np.float64)
    return x, f"{source} coordinates"
