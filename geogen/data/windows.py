"""Cut a recorded 2-D line into training pairs in the model's acquisition geometry.

A field line is far wider than a training map.  A window of the acquisition's width,
``(nx - 1) * dx``, slides along the line; under each window the velocity section is
resampled to the acquisition grid, and for every acquisition source the nearest
recorded shot is taken and its traces are resampled onto the acquisition's receiver
positions and time axis.  The result is a ``pairs`` dataset with ``origin="recorded"``.

Resampling choices, stated because they decide what the pairs mean:

- Velocity: bilinear interpolation of the section at the acquisition grid points, depth
  measured from the top of the section.  A section much finer than the grid is
  point-sampled, not averaged.
- Space: a receiver position takes the live traces on either side by linear
  interpolation when both lie within one receiver spacing of the line (the median
  spacing of the shot's own traces), else the nearest live trace within that
  distance, else it is dead (zeros, ``trace_mask`` False).  Events are not corrected
  for moveout between the two traces, so lateral interpolation is exact only where the
  recorded spacing does not alias the data.
- Time: windowed-sinc (Hann, 8 lobes) interpolation of the trace band-limited to
  the lower of the two Nyquist frequencies: where the acquisition samples more coarsely
  than the recording, this is the anti-alias low-pass of a decimation.  Acquisition
  times outside the recorded time range are zeros.
- A source takes the nearest recorded shot inside the window within half the
  acquisition's source spacing; its actual position is kept in ``shot_x(sample, source)``.
  Source and receiver depths (elevations) are those of the acquisition; no statics.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset
from geogen.data.store import check_velocity_values, require_kind
from geogen.errors import InputError

SINC_HALF_WIDTH = 8  # samples of the band-limited kernel on each side
_EPS = 1e-6


@dataclass
class WindowReport:
    """How many windows the line gave, and why the others were skipped."""

    n_windows: int = 0
    n_kept: int = 0
    n_skipped_dead: int = 0
    n_skipped_no_shot: int = 0
    skipped: list[tuple[float, str]] = field(default_factory=list)  # (window_x0 m, reason)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"{self.n_windows} windows: {self.n_kept} kept, {self.n_skipped_dead} with too few live traces, "
                f"{self.n_skipped_no_shot} without a recorded shot near every source")


# ------------------------------------------------------------------------ resampling
def linear_weights(coords: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left indices and right weights for linear interpolation of increasing ``coords`` at ``query``."""
    i0 = np.clip(np.searchsorted(coords, query, side="right") - 1, 0, len(coords) - 2)
    w = (query - coords[i0]) / (coords[i0 + 1] - coords[i0])
    return i0, np.clip(w, 0.0, 1.0)


def resample_section(v: np.ndarray, z: np.ndarray, x: np.ndarray, zq: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``v(z, x)`` at the grid ``zq`` x ``xq``."""
    iz, wz = linear_weights(z, zq)
    ix, wx = linear_weights(x, xq)
    rows = v[iz] * (1.0 - wz)[:, None] + v[iz + 1] * wz[:, None]
    return rows[:, ix] * (1.0 - wx) + rows[:, ix + 1] * wx


def sinc_kernel(t_in: np.ndarray, t_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Banded windowed-sinc weights from a regular input time axis to ``t_out``.

    Returns ``(index, weight)`` of shape ``(len(t_out), K)``: ``out[j] = sum_k
    trace[index[j, k]] * weight[j, k]``.  The cutoff is the lower Nyquist frequency of
    the two axes; rows are normalised so a constant trace stays constant, and rows
    outside the recorded time range are zero.
    """
    dt_in = float(t_in[1] - t_in[0])
    dt_out = float(t_out[1] - t_out[0]) if len(t_out) > 1 else dt_in
    ratio = min(1.0, dt_in / dt_out)  # cutoff as a fraction of the input Nyquist
    half = int(np.ceil(SINC_HALF_WIDTH / ratio))
    centre = np.rint((t_out - t_in[0]) / dt_in).astype(np.int64)
    index = centre[:, None] + np.arange(-half, half + 1)[None, :]
    u = (t_out[:, None] - t_in[0]) / dt_in - index  # distance in input samples
    weight = ratio * np.sinc(ratio * u) * 0.5 * (1.0 + np.cos(np.pi * np.clip(u / (half + 1), -1, 1)))
    inside = (index >= 0) & (index < len(t_in))
    weight = np.where(inside, weight, 0.0)
    total = weight.sum(axis=1, keepdims=True)
    recorded = (t_out >= t_in[0] - _EPS * dt_in) & (t_out <= t_in[-1] + _EPS * dt_in)
    weight = np.where(recorded[:, None] & (total != 0), weight / np.where(total == 0, 1.0, total), 0.0)
    return np.clip(index, 0, len(t_in) - 1), weight


def spatial_weights(live_x: np.ndarray, targets: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation weights ``(len(targets), len(live_x))`` and a live flag per target.

    ``live_x`` must be sorted.  See the module notes for the rule.
    """
    w = np.zeros((len(targets), len(live_x)))
    live = np.zeros(len(targets), dtype=bool)
    if len(live_x) == 0:
        return w, live
    reach = spacing * (1.0 + _EPS)
    j = np.searchsorted(live_x, targets)
    for r, (x, k) in enumerate(zip(targets, j)):
        left, right = k - 1, k
        dl = x - live_x[left] if left >= 0 else np.inf
        dr = live_x[right] - x if right < len(live_x) else np.inf
        if right < len(live_x) and dr == 0:
            w[r, right], live[r] = 1.0, True
        elif dl <= reach and dr <= reach:
            w[r, left], w[r, right] = dr / (dl + dr), dl / (dl + dr)
            live[r] = True
        elif min(dl, dr) <= reach:
            w[r, left if dl <= dr else right] = 1.0
            live[r] = True
    return w, live


# ------------------------------------------------------------------------ the line
def _require(ds: xr.Dataset, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise InputError(f"the {what} store lacks {', '.join(missing)}; it must be written by geogen ingest")


def _per_trace(var: xr.DataArray) -> xr.DataArray:
    """A per-trace variable in (shot, receiver) order, whichever order it was stored in."""
    order = [d for d in ("shot", "receiver") if d in var.dims]
    return var.transpose(*order) if len(order) == var.ndim else var


def along_line(survey: xr.Dataset) -> xr.Dataset:
    """The survey with ``source_x``/``receiver_x`` replaced by distance along the line (m).

    A recorded line carries map coordinates (easting, northing).  The line direction is
    the principal axis of the source positions, oriented from the first shot to the
    last; distances are measured from the first shot's projection.  The map coordinates
    are kept as ``source_x_map``/``source_y_map``/``receiver_x_map``/``receiver_y_map``.
    Use it when the velocity section's ``x`` is distance along the line from the first
    shot.
    """
    require_kind(survey, "survey")
    _require(survey, ("source_x", "source_y", "receiver_x", "receiver_y"), "survey")
    sx, sy = (np.asarray(survey[n].values, dtype=np.float64) for n in ("source_x", "source_y"))
    good = np.isfinite(sx) & np.isfinite(sy)
    if good.sum() < 2:
        raise InputError("the survey has fewer than two shots with coordinates; a line needs at least two")
    pts = np.column_stack([sx[good], sy[good]])
    centre = pts.mean(axis=0)
    direction = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
    if np.dot(pts[-1] - pts[0], direction) < 0:
        direction = -direction
    origin = np.dot(pts[0] - centre, direction)

    def distance(x: xr.DataArray, y: xr.DataArray) -> xr.DataArray:
        d = (x - centre[0]) * direction[0] + (y - centre[1]) * direction[1] - origin
        return d.assign_attrs(units="m", long_name="distance along the line from the first shot")

    out = survey.copy()
    for who in ("source", "receiver"):
        x, y = survey[f"{who}_x"], survey[f"{who}_y"]
        out[f"{who}_x_map"], out[f"{who}_y_map"] = x, y
        out[f"{who}_x"] = distance(x, y)
    out.attrs["line_azimuth_deg"] = float(np.degrees(np.arctan2(direction[0], direction[1])) % 360.0)
    return out


class _Line:
    """The survey's geometry in memory and its shots on demand (time-resampled, cached)."""

    def __init__(self, survey: xr.Dataset, t_out: np.ndarray, cache_size: int) -> None:
        _require(survey, ("seismic", "source_x", "receiver_x", "time"), "survey")
        self.seismic = survey["seismic"].transpose("shot", "receiver", "time")
        n_shot, n_rec = self.seismic.shape[:2]
        self.source_x = np.asarray(survey["source_x"].values, dtype=np.float64).reshape(n_shot)
        rx = np.asarray(_per_trace(survey["receiver_x"]).values, dtype=np.float64)
        self.receiver_x = np.broadcast_to(rx if rx.ndim == 2 else rx[None], (n_shot, n_rec))
        mask = (np.asarray(_per_trace(survey["trace_mask"]).values, dtype=bool) if "trace_mask" in survey.variables
                else np.ones((n_shot, n_rec), bool))
        self.mask = np.broadcast_to(mask, (n_shot, n_rec)) & np.isfinite(self.receiver_x)
        self.ffid = np.asarray(survey["ffid"].values).reshape(n_shot) if "ffid" in survey.variables else None
        t_in = np.asarray(survey["time"].values, dtype=np.float64)
        if len(t_in) < 2 or not np.allclose(np.diff(t_in), t_in[1] - t_in[0], rtol=1e-6, atol=0) or t_in[1] <= t_in[0]:
            raise InputError("the survey's time axis is not regularly sampled; resample it before cutting windows")
        self.kernel = sinc_kernel(t_in, t_out)
        self.usable = np.isfinite(self.source_x) & self.mask.any(axis=1)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray, float]] = OrderedDict()
        self._cache_size = cache_size

    def spacing(self, shot: int) -> float:
        """The shot's nominal receiver spacing: median gap between its trace positions."""
        xs = np.unique(self.receiver_x[shot][np.isfinite(self.receiver_x[shot])])
        gaps = np.diff(xs)
        return float(np.median(gaps)) if gaps.size else np.inf

    def live_positions(self, shot: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.flatnonzero(self.mask[shot])
        order = np.argsort(self.receiver_x[shot, idx], kind="stable")
        return idx[order], self.receiver_x[shot, idx[order]]

    def shot(self, shot: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Live traces of a shot on the output time axis ``(n_live, nt)``, their x, the spacing."""
        if shot in self._cache:
            self._cache.move_to_end(shot)
            return self._cache[shot]
        idx, xs = self.live_positions(shot)
        raw = np.asarray(self.seismic.isel(shot=shot).values, dtype=np.float64)[idx]
        index, weight = self.kernel
        traces = np.einsum("rjk,jk->rj", raw[:, index], weight) if len(idx) else np.zeros((0, index.shape[0]))
        entry = (traces, xs, self.spacing(shot))
        self._cache[shot] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry


def _section(velocity: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _require(velocity, ("velocity", "z", "x"), "velocity")
    var = velocity["velocity"]
    if "model" in var.dims:
        if var.sizes["model"] != 1:
            raise InputError(
                f"the velocity store holds {var.sizes['model']} models; window cutting needs the one section "
                "of the line (select it with .isel(model=[i]))"
            )
        var = var.isel(model=0)
    v = np.asarray(var.transpose("z", "x").values, dtype=np.float64)
    z = np.asarray(velocity["z"].values, dtype=np.float64)
    x = np.asarray(velocity["x"].values, dtype=np.float64)
    if len(z) < 2 or len(x) < 2 or np.any(np.diff(z) <= 0) or np.any(np.diff(x) <= 0):
        raise InputError("the velocity section's z and x coordinates must increase, with at least 2 points each")
    return v, z, x


def cut_windows(
    survey: xr.Dataset,
    velocity: xr.Dataset,
    acquisition: Acquisition,
    *,
    stride_m: float | None = None,
    min_live_fraction: float = 0.8,
) -> tuple[xr.Dataset, WindowReport]:
    """Cut a recorded line into ``pairs`` in ``acquisition``'s geometry, one per window.

    ``survey`` is a ``survey`` store of a 2-D line, ``velocity`` a ``velocity`` store
    holding one section ``velocity(model=1, z, x)`` whose ``x`` is in the survey's
    frame (distance along the line).  Windows start at the section's first ``x`` and
    move by ``stride_m`` (default: half a window).  Returns the pairs (coordinate
    ``window_x0(sample)``, ``trace_mask(sample, source, receiver)``, the recorded
    ``shot_x``/``shot_index`` per source) and a :class:`WindowReport`.  The kept pairs
    are held in memory (one record per window), so very small strides on long lines
    cost memory in proportion.
    """
    require_kind(survey, "survey", path=survey.encoding.get("source"))
    require_kind(velocity, "velocity", path=velocity.encoding.get("source"))
    if not 0.0 <= min_live_fraction <= 1.0:
        raise InputError(f"min_live_fraction must lie in [0, 1], not {min_live_fraction:g}")
    a = acquisition
    width = (a.nx - 1) * a.dx
    stride = width / 2 if stride_m is None else float(stride_m)
    if not stride > 0:
        raise InputError(f"the window stride must be positive, not {stride:g} m")

    v, z, x = _section(velocity)
    check_velocity_values(v, what="the velocity section")
    length, depth = x[-1] - x[0], z[-1] - z[0]
    if length < width - _EPS * width:
        raise InputError(
            f"the velocity section spans {length:g} m along the line, shorter than one window "
            f"({a.nx - 1} x {a.dx:g} m = {width:g} m); use a longer section or a narrower acquisition"
        )
    if depth < (a.nz - 1) * a.dz - _EPS * depth:
        raise InputError(
            f"the velocity section reaches {depth:g} m below its top, the acquisition grid needs "
            f"{(a.nz - 1) * a.dz:g} m ({a.nz - 1} x {a.dz:g} m)"
        )

    t_out = a.dt * np.arange(a.nt)
    line = _Line(survey, t_out, cache_size=4 * a.n_sources)
    src = np.asarray(a.source_x)
    rec = np.asarray(a.receiver_x)
    src_spacing = float(np.min(np.diff(np.sort(src)))) if a.n_sources > 1 else width
    tolerance = src_spacing / 2 * (1 + _EPS)
    zq = z[0] + a.dz * np.arange(a.nz)
    xq = a.dx * np.arange(a.nx)

    n_windows = int(np.floor((length - width) / stride + _EPS)) + 1
    report = WindowReport(n_windows=n_windows)
    kept: dict[str, list[np.ndarray]] = {k: [] for k in ("x0", "velocity", "seismic", "mask", "shot", "shot_x")}
    for k in range(n_windows):
        x0 = x[0] + k * stride
        shots = _pick_shots(line, x0 + src, x0, x0 + width, tolerance)
        if shots is None:
            report.n_skipped_no_shot += 1
            report.skipped.append((float(x0), "no shot"))
            continue
        masks, weights = [], []
        for s in shots:
            _, xs = line.live_positions(s)
            w, live = spatial_weights(xs, x0 + rec, line.spacing(s))
            masks.append(live)
            weights.append(w)
        mask = np.stack(masks)
        if mask.mean() < min_live_fraction:
            report.n_skipped_dead += 1
            report.skipped.append((float(x0), f"{mask.mean():.0%} live"))
            continue
        record = np.empty((a.n_sources, a.nt, a.n_receivers), dtype=np.float32)
        for i, (s, w) in enumerate(zip(shots, weights)):
            traces, _, _ = line.shot(s)
            record[i] = (w @ traces).T
        kept["x0"].append(np.float64(x0))
        kept["velocity"].append(resample_section(v, z, x, zq, x0 + xq).astype(np.float32))
        kept["seismic"].append(record)
        kept["mask"].append(mask)
        kept["shot"].append(np.asarray(shots, dtype=np.int64))
        kept["shot_x"].append(line.source_x[shots])
    report.n_kept = len(kept["x0"])
    if not report.n_kept:
        raise InputError(f"no window along the line could be cut ({report}); lower min_live_fraction or check that "
                         "the velocity section and the shots share the same x frame")

    pairs = pairs_dataset(
        np.stack(kept["velocity"]), np.stack(kept["seismic"]), a, origin="recorded",
        attrs={"window_stride_m": stride, "min_live_fraction": min_live_fraction,
               "window_report": json.dumps(report.as_dict())},
    )
    pairs = pairs.assign_coords(
        window_x0=("sample", np.asarray(kept["x0"]), {"units": "m", "long_name": "window start along the line"})
    )
    pairs["trace_mask"] = (("sample", "source", "receiver"), np.stack(kept["mask"]),
                           {"long_name": "True where a live recorded trace fed the receiver"})
    pairs["shot_index"] = (
        ("sample", "source"),
        np.stack(kept["shot"]),
        {"long_name": "index of the recorded shot in the survey"},
    )
    pairs["shot_x"] = (
        ("sample", "source"),
        np.stack(kept["shot_x"]),
        {"units": "m", "long_name": "recorded source position along the line"},
    )
    if line.ffid is not None:
        pairs["shot_ffid"] = (("sample", "source"), line.ffid[np.stack(kept["shot"])])
    return pairs, report


def _pick_shots(line: _Line, targets: np.ndarray, lo: float, hi: float, tolerance: float) -> list[int] | None:
    """The nearest usable shot inside ``[lo, hi]`` for each target, or None if one is missing."""
    slack = _EPS * max(hi - lo, 1.0)
    inside = np.flatnonzero(line.usable & (line.source_x >= lo - slack) & (line.source_x <= hi + slack))
    if inside.size == 0:
        return None
    picked = []
    for t in targets:
        d = np.abs(line.source_x[inside] - t)
        j = int(np.argmin(d))
        if d[j] > tolerance:
            return None
        picked.append(int(inside[j]))
    return picked
