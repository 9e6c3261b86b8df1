"""Velocity maps from well logs: many maps on a model grid, each honouring its well.

From a ``wells`` store (``geogen ingest *.las``) and an acquisition grid (nz x nx cells
of dz x dx metres), :func:`maps_from_wells` makes ``n`` velocity maps:

1. **Despike** each log: a sample that departs more than :data:`SPIKE_FRACTION` (10 %)
   from the running median over :data:`DESPIKE_M` (1 m) of log is replaced by that
   median.  A running median keeps steps (interfaces) sharp and removes single-sample
   spikes (cycle skips, bad samples).
2. **Block** the log to the grid's depth step with a slowness (travel-time) average:
   grid node ``k`` stands for depths ``[(k - 1/2) dz, (k + 1/2) dz)`` below the log's
   depth reference, and its velocity is ``sum(h_i) / sum(h_i / v_i)`` over the valid
   samples in it (``h_i``: the thickness each sample stands for), so the vertical travel
   time across the cell is that of the log.  This is Backus averaging without density
   (the store has no density log); a cell whose valid samples cover less than
   :data:`MIN_COVERAGE` of it is left empty (NaN), and a run of at most
   :data:`MAX_GAP_CELLS` empty cells between valid ones (a short logging gap) is bridged
   linearly in slowness; longer gaps stay empty and end a window.
3. **Windows**: every run of ``nz`` consecutive valid blocked cells whose velocities lie
   inside the acquisition's ``[vmin, vmax]`` is a window; a log 2 km long gives about
   (2000 - (nz - 1) dz) / dz windows.  **What fills the top:** nothing is invented.  Maps
   are windows *inside the logged interval*; a map's depth 0 is its window's top (the
   ``window_top_m`` coordinate), not the surface, and a log that starts 600 m down
   gives maps of the rock from 600 m down only.
4. **Spread laterally** with the structures of geogen's families (flat, curve, flatfault,
   curvefault): a depth-shift field ``s(z, x)`` that is zero in the well's column
   moves the log's cells up or down away from the well: curved layers (smooth
   sinusoids of the families' wavelengths and amplitudes, plus a thickening term that
   grows with depth), and faults that never cross the well column, their far side
   thrown by the families' throws.  Every velocity in a map is one of the well's
   blocked cells (the window's, or the log's cells just above and below it, clipped
   to ``[vmin, vmax]``); values are taken at the nearest cell, so the layers stay sharp.
5. **Between wells**: where the well store gives positions along a line
   (``position_x``), each map sits on the line with its well at its well column; a
   column at distance ``X`` from the well towards the next well (at distance ``D``)
   blends in slowness the two logs at the same depth, ``1 / v = (1 - w) / v_well +
   w / v_next`` with ``w = X / D`` (where the next well has no value, the map's own well
   fills in).

Every map honours its well: the map's column at ``well_column`` equals the blocked log
of its window (``blocked_log(...)[window top cell : + nz]``) to float32 rounding
(:data:`HONOUR_TOLERANCE`, 1e-3 m/s; the shift and the blend weight are exactly zero
there).  Map ``i`` is drawn from a generator seeded by ``(seed, i)``, so it does not
depend on how many maps are made or in which blocks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.data.datasets import velocity_dataset
from geogen.data.store import open_store, require_kind, write_store
from geogen.errors import InputError
from geogen.physics.families import (
    CURVE_AMPLITUDE,
    CURVE_TERMS,
    FAMILIES,
    FAULT_DIP_DEG,
    FAULT_THROW,
    FAULTS,
    WAVELENGTH,
)

DESPIKE_M = 1.0  # running-median length along the log, m
SPIKE_FRACTION = 0.10  # a sample this far (relative) from the running median is a spike
MIN_COVERAGE = 0.5  # share of a grid cell that valid log samples must cover
MAX_GAP_CELLS = 2  # empty runs of at most this many cells inside a log are bridged (linear in slowness)
HONOUR_TOLERANCE = 1e-3  # m/s: the well column equals its blocked window to this
_TAG = 0x5E11  # seed-sequence tag of the well maps (apart from the families' sequences)


# ------------------------------------------------------------------ one log to the grid
def despike(velocity: np.ndarray, depth: np.ndarray, *, length_m: float = DESPIKE_M,
            fraction: float = SPIKE_FRACTION) -> np.ndarray:
    """Replace samples more than ``fraction`` away from the running median over ``length_m`` by that median."""
    v = np.asarray(velocity, dtype=np.float64)
    valid = np.isfinite(v)
    if valid.sum() < 3 or len(depth) < 3:
        return v.copy()
    step = float(np.median(np.diff(depth)))
    half = max(1, int(round(length_m / step / 2)))
    padded = np.pad(v, half, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows inside gaps
            median = np.nanmedian(windows, axis=1)
    spike = valid & np.isfinite(median) & (np.abs(v - median) > fraction * median)
    return np.where(spike, median, v)


def blocked_log(depth: np.ndarray, velocity: np.ndarray, dz: float, *, despike_log: bool = True) -> np.ndarray:
    """The log on grid nodes ``0, dz, 2 dz, ...`` (slowness average per cell); NaN where empty."""
    d = np.asarray(depth, dtype=np.float64)
    v = despike(velocity, d) if despike_log else np.asarray(velocity, dtype=np.float64)
    if len(d) == 0:
        return np.zeros(0)
    # thickness each sample stands for: half the gap to each neighbour (one step at the ends)
    edges = np.concatenate([[d[0] - (d[1] - d[0]) / 2 if len(d) > 1 else d[0] - dz / 2],
                            (d[1:] + d[:-1]) / 2,
                            [d[-1] + (d[-1] - d[-2]) / 2 if len(d) > 1 else d[-1] + dz / 2]])
    h = np.diff(edges)
    cell = np.floor(d / dz + 0.5).astype(np.int64)
    ok = np.isfinite(v) & (v > 0) & (cell >= 0)
    if not ok.any():
        return np.full(max(int(cell.max()) + 1, 0) if cell.size else 0, np.nan)
    n = int(cell[ok].max()) + 1
    thickness = np.bincount(cell[ok], weights=h[ok], minlength=n)
    time = np.bincount(cell[ok], weights=h[ok] / v[ok], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = thickness / time
    return bridge_gaps(np.where(thickness >= MIN_COVERAGE * dz * (1 - 1e-9), out, np.nan))


def bridge_gaps(blocked: np.ndarray, max_cells: int = MAX_GAP_CELLS) -> np.ndarray:
    """Fill runs of at most ``max_cells`` empty cells between valid ones, linearly in slowness."""
    out = blocked.copy()
    valid = np.flatnonzero(np.isfinite(blocked))
    for a, b in zip(valid[:-1], valid[1:]):
        if 1 < b - a <= max_cells + 1:
            w = (np.arange(a + 1, b) - a) / (b - a)
            out[a + 1:b] = 1.0 / ((1 - w) / blocked[a] + w / blocked[b])
    return out


def window_starts(blocked: np.ndarray, nz: int, vmin: float, vmax: float) -> np.ndarray:
    """Top cells ``k0`` of every run ``blocked[k0:k0 + nz]`` that is valid and inside [vmin, vmax]."""
    good = np.isfinite(blocked) & (blocked >= vmin) & (blocked <= vmax)
    if len(good) < nz:
        return np.zeros(0, dtype=np.int64)
    run = np.convolve(good.astype(np.int64), np.ones(nz, dtype=np.int64), mode="valid")
    return np.flatnonzero(run == nz).astype(np.int64)


def _segment(blocked: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``blocked[start:stop]`` with NaN outside the log's range (start may be negative)."""
    out = np.full(stop - start, np.nan)
    a, b = max(start, 0), min(stop, len(blocked))
    if b > a:
        out[a - start:b - start] = blocked[a:b]
    return out


def _fill_nearest(values: np.ndarray) -> np.ndarray:
    valid = np.flatnonzero(np.isfinite(values))
    idx = np.arange(len(values))
    pos = np.clip(np.searchsorted(valid, idx), 1, max(len(valid) - 1, 1))
    left, right = valid[pos - 1], valid[np.minimum(pos, len(valid) - 1)]
    nearest = np.where(np.abs(idx - left) <= np.abs(right - idx), left, right)
    return values[nearest]


# ------------------------------------------------------------------ lateral structure
def _smooth_curve(rng: np.random.Generator, nx: int, amplitude: float) -> np.ndarray:
    x = np.arange(nx) / max(nx - 1, 1)
    out = np.zeros(nx)
    for _ in range(int(rng.integers(CURVE_TERMS[0], CURVE_TERMS[1] + 1))):
        out += rng.uniform(-1, 1) * np.sin(2 * np.pi * x / rng.uniform(*WAVELENGTH) + rng.uniform(0, 2 * np.pi))
    return out * amplitude / max(np.abs(out).max(), 1e-9)


def shift_field(rng: np.random.Generator, family: str, nz: int, nx: int, column: int) -> np.ndarray:
    """Depth shift in cells ``s(z, x)``, exactly zero in ``column`` (see the module notes)."""
    z = np.arange(nz, dtype=np.float64)[:, None]
    x = np.arange(nx, dtype=np.float64)[None, :]
    s = np.zeros((nz, nx))
    if family.startswith("curve"):
        a = _smooth_curve(rng, nx, CURVE_AMPLITUDE * nz * rng.uniform(0.3, 1.0))
        b = _smooth_curve(rng, nx, CURVE_AMPLITUDE / 4 * nz * rng.uniform(0.0, 1.0))
        depth_frac = 2.0 * z / max(nz - 1, 1) - 1.0
        s = (a - a[column])[None, :] + (b - b[column])[None, :] * depth_frac
    if family.endswith("fault"):
        for _ in range(int(rng.integers(FAULTS[0], FAULTS[1] + 1))):
            dip = np.deg2rad(rng.uniform(*FAULT_DIP_DEG)) * rng.choice((-1.0, 1.0))
            throw = rng.uniform(*FAULT_THROW) * nz * rng.choice((-1.0, 1.0))
            for _try in range(20):  # a fault must not cross the well's column
                fault_x = rng.uniform(0.15, 0.85) * nx + z / np.tan(dip)
                side = np.sign(column - fault_x)
                if np.all(side == side[0]) and np.all(np.abs(column - fault_x) >= 1.0):
                    far = np.sign(x - fault_x) != side[0]
                    s = np.where(far, s - throw, s)
                    break
    return s


# ---------------------------------------------------------------------- the map set
@dataclass
class WellGrid:
    """The wells of a store blocked to a grid, with their windows."""

    names: list[str]
    position_x: np.ndarray  # (wells,) m along the line, NaN unknown
    blocked: list[np.ndarray]  # per well, node k at depth k * dz
    windows: np.ndarray  # (n_windows, 2): well index, top cell
    dz: float

    @classmethod
    def build(cls, wells: xr.Dataset, acquisition: Acquisition, *, despike_log: bool = True) -> "WellGrid":
        require_kind(wells, "wells", path=wells.encoding.get("source"))
        a = acquisition
        v = np.asarray(wells["velocity"].transpose("well", "depth").values, dtype=np.float64)
        depth = np.asarray(wells["depth"].values, dtype=np.float64)
        names = [str(n) for n in wells["name"].values] if "name" in wells.variables else \
            [f"well {i}" for i in range(v.shape[0])]
        pos = (np.asarray(wells["position_x"].values, dtype=np.float64) if "position_x" in wells.variables
               else np.full(v.shape[0], np.nan))
        blocked, windows = [], []
        for i in range(v.shape[0]):
            keep = np.isfinite(v[i])
            b = blocked_log(depth[keep], v[i][keep], a.dz, despike_log=despike_log) if keep.any() else np.zeros(0)
            blocked.append(b)
            windows += [(i, int(k)) for k in window_starts(b, a.nz, a.vmin, a.vmax)]
        if not windows:
            raise InputError(
                f"no well has {a.nz} consecutive {a.dz:g} m cells ({(a.nz - 1) * a.dz:g} m) of valid log inside "
                f"{a.vmin:g}-{a.vmax:g} m/s; use a shallower grid (nz) or longer logs",
                path=wells.encoding.get("source"))
        return cls(names, pos, blocked, np.asarray(windows, dtype=np.int64), a.dz)

    def neighbours(self, well: int) -> tuple[int | None, int | None]:
        """The nearest wells on the line to the left and right of ``well`` (None: none known)."""
        x = self.position_x
        if not np.isfinite(x[well]):
            return None, None
        others = [j for j in range(len(x)) if j != well and np.isfinite(x[j]) and x[j] != x[well]]
        left = [j for j in others if x[j] < x[well]]
        right = [j for j in others if x[j] > x[well]]
        return (max(left, key=lambda j: x[j]) if left else None, min(right, key=lambda j: x[j]) if right else None)


def one_map(grid: WellGrid, index: int, seed: int, acquisition: Acquisition,
            families: Sequence[str]) -> tuple[np.ndarray, int, int, int, str]:
    """Map ``index``: (velocity (nz, nx) float32, well, top cell, well column, family)."""
    a = acquisition
    nz, nx = a.nz, a.nx
    rng = np.random.default_rng(np.random.SeedSequence([seed, _TAG, index]))
    well, k0 = (int(v) for v in grid.windows[rng.integers(len(grid.windows))])
    family = families[int(rng.integers(len(families)))]
    column = int(rng.integers(nx))
    s = shift_field(rng, family, nz, nx, column)
    margin = nz
    own = _segment(grid.blocked[well], k0 - margin, k0 + nz + margin)
    own = np.clip(_fill_nearest(own), a.vmin, a.vmax)
    cells = np.clip(np.rint(np.arange(nz)[:, None] + s).astype(np.int64) + margin, 0, len(own) - 1)
    slowness = 1.0 / own[cells]
    # blend towards the neighbouring wells on the line, in slowness, at the same depth
    offsets = (np.arange(nx) - column) * a.dx
    for side, neighbour in zip((-1.0, 1.0), grid.neighbours(well)):
        if neighbour is None:
            continue
        distance = abs(grid.position_x[neighbour] - grid.position_x[well])
        w = np.clip(side * offsets / distance, 0.0, 1.0)
        if not w.any():
            continue
        other = _segment(grid.blocked[neighbour], k0 - margin, k0 + nz + margin)
        other = np.where(np.isfinite(other), np.clip(other, a.vmin, a.vmax), own)
        slowness = (1.0 - w)[None, :] * slowness + w[None, :] / other[cells]
    return (1.0 / slowness).astype(np.float32), well, k0, column, family


def maps_from_wells(wells: xr.Dataset | str | os.PathLike[str], n: int, acquisition: Acquisition, *,
                    seed: int = 0, families: Sequence[str] = FAMILIES, despike_log: bool = True) -> xr.Dataset:
    """``n`` velocity maps on ``acquisition``'s grid from a ``wells`` store (see the module notes).

    Returns a ``velocity`` dataset with per-map coordinates ``well`` (index in the wells
    store), ``well_name``, ``well_column`` (x index of the column that honours the well),
    ``window_top_m`` (depth of the map's top below the log's depth reference) and
    ``family``.
    """
    source = None if isinstance(wells, xr.Dataset) else Path(wells)
    ds = wells if isinstance(wells, xr.Dataset) else open_store(wells, kind="wells")
    if n < 1:
        raise InputError(f"the number of maps must be at least 1, got {n}")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    bad = [f for f in families if f not in FAMILIES]
    if bad or not families:
        raise InputError(f"unknown family {bad[0] if bad else '(none)'}; choose from {', '.join(FAMILIES)}")
    a = acquisition
    try:
        grid = WellGrid.build(ds, a, despike_log=despike_log)
    except InputError as exc:
        raise InputError(exc.detail, path=source) from None
    out = np.empty((n, a.nz, a.nx), dtype=np.float32)
    meta = {"well": np.empty(n, np.int64), "top": np.empty(n, np.int64), "column": np.empty(n, np.int64)}
    fam: list[str] = []
    for i in range(n):
        out[i], meta["well"][i], meta["top"][i], meta["column"][i], f = one_map(grid, i, seed, a, list(families))
        fam.append(f)
    per_well = np.bincount(grid.windows[:, 0], minlength=len(grid.names))
    attrs: dict[str, Any] = {
        "generator": "geogen.physics.wells", "seed": seed, "families": ",".join(families),
        "wells_store": "" if source is None else str(source),
        "blocking": f"slowness (travel-time) average over {a.dz:g} m cells centred on the grid nodes",
        "despike": (f"samples more than {SPIKE_FRACTION:.0%} from the running median over {DESPIKE_M:g} m replaced"
                    if despike_log else "off"),
        "top": "maps are windows inside the logged interval; window_top_m is each map's top below the log's "
               "depth reference; nothing above the first logged sample is filled in",
        "honour_tolerance_m_s": HONOUR_TOLERANCE,
        "windows_per_well": ", ".join(f"{name}: {k}" for name, k in zip(grid.names, per_well)),
        "vmin": a.vmin, "vmax": a.vmax,
    }
    result = velocity_dataset(out, dz=a.dz, dx=a.dx, attrs=attrs)
    return result.assign_coords(
        well=("model", meta["well"]),
        well_name=("model", np.array([grid.names[w] for w in meta["well"]], dtype=object)),
        well_column=("model", meta["column"], {"long_name": "x index of the column that equals the well's log"}),
        window_top_m=("model", meta["top"] * a.dz, {"units": "m", "long_name": "depth of the map's top in the log"}),
        family=("model", np.array(fam, dtype=object)),
    )


def honour_error(maps: xr.Dataset, wells: xr.Dataset, acquisition: Acquisition, *,
                 despike_log: bool = True) -> np.ndarray:
    """Per map, the largest |map column at the well - blocked log of its window| in m/s."""
    a = acquisition
    grid = WellGrid.build(wells, a, despike_log=despike_log)
    v = np.asarray(maps["velocity"].values, dtype=np.float64)
    err = np.empty(v.shape[0])
    for i in range(v.shape[0]):
        well, col = int(maps["well"].values[i]), int(maps["well_column"].values[i])
        k0 = int(round(float(maps["window_top_m"].values[i]) / a.dz))
        expected = grid.blocked[well][k0:k0 + a.nz].astype(np.float32).astype(np.float64)
        err[i] = float(np.max(np.abs(v[i, :, col] - expected)))
    return err


def synth_from_wells(wells_store: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, n_velocity: int,
                     preset: str = "small", acquisition: Acquisition | None = None, seed: int = 0,
                     families: Sequence[str] = FAMILIES) -> Path:
    """Write ``out_dir/velocity.zarr``: ``n_velocity`` maps from the wells (``geogen synth --wells``)."""
    acq = acquisition if acquisition is not None else Acquisition.preset(preset)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory; choose another --out", path=out)
    maps = maps_from_wells(wells_store, n_velocity, acq, seed=seed, families=families)
    target = out / "velocity.zarr"
    write_store(maps, target, kind="velocity", chunks={"velocity": {"model": 64}})
    return target
