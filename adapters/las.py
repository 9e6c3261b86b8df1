"""LAS well logs (1.2, 2.0; 3.0 as far as lasio reads it) -> a ``wells`` store.

One row per well: ``velocity(well, depth)`` float32 m/s, ``depth`` in metres (positive
down, from the log's own depth reference), NaN where the log has no value.  lasio
parses the file (wrapped data, negative STEP, the NULL value); this module decides
which curve is the compressional velocity and converts it:

- a compressional sonic (slowness) curve: DTCO, DTC, DT, DTP, DT4P, AC, ACTC, ... in
  us/ft (``v = 304800 / DT``) or us/m (``v = 1e6 / DT``); shear sonic (DTS, DTSM, ...)
  is never taken unless asked for by name;
- or a velocity curve (VP, VEL, ...) in m/s, ft/s (x 0.3048) or km/s (x 1000).

Where several curves fit, the first in :data:`P_SONIC` order (then velocity curves) is
taken and the others are listed in the store; ``curve=NAME`` (``--curve``) picks one.
The depth index is converted from M or FT (F, FEET, FOOT) to metres.  The LAS NULL
value becomes NaN, and so does every velocity outside :data:`VELOCITY_BOUNDS`
(1000-7000 m/s: a P velocity outside it is a wrong unit or a bad sample); both are
counted per well.

Several files make one store.  Their depths are merged onto one axis: the union of the
logs' depth samples (rounded to 0.1 mm) when that is at most twice as long as the
longest log (logs on a common sampling), else a regular axis at the finest log step
with every log linearly interpolated onto it (never across a gap); the store says
which (``depth_axis`` attribute).  Positions along a 2-D line, which LAS files do not
carry, come from ``positions={NAME: X_METRES}`` (``--position NAME=X``) or a CSV file
(``--positions FILE`` with columns ``name,x``), matched against the well name, UWI or
file name.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geogen.adapters.base import Adapter, IngestRequest
from geogen.data.store import encoding_for
from geogen.errors import InputError

#: Compressional velocities outside this range (m/s) are taken as bad samples (NaN).
VELOCITY_BOUNDS = (1000.0, 7000.0)

#: Compressional sonic mnemonics, in order of preference.
P_SONIC = ("DTCO", "DTC", "DT", "DTP", "DT4P", "DTCM", "DT24", "DTLN", "DTLF", "DTL", "AC", "ACTC", "ACCO", "ACC",
           "ACL", "SONIC", "SON")
#: Velocity-curve mnemonics, in order of preference (taken after any sonic).
P_VELOCITY = ("VP", "VELP", "PVEL", "VPVEL", "VEL", "VELOCITY", "VINT", "VSONIC")
#: Shear-wave curves: not a P velocity, never picked by default.
SHEAR = ("DTS", "DTSM", "DTSH", "DT4S", "DTSF", "DTSD", "DTST", "DTSHEAR", "ACS", "AS", "VS", "VSH", "VSV")

#: Slowness units -> the constant K in ``v = K / DT`` (m/s).
SLOWNESS_UNITS = {"US/FT": 304800.0, "US/F": 304800.0, "US/M": 1.0e6}
#: Velocity units -> factor to m/s.
VELOCITY_UNITS = {"M/S": 1.0, "MPS": 1.0, "FT/S": 0.3048, "F/S": 0.3048, "FPS": 0.3048, "KM/S": 1000.0}
#: Depth units -> factor to metres.
DEPTH_UNITS = {"M": 1.0, "METER": 1.0, "METERS": 1.0, "METRE": 1.0, "METRES": 1.0,
               "FT": 0.3048, "F": 0.3048, "FEET": 0.3048, "FOOT": 0.3048}
TIME_INDEX = ("TIME", "ETIM", "TIM", "TWT")

DEPTH_ROUND = 4  # decimals of a metre when merging depth samples (0.1 mm)

log = logging.getLogger("geogen.las")


def normalise_unit(unit: str) -> str:
    """``'usec/ft'`` -> ``'US/FT'``, ``'m/sec'`` -> ``'M/S'``, ``'µs/m'`` -> ``'US/M'``, ``'feet'`` -> ``'FT'``."""
    u = unit.strip().upper().replace(" ", "").replace("\u00b5", "U").replace("\u03bc", "U")
    for long, short in (("MICROSECONDS", "US"), ("MICROSECOND", "US"), ("MICROSEC", "US"), ("USEC", "US"),
                        ("FEET", "FT"), ("FOOT", "FT"), ("METRES", "M"), ("METERS", "M"), ("METRE", "M"),
                        ("METER", "M")):
        u = u.replace(long, short)
    if "/" in u:
        num, _, den = u.partition("/")
        den = {"SEC": "S", "SECOND": "S", "SECONDS": "S"}.get(den, den)
        u = f"{num}/{den}"
    return u


def _base(mnemonic: str) -> str:
    """lasio names repeated curves ``DT:1``, ``DT:2``: the part before the colon, upper case."""
    return mnemonic.split(":")[0].strip().upper()


@dataclass
class WellLog:
    """One well's compressional velocity log, in metres and m/s (ascending depth)."""

    name: str
    uwi: str
    location: str
    depth_m: np.ndarray
    velocity: np.ndarray  # float64 m/s, NaN where no value
    curve: str
    curve_unit: str
    conversion: str
    depth_unit: str
    source_file: str
    map_x: float = np.nan
    map_y: float = np.nan
    n_null: int = 0
    n_out_of_range: int = 0
    alternatives: list[str] = field(default_factory=list)
    position_x: float = np.nan

    @property
    def n_valid(self) -> int:
        return int(np.isfinite(self.velocity).sum())


# ------------------------------------------------------------------------- reading
def looks_like_las(path: Path) -> bool:
    """True when the first non-blank, non-comment line of the file starts a ~V(ersion) section."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if b"\x00" in head:
        return False
    for line in head.decode("latin-1").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        return text.upper().startswith("~V")
    return False


def _header_value(section: Any, *names: str) -> str:
    for name in names:
        if name in section:
            value = str(section[name].value).strip()
            if value:
                return value
    return ""


def _number(text: str) -> float:
    match = re.match(r"\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)", text)
    return float(match.group(1)) if match else np.nan


def _curve_list(curves: list[Any]) -> str:
    return ", ".join(f"{c.mnemonic} ({c.unit})" if c.unit else c.mnemonic for c in curves)


def _classify(unit: str) -> tuple[str, float] | None:
    """('slowness', K) or ('velocity', factor) for a curve unit, or None."""
    u = normalise_unit(unit)
    if u in SLOWNESS_UNITS:
        return "slowness", SLOWNESS_UNITS[u]
    if u in VELOCITY_UNITS:
        return "velocity", VELOCITY_UNITS[u]
    return None


def _units_error(curve: Any, path: Path) -> InputError:
    return InputError(
        f"curve {curve.mnemonic} has unit {curve.unit!r}, which geogen cannot convert to m/s "
        "(sonic: us/ft or us/m; velocity: m/s, ft/s or km/s); fix the unit in the ~C section", path=path)


def pick_curve(curves: list[Any], wanted: str | None, path: Path) -> tuple[Any, str, float, list[str]]:
    """The velocity curve of a file: (curve, 'slowness'|'velocity', constant, other candidates)."""
    data_curves = curves[1:]
    if wanted:
        hits = [c for c in data_curves if c.mnemonic.upper() == wanted.upper()] or \
               [c for c in data_curves if _base(c.mnemonic) == wanted.upper()]
        if not hits:
            raise InputError(f"has no curve {wanted!r} (--curve); its curves: {_curve_list(data_curves)}", path=path)
        kind = _classify(hits[0].unit)
        if kind is None:
            raise _units_error(hits[0], path)
        return hits[0], kind[0], kind[1], []
    ranked: list[tuple[int, Any, str, float]] = []
    unconvertible: list[Any] = []
    for c in data_curves:
        base = _base(c.mnemonic)
        if base in SHEAR:
            continue
        kind = _classify(c.unit)
        if base in P_SONIC or base in P_VELOCITY:
            if kind is None:
                unconvertible.append(c)
                continue
            rank = P_SONIC.index(base) if base in P_SONIC else len(P_SONIC) + P_VELOCITY.index(base)
        elif kind is not None and kind[0] == "slowness" and base.startswith(("DT", "AC")):
            rank = 100  # another compressional sonic, e.g. DTCO3
        elif kind is not None and kind[0] == "velocity" and base.startswith("V"):
            rank = 200
        else:
            continue
        ranked.append((rank, c, *kind))
    if not ranked:
        if unconvertible:
            raise _units_error(unconvertible[0], path)
        raise InputError(
            "has no compressional sonic (DT, DTC, DTCO, AC, ... in us/ft or us/m) or velocity curve (m/s, ft/s, "
            f"km/s); its curves: {_curve_list(data_curves) or 'none'}; pass --curve NAME if one of them is", path=path)
    ranked.sort(key=lambda item: item[0])
    _, best, kind_name, constant = ranked[0]
    return best, kind_name, constant, [c.mnemonic for _, c, *_ in ranked[1:]]


def _depth_factor(las: Any, path: Path) -> tuple[float, str]:
    index = las.curves[0]
    if _base(index.mnemonic) in TIME_INDEX or normalise_unit(index.unit) in ("S", "MS"):
        raise InputError(f"is indexed by time ({index.mnemonic} in {index.unit or 'no unit'}); geogen reads "
                         "depth-indexed logs", path=path)
    unit = index.unit.strip() or (las.well["STRT"].unit.strip() if "STRT" in las.well else "")
    if not unit:
        raise InputError(f"its depth index {index.mnemonic} has no unit; write it in the ~C line "
                         f"(e.g. '{index.mnemonic}.M' or '{index.mnemonic}.FT')", path=path)
    factor = DEPTH_UNITS.get(normalise_unit(unit))
    if factor is None:
        raise InputError(f"depth unit {unit!r} of {index.mnemonic} cannot be converted to metres; "
                         "geogen reads M or FT (F, FEET)", path=path)
    return factor, unit


def read_las(path: str | Path, *, curve: str | None = None) -> WellLog:
    """Read one LAS file into a :class:`WellLog`; one :class:`InputError` for anything wrong."""
    import lasio

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if not looks_like_las(path):
        raise InputError("is not a LAS file (it does not start with a ~Version section)", path=path)
    logging.getLogger("lasio").setLevel(logging.ERROR)
    try:
        las = lasio.read(str(path), null_policy="strict", engine="normal")
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"cannot be read as LAS ({first})", path=path) from None
    if len(las.curves) < 2:
        raise InputError(f"holds {len(las.curves)} curve(s); a log needs a depth index and a data curve", path=path)
    factor, depth_unit = _depth_factor(las, path)
    chosen, kind, constant, others = pick_curve(list(las.curves), curve, path)
    depth = np.asarray(las.curves[0].data, dtype=np.float64) * factor
    raw = np.asarray(chosen.data, dtype=np.float64)
    n_null = int((~np.isfinite(raw)).sum())
    if kind == "slowness":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(raw > 0, constant / raw, np.nan)
        conversion = f"v = {constant:g} / {chosen.mnemonic} ({chosen.unit})"
    else:
        v = raw * constant
        conversion = f"v = {constant:g} * {chosen.mnemonic} ({chosen.unit})"
    finite = np.isfinite(v)
    inside = finite & (v >= VELOCITY_BOUNDS[0]) & (v <= VELOCITY_BOUNDS[1])
    n_out = int((np.isfinite(raw) & ~inside).sum())
    v = np.where(inside, v, np.nan)
    keep = np.isfinite(depth)
    depth, v = depth[keep], v[keep]
    order = np.argsort(depth, kind="stable")  # negative STEP: depth decreasing in the file
    depth, v = depth[order], v[order]
    depth, first = np.unique(np.round(depth, DEPTH_ROUND), return_index=True)
    v = v[first]
    if not np.isfinite(v).any():
        raise InputError(
            f"curve {chosen.mnemonic} has no valid value: {n_null} NULL, {n_out} outside "
            f"{VELOCITY_BOUNDS[0]:g}-{VELOCITY_BOUNDS[1]:g} m/s after '{conversion}'; check the curve and its unit",
            path=path)
    well = las.well
    name = _header_value(well, "WELL") or path.stem
    return WellLog(
        name=name, uwi=_header_value(well, "UWI", "API", "UBI"), location=_header_value(well, "LOC", "LOCA"),
        depth_m=depth, velocity=v, curve=chosen.mnemonic, curve_unit=chosen.unit, conversion=conversion,
        depth_unit=depth_unit, source_file=path.name,
        map_x=_number(_header_value(well, "XCOORD", "X", "XWELL", "EASTING", "EAST", "LONG", "LON")),
        map_y=_number(_header_value(well, "YCOORD", "Y", "YWELL", "NORTHING", "NORTH", "LATI", "LAT")),
        n_null=n_null, n_out_of_range=n_out, alternatives=others,
    )


# ----------------------------------------------------------------------- positions
def read_positions_csv(path: str | Path) -> dict[str, float]:
    """``name,x`` rows (a header with name/well/uwi and x/position/x_m columns is optional)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the well positions ({exc.__class__.__name__})", path=path) from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(cell.strip() for cell in r)]
    if not rows:
        raise InputError("holds no well positions; expected rows 'name,x_metres'", path=path)
    head = [c.strip().lower() for c in rows[0]]
    name_col, x_col, start = 0, 1, 0
    if any(np.isnan(_number(c)) for c in rows[0][1:2]) or len(rows[0]) < 2:
        names = [i for i, c in enumerate(head) if c in ("name", "well", "uwi", "well_name")]
        xs = [i for i, c in enumerate(head) if c in ("x", "x_m", "position", "position_x", "distance")]
        if not names or not xs:
            raise InputError(f"header {rows[0]} needs a name column (name, well or uwi) and an x column "
                             "(x, x_m or position)", path=path)
        name_col, x_col, start = names[0], xs[0], 1
    out: dict[str, float] = {}
    for k, row in enumerate(rows[start:], start=start + 1):
        if len(row) <= max(name_col, x_col) or np.isnan(_number(row[x_col])):
            raise InputError(f"line {k}: expected 'name,x_metres', got {','.join(row)!r}", path=path)
        out[row[name_col].strip()] = _number(row[x_col])
    return out


def parse_position_options(items: list[str]) -> dict[str, float]:
    """``["W-1=1200", "W-2=2500.5"]`` -> ``{"W-1": 1200.0, "W-2": 2500.5}``."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            x = float(value)
        except ValueError:
            x = np.nan
        if not sep or not name.strip() or not np.isfinite(x):
            raise InputError(f"--position {item!r}: expected NAME=X_METRES, e.g. --position W-1=1200")
        out[name.strip()] = x
    return out


def assign_positions(logs: list[WellLog], positions: dict[str, float], where: str) -> None:
    """Set ``position_x`` of every log whose name, UWI or file (stem) matches a key."""
    for key, x in positions.items():
        k = key.strip().lower()
        hits = [w for w in logs if k in (w.name.lower(), w.uwi.lower(), w.source_file.lower(),
                                          Path(w.source_file).stem.lower())]
        if not hits:
            known = ", ".join(w.name for w in logs)
            raise InputError(f"{where}: no well named {key!r} among the files (wells: {known})")
        for w in hits:
            w.position_x = float(x)


# ------------------------------------------------------------------------ the store
def depth_axis(logs: list[WellLog]) -> tuple[np.ndarray, str]:
    """The store's depth axis and how it was made (see the module notes)."""
    union = np.unique(np.concatenate([w.depth_m for w in logs]))
    longest = max(len(w.depth_m) for w in logs)
    if len(union) <= 2 * longest:
        return union, "union of the logs' depth samples"
    steps = [float(np.median(np.diff(w.depth_m))) for w in logs if len(w.depth_m) > 1]
    step = min(steps) if steps else 1.0
    n = int(np.floor((union[-1] - union[0]) / step + 1e-9)) + 1
    axis = np.round(union[0] + step * np.arange(n), DEPTH_ROUND)
    return axis, f"regular every {step:g} m; logs interpolated linearly onto it (not across gaps)"


def place(log_: WellLog, axis: np.ndarray) -> np.ndarray:
    """A log on the store's depth axis: exact where the axis holds its samples, else linear inside runs."""
    out = np.full(axis.shape, np.nan)
    pos = np.searchsorted(axis, log_.depth_m)
    exact = (pos < len(axis)) & (axis[np.minimum(pos, len(axis) - 1)] == log_.depth_m)
    if exact.all():
        out[pos] = log_.velocity
        return out
    d, v = log_.depth_m, log_.velocity
    i = np.clip(np.searchsorted(d, axis, side="right") - 1, 0, max(len(d) - 2, 0))
    if len(d) < 2:
        return out
    w = (axis - d[i]) / (d[i + 1] - d[i])
    inside = (w >= 0) & (w <= 1)
    out = np.where(inside, v[i] * (1 - w) + v[i + 1] * w, np.nan)  # NaN at either end makes NaN: no bridging
    return out


def wells_dataset(logs: list[WellLog]) -> xr.Dataset:
    """The ``wells`` store of a list of logs (see conventions: ``velocity(well, depth)``)."""
    axis, how = depth_axis(logs)
    v = np.stack([place(w, axis) for w in logs]).astype(np.float32)

    def text(values: list[str]) -> np.ndarray:
        return np.array(values, dtype=object)

    per_well = {
        "name": (text([w.name for w in logs]), {"long_name": "well name (~W WELL, else the file name)"}),
        "uwi": (text([w.uwi for w in logs]), {"long_name": "unique well identifier (~W UWI/API), '' if none"}),
        "location": (text([w.location for w in logs]), {"long_name": "~W LOC, '' if none"}),
        "curve": (text([w.curve for w in logs]), {"long_name": "LAS curve the velocity comes from"}),
        "curve_unit": (text([w.curve_unit for w in logs]), {"long_name": "unit of that curve in the file"}),
        "conversion": (text([w.conversion for w in logs]), {"long_name": "conversion applied to the curve"}),
        "other_curves": (text([", ".join(w.alternatives) for w in logs]),
                         {"long_name": "other curves that would fit (pick one with --curve)"}),
        "depth_unit": (text([w.depth_unit for w in logs]), {"long_name": "depth unit in the file"}),
        "source_file": (text([w.source_file for w in logs]), {"long_name": "LAS file"}),
        "position_x": (np.array([w.position_x for w in logs]),
                       {"units": "m", "long_name": "position along the line (NaN: not given)"}),
        "map_x": (np.array([w.map_x for w in logs]), {"long_name": "surface x from the ~W section (NaN: none)"}),
        "map_y": (np.array([w.map_y for w in logs]), {"long_name": "surface y from the ~W section (NaN: none)"}),
        "n_null": (np.array([w.n_null for w in logs], dtype=np.int64), {"long_name": "NULL samples of the curve"}),
        "n_out_of_range": (np.array([w.n_out_of_range for w in logs], dtype=np.int64),
                           {"long_name": "samples set to NaN for lying outside the velocity bounds"}),
    }
    ds = xr.Dataset(
        {"velocity": (("well", "depth"), v, {"units": "m/s", "long_name": "P-wave velocity from the well log"}),
         **{k: ("well", arr, attrs) for k, (arr, attrs) in per_well.items()}},
        coords={"well": ("well", np.arange(len(logs), dtype=np.int64)),
                "depth": ("depth", axis, {"units": "m", "positive": "down",
                                          "long_name": "depth below the log's depth reference"})},
        attrs={"geogen_kind": "wells", "source_format": "las", "depth_axis": how,
               "velocity_bounds_m_s": list(VELOCITY_BOUNDS),
               "conversions": "sonic us/ft: v = 304800 / DT; us/m: v = 1e6 / DT; velocity ft/s x 0.3048, km/s x 1000"},
    )
    return ds


class LasAdapter(Adapter):
    """LAS well logs -> a ``wells`` store (``--curve``, ``--position``, ``--positions``)."""

    name = "las"

    def sniff(self, path: Path) -> bool:
        try:
            return path.is_file() and (path.suffix.lower() == ".las" or looks_like_las(path))
        except OSError:
            return False

    def ingest(self, request: IngestRequest, out: Path) -> None:
        if request.kind not in ("auto", "wells"):
            raise InputError(f"LAS files hold well logs; --kind must be auto or wells, not {request.kind}",
                             path=request.paths[0])
        opts = request.options
        logs = [read_las(p, curve=opts.get("curve")) for p in request.paths]
        if opts.get("positions_file"):
            assign_positions(logs, read_positions_csv(opts["positions_file"]), str(opts["positions_file"]))
        assign_positions(logs, dict(opts.get("positions") or {}), "--position")
        ds = wells_dataset(logs)
        ds.to_zarr(out, mode="w", zarr_format=3, consolidated=False, encoding=encoding_for(ds))
