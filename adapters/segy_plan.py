"""From trace headers to a grid: which kind of data a file holds and where each trace goes.

A plan maps every kept trace to one cell of a regular grid (``shot x receiver`` for shot
gathers, ``inline x crossline`` or ``cdp`` for post-stack data and velocity volumes, ``x``
for a velocity section) and carries the geometry in metres and the sample axis.  It
holds no samples: the writer streams those block by block afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geogen.adapters.segy_format import binary_field
from geogen.adapters.segy_headers import HeaderTable
from geogen.errors import InputError

BIN_MEASUREMENT = 3255  # 1 = metres, 2 = feet
FOOT = 0.3048


@dataclass
class GridPlan:
    """Where each trace goes, and the coordinates of the grid it builds."""

    kind: str  # survey | poststack | velocity
    dims: tuple[str, ...]
    trace_number: np.ndarray  # grid-shaped int64, 1-based trace in the file, 0 where none
    coords: dict[str, tuple[Any, ...]]
    sample_dim: str
    sample_values: np.ndarray
    sample_attrs: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.trace_number.shape)

    @property
    def mask(self) -> np.ndarray:
        return self.trace_number > 0


def choose_kind(t: HeaderTable, requested: str) -> str:
    """``--kind`` if given; else inline/crossline -> poststack, FFIDs with channels -> survey,
    distinct CDP numbers -> 2-D poststack."""
    if requested != "auto":
        if requested not in ("survey", "poststack", "velocity"):
            raise InputError(f"--kind {requested}: a SEG-Y file holds survey, poststack or velocity data", path=t.path)
        return requested
    if t.populated("inline") and t.populated("crossline"):
        return "poststack"
    if np.unique(t["ffid"]).size > 1 and t.populated("channel"):
        return "survey"
    # One shot or a 2-D stack?  Stacks carry CDP coordinates (bytes 181/185); field shots rarely do.
    if t.populated("ffid") and t.populated("channel") and not t.populated("cdp_x"):
        return "survey"
    if t.populated("cdp") and np.unique(t["cdp"]).size == t.layout.n_traces:
        return "poststack"
    if t.populated("ffid") and t.populated("channel"):
        return "survey"
    raise InputError(
        "cannot tell what this SEG-Y file holds: no inline/crossline (bytes 189/193), no FFID with "
        "channels (bytes 9/13) and no distinct CDP numbers (byte 21); pass --kind and --header NAME=BYTE",
        path=t.path)


def keep_unique(cell: np.ndarray, policy: str, describe: Callable[[int], str], path: Any) -> np.ndarray:
    """Indices of the traces to keep (ascending), one per cell, by the duplicates policy."""
    uniq, first = np.unique(cell, return_index=True)
    if uniq.size == cell.size:
        return np.arange(cell.size)
    if policy == "error":
        is_first = np.zeros(cell.size, bool)
        is_first[first] = True
        b = int(np.flatnonzero(~is_first)[0])
        a = int(first[np.searchsorted(uniq, cell[b])])
        raise InputError(f"traces {a + 1} and {b + 1} both hold {describe(b)} ({cell.size - uniq.size} duplicate "
                         "traces in all); pass --duplicates first or --duplicates last to keep one of each",
                         path=path)
    if policy == "first":
        return np.sort(first)
    _, last_rev = np.unique(cell[::-1], return_index=True)
    return np.sort(cell.size - 1 - last_rev)


def _length_factor(t: HeaderTable) -> float:
    unit = binary_field(t.layout.binary_header, BIN_MEASUREMENT, 2, t.layout.endian)
    return FOOT if unit == 2 else 1.0


def _time_axis(t: HeaderTable, kept: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Time in s from the sample interval (us) and the delay recording time (ms, byte 109)."""
    interval = t.interval()
    if interval <= 0:
        raise InputError("has no sample interval (binary header bytes 3217-3218 and trace bytes 117-118 are 0); "
                         "fix the binary header", path=t.path)
    delay = t["delay"][kept]
    if delay.size and np.any(delay != delay[0]):
        k = int(kept[np.flatnonzero(delay != delay[0])[0]])
        raise InputError(f"trace {k + 1} has delay recording time {int(t['delay'][k])} ms (bytes 109-110), "
                         f"trace {int(kept[0]) + 1} has {int(delay[0])} ms; geogen needs one time axis: "
                         "split the file or apply the delays first", path=t.path)
    t0 = float(delay[0]) / 1000.0 if delay.size else 0.0
    time = t0 + (interval * 1e-6) * np.arange(t.layout.n_samples, dtype=np.float64)
    return time, {"units": "s", "long_name": "two-way time", "delay_recording_time_ms": int(delay[0]) if delay.size else 0}


def _grid(keys: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Sorted unique values per key, each trace's index per key, and the flat cell index."""
    axes, index = [], []
    for k in keys:
        u = np.unique(k)
        axes.append(u)
        index.append(np.searchsorted(u, k))
    shape = tuple(a.size for a in axes)
    cell = np.ravel_multi_index(tuple(index), shape) if len(keys) > 1 else index[0]
    return axes, index, cell.astype(np.int64)


def _trace_numbers(shape: tuple[int, ...], cell: np.ndarray, kept: np.ndarray) -> np.ndarray:
    tn = np.zeros(int(np.prod(shape)), dtype=np.int64)
    tn[cell[kept]] = kept + 1
    return tn.reshape(shape)


def _on_grid(values: np.ndarray, shape: tuple[int, ...], cell: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per-trace values scattered onto the grid, NaN where no trace."""
    out = np.full(int(np.prod(shape)), np.nan)
    out[cell[kept]] = values[kept]
    return out.reshape(shape)


def survey_plan(t: HeaderTable, duplicates: str) -> GridPlan:
    """Shot gathers: one row per FFID, one column per channel number."""
    ffid, channel = t["ffid"], t["channel"].copy()
    if not ffid.any():
        raise InputError(f"FFID (bytes {t.locations['ffid']}-{t.locations['ffid'] + 3}) is zero in every trace, so "
                         "shots cannot be told apart; pass --header ffid=BYTE or --kind poststack", path=t.path)
    channel_from = "header"
    if not channel.any():  # no channel numbers: number the traces within each shot in file order
        order = np.argsort(ffid, kind="stable")
        sorted_ffid = ffid[order]
        starts = np.r_[0, np.flatnonzero(sorted_ffid[1:] != sorted_ffid[:-1]) + 1]
        run = np.arange(ffid.size) - np.repeat(starts, np.diff(np.r_[starts, ffid.size]))
        channel[order] = run + 1
        channel_from = "trace order within each FFID"
    (shots, chans), (si, _), cell = _grid([ffid, channel])
    kept = keep_unique(cell, duplicates, lambda i: f"FFID {ffid[i]} channel {channel[i]}", t.path)
    shape = (shots.size, chans.size)
    unit = _length_factor(t)
    sx = t.scaled("source_x", "coordinate_scalar", traces=kept) * unit
    sy = t.scaled("source_y", "coordinate_scalar", traces=kept) * unit
    gx = t.scaled("group_x", "coordinate_scalar", traces=kept) * unit
    gy = t.scaled("group_y", "coordinate_scalar", traces=kept) * unit
    gelev = t.scaled("receiver_elevation", "elevation_scalar", traces=kept) * unit
    selev = t.scaled("source_elevation", "elevation_scalar", traces=kept) * unit
    sdepth = t.scaled("source_depth", "elevation_scalar", traces=kept) * unit
    offset = t["offset"].astype(np.float64) * unit
    # The first kept trace of each shot speaks for its source position.
    _, first = np.unique(si[kept], return_index=True)
    lead = kept[first]
    m = {"units": "m"}
    depth = {"units": "m", "positive": "down"}
    coords: dict[str, tuple[Any, ...]] = {
        "ffid": ("shot", shots.astype(np.int64), {"long_name": "field file identification number"}),
        "channel": ("receiver", chans.astype(np.int64), {"long_name": f"channel number ({channel_from})"}),
        "source_x": ("shot", sx[lead], m),
        "source_y": ("shot", sy[lead], m),
        "source_z": ("shot", (sdepth - selev)[lead], {**depth, "long_name": "source depth below datum (source depth - surface elevation)"}),
        "receiver_x": (("shot", "receiver"), _on_grid(gx, shape, cell, kept), m),
        "receiver_y": (("shot", "receiver"), _on_grid(gy, shape, cell, kept), m),
        "receiver_z": (("shot", "receiver"), _on_grid(-gelev, shape, cell, kept), {**depth, "long_name": "receiver depth below datum (-group elevation)"}),
        "offset": (("shot", "receiver"), _on_grid(offset, shape, cell, kept), m),
    }
    time, time_attrs = _time_axis(t, kept)
    return GridPlan("survey", ("shot", "receiver"), _trace_numbers(shape, cell, kept), coords,
                    "time", time, time_attrs, {"channel_numbers": channel_from})


def _cdp_xy(t: HeaderTable, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unit = _length_factor(t)
    if t.populated("cdp_x") or t.populated("cdp_y"):
        return (t.scaled("cdp_x", "coordinate_scalar", traces=kept) * unit,
                t.scaled("cdp_y", "coordinate_scalar", traces=kept) * unit)
    # No CDP coordinates: the source-receiver midpoint is the next best estimate.
    sx = t.scaled("source_x", "coordinate_scalar", traces=kept)
    gx = t.scaled("group_x", "coordinate_scalar", traces=kept)
    sy = t.scaled("source_y", "coordinate_scalar", traces=kept)
    gy = t.scaled("group_y", "coordinate_scalar", traces=kept)
    return 0.5 * (sx + gx) * unit, 0.5 * (sy + gy) * unit


def stacked_plan(t: HeaderTable, kind: str, duplicates: str, sample_dim: str,
                 samples: np.ndarray, sample_attrs: dict[str, Any]) -> GridPlan:
    """Post-stack data or a velocity volume: (inline, crossline) in 3-D, (cdp) in 2-D."""
    three_d = t.populated("inline") and t.populated("crossline")
    if three_d:
        il, xl = t["inline"], t["crossline"]
        (ils, xls), _, cell = _grid([il, xl])
        kept = keep_unique(cell, duplicates, lambda i: f"inline {il[i]} crossline {xl[i]}", t.path)
        dims: tuple[str, ...] = ("inline", "crossline")
        shape: tuple[int, ...] = (ils.size, xls.size)
        coords: dict[str, tuple[Any, ...]] = {"inline": ("inline", ils), "crossline": ("crossline", xls)}
    else:
        cdp = t["cdp"] if t.populated("cdp") else np.arange(1, t.layout.n_traces + 1)
        (cdps,), _, cell = _grid([cdp])
        kept = keep_unique(cell, duplicates, lambda i: f"CDP {cdp[i]}", t.path)
        dims, shape = ("cdp",), (cdps.size,)
        coords = {"cdp": ("cdp", cdps)}
    x, y = _cdp_xy(t, kept)
    coords["cdp_x"] = (dims, _on_grid(x, shape, cell, kept), {"units": "m"})
    coords["cdp_y"] = (dims, _on_grid(y, shape, cell, kept), {"units": "m"})
    return GridPlan(kind, dims, _trace_numbers(shape, cell, kept), coords, sample_dim, samples, sample_attrs)


def poststack_plan(t: HeaderTable, duplicates: str) -> GridPlan:
    everything = np.arange(t.layout.n_traces)
    time, attrs = _time_axis(t, everything)
    return stacked_plan(t, "poststack", duplicates, "time", time, attrs)


def depth_spacing(t: HeaderTable, options: dict[str, Any]) -> tuple[float, str]:
    """dz in metres: ``dz`` option, else the sample-interval field read as mm or m.

    Depth SEG-Y has no agreed unit for bytes 3217-3218: ``depth_unit="auto"`` reads values
    of 100 or more as millimetres (10000 -> 10 m) and smaller ones as metres (10 -> 10 m).
    """
    if options.get("dz") is not None:
        return float(options["dz"]), "dz option"
    interval = t.interval()
    if interval <= 0:
        raise InputError("has no depth sample interval (bytes 3217-3218 are 0); pass --dz in metres", path=t.path)
    unit = options.get("depth_unit") or "auto"
    if unit not in ("auto", "m", "mm"):
        raise InputError(f"--depth-unit {unit}: choose auto, m or mm")
    if unit == "auto":
        unit = "mm" if interval >= 100 else "m"
    return (interval / 1000.0 if unit == "mm" else float(interval)), f"sample interval field {interval} read as {unit}"


def velocity_plan(t: HeaderTable, duplicates: str, options: dict[str, Any]) -> GridPlan:
    dz, how = depth_spacing(t, options)
    z = dz * np.arange(t.layout.n_samples, dtype=np.float64)
    z_attrs = {"units": "m", "positive": "down", "spacing_from": how}
    if t.populated("inline") and t.populated("crossline"):
        return stacked_plan(t, "velocity", duplicates, "z", z, z_attrs)
    n = t.layout.n_traces
    x, how_x = section_x(t, options)
    tn = np.arange(1, n + 1, dtype=np.int64)
    plan = GridPlan("velocity", ("x",), tn, {"x": ("x", x, {"units": "m", "spacing_from": how_x})}, "z", z, z_attrs)
    return plan


def section_x(t: HeaderTable, options: dict[str, Any]) -> tuple[np.ndarray, str]:
    """x of each trace of a velocity section: from coordinates (regular), or ``dx`` option."""
    n = t.layout.n_traces
    all_traces = np.arange(n)
    source = next((name for name in ("cdp_x", "group_x", "source_x") if t.populated(name)), None)
    x = t.scaled(source, "coordinate_scalar", traces=all_traces) * _length_factor(t) if source else None
    if options.get("dx") is not None:
        dx = float(options["dx"])
        x0 = float(x[0]) if x is not None else 0.0
        return x0 + dx * np.arange(n, dtype=np.float64), "dx option"
    if x is None:
        raise InputError("velocity traces carry no x coordinate (cdp_x 181, group_x 81, source_x 73 are all 0); "
                         "pass --dx in metres", path=t.path)
    if n > 1:
        steps = np.diff(x)
        dx = float(np.median(steps))
        off = np.abs(steps - dx) > 1e-3 * abs(dx) + 1e-6
        if dx == 0 or off.any():
            k = int(np.flatnonzero(off)[0]) + 2 if off.any() else 2
            raise InputError(f"trace {k}: {source} steps {steps[k - 2]:g} m, the section's spacing is {dx:g} m; "
                             "a velocity section needs regularly spaced traces: pass --dx to impose one",
                             path=t.path)
        x = x[0] + dx * np.arange(n, dtype=np.float64)
    return x, f"{source} coordinates"
