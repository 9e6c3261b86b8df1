"""A realistic demo 2-D line for ``workflows/field_adapt.yaml`` (``geogen synth --line DIR``).

Writes into ``DIR``:

- ``velocity.sgy``: the velocity section of the line (4 km by default; one trace per 10 m CDP, samples
  every 10 m in depth; CDP x/y with scalar -100, the depth interval in the sample
  interval field in mm), ``LENGTH`` m long and ``DEPTH`` m deep: eight layers that dip
  gently and drape over a low anticline, a normal fault (60 degrees, 50 m throw,
  hanging wall to the east), velocities that grow with depth inside each layer and
  change by a few per cent along the line;
- ``shots.sgy``: shot gathers modelled on that section with geogen's physics (Devito,
  the ``small`` preset's wavelet, time step and absorbing layer), a shot every 10 m,
  each recorded by a split spread of receivers every 10 m out to +-320 m (fewer at the
  line's ends), 0.5 s; weak white noise (1 % of the record's RMS) added.  Headers:
  FFID, channel, field record, source and group x/y (scalar -100), offset, source
  depth and receiver elevation (scalar 1), sample count and interval;
- ``wells/DEMO-1.las`` ... : sonic logs of three wells along the line, read from the
  same geological model at 0.1524 m, with thin beds (4 % correlated fluctuation over a
  metre or so), 1 % noise, cycle skips (spikes), NULL gaps, and logs that start
  100-200 m below the surface; in us/ft against feet, us/ft against metres and us/m
  against metres (written with lasio);
- ``wells/positions.csv``: the wells' positions in the section's x frame;
- ``velocity_maps.zarr``: unpaired velocity maps "from elsewhere" (the ``curvefault``
  family on the ``small`` preset's grid).

x is easting in metres: the line runs east from :data:`EASTING0` at northing
:data:`NORTHING`.  Everything is seeded; the same arguments give the same files.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geogen.acquisition import Acquisition
from geogen.errors import InputError
from geogen.run.atomic import atomic_path

EASTING0 = 431000.0  # x of the line's first CDP, m
NORTHING = 6512000.0  # y of the whole (east-west) line, m
LAYER_TOPS = (0.0, 70.0, 150.0, 240.0, 340.0, 450.0, 570.0, 690.0)  # at the west end, m
LAYER_VELOCITY = (1650.0, 1900.0, 2150.0, 2450.0, 2800.0, 3150.0, 3550.0, 3950.0)  # m/s at each layer's top
GRADIENT = 0.35  # 1/s: velocity increase with depth inside a layer
DIP = 0.02  # interfaces deepen eastwards by this slope
ANTICLINE = (0.35, 45.0, 0.12)  # centre (of the line), height (m), half-width (of the line)
FAULT = (0.62, 60.0, 50.0)  # surface x (of the line), dip (deg), throw (m, east side down)
LATERAL = 0.04  # relative velocity change from the west end to the east end
WELLS = (("DEMO-1", 0.10, 120.0, "FT", "US/F"), ("DEMO-2", 0.30, 200.0, "M", "US/F"),
         ("DEMO-3", 0.70, 150.0, "M", "US/M"))  # name, position (of the line), first logged depth, units
LOG_STEP_M = 0.1524


def velocity_at(z: np.ndarray, x: np.ndarray, length: float) -> np.ndarray:
    """The demo model's P velocity (m/s) at depths ``z`` and positions ``x`` (m from the line start)."""
    z, x = np.broadcast_arrays(np.asarray(z, dtype=np.float64), np.asarray(x, dtype=np.float64))
    centre, height, half = ANTICLINE
    fx, dip_deg, throw = FAULT
    fault_x = fx * length + z / np.tan(np.deg2rad(dip_deg))
    z_rock = np.where(x > fault_x, z - throw, z)  # hanging wall: the layers sit `throw` deeper
    uplift = height * np.exp(-0.5 * ((x / length - centre) / half) ** 2)
    tops = np.asarray(LAYER_TOPS)[:, None] + DIP * x.ravel()[None, :] - uplift.ravel()[None, :]
    tops[0] = -np.inf
    layer = (z_rock.ravel()[None, :] >= tops).sum(axis=0) - 1
    top = tops[layer, np.arange(layer.size)]
    below = np.where(np.isfinite(top), z_rock.ravel() - top, z_rock.ravel())
    v = np.asarray(LAYER_VELOCITY)[layer] + GRADIENT * np.maximum(below, 0.0)
    v = v * (1.0 + LATERAL * (x.ravel() / length - 0.5))
    return np.clip(v, 1500.0, 4500.0).reshape(z.shape)


def section(length: float, depth: float, step: float = 10.0) -> np.ndarray:
    """The velocity section on a ``step`` grid: float32 ``(nz, nx)``."""
    z = step * np.arange(int(round(depth / step)) + 1)
    x = step * np.arange(int(round(length / step)) + 1)
    return velocity_at(z[:, None], x[None, :], length).astype(np.float32)


def line_acquisition(length: float, depth: float, *, step: float = 10.0, shot_spacing: float = 10.0,
                     nt: int = 500) -> Acquisition:
    """The whole line as one acquisition (every shot, a receiver every ``step`` along the line)."""
    small = Acquisition.preset("small")
    nx = int(round(length / step)) + 1
    return Acquisition.preset(
        "small", nz=int(round(depth / step)) + 1, nx=nx, dz=step, dx=step,
        source_x=tuple(float(s) for s in np.arange(0.0, length + 1e-6, shot_spacing)),
        receiver_x=tuple(step * i for i in range(nx)), nt=nt, dt=small.dt)


# --------------------------------------------------------------------------- SEG-Y
def write_section_segy(path: Path, velocity: np.ndarray, step: float, x0: float = EASTING0,
                       y: float = NORTHING) -> None:
    """A velocity section as SEG-Y: one trace per CDP (x/y scalar -100), samples along depth (interval in mm)."""
    import segyio

    nz, nx = velocity.shape
    spec = segyio.spec()
    spec.format = 5
    spec.samples = list(range(nz))
    spec.tracecount = nx
    spec.endian = "big"
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: int(round(step * 1000)), segyio.BinField.Samples: nz,
                      segyio.BinField.MeasurementSystem: 1})
        for i in range(nx):
            x = int(round((x0 + step * i) * 100))
            f.header[i] = {segyio.TraceField.CDP: i + 1, segyio.TraceField.SourceGroupScalar: -100,
                           segyio.TraceField.CDP_X: x, segyio.TraceField.CDP_Y: int(round(y * 100)),
                           segyio.TraceField.GroupX: x, segyio.TraceField.GroupY: int(round(y * 100)),
                           segyio.TraceField.TRACE_SAMPLE_COUNT: nz,
                           segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(round(step * 1000))}
            f.trace[i] = np.ascontiguousarray(velocity[:, i], dtype=np.float32)


def write_shots_segy(path: Path, records: np.ndarray, acquisition: Acquisition, *, spread: float | None = None,
                     x0: float = EASTING0, y: float = NORTHING, first_ffid: int = 1001,
                     live: np.ndarray | None = None) -> int:
    """Shot gathers ``records (source, time, receiver)`` as SEG-Y; returns the trace count.

    Each shot keeps the receivers within ``spread`` m of it (all when None) and, where
    given, ``live[receiver]``; channel numbers count the spread's receiver slots from
    the far west one, so one channel is one offset.
    """
    import segyio

    a = acquisition
    rx = np.asarray(a.receiver_x, dtype=np.float64)
    spacing = float(np.min(np.diff(rx))) if len(rx) > 1 else 1.0
    reach = np.inf if spread is None else spread * (1 + 1e-9)
    traces = []
    for s, sx in enumerate(a.source_x):
        for r in np.flatnonzero((np.abs(rx - sx) <= reach) & (True if live is None else live)):
            channel = int(round((rx[r] - sx + (0 if spread is None else spread)) / spacing)) + 1
            traces.append((s, int(r), channel if spread is not None else int(r) + 1))
    spec = segyio.spec()
    spec.format = 5
    spec.samples = list(range(a.nt))
    spec.tracecount = len(traces)
    spec.endian = "big"
    dt_us = int(round(a.dt * 1e6))
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: dt_us, segyio.BinField.Samples: a.nt,
                      segyio.BinField.MeasurementSystem: 1})
        for k, (s, r, channel) in enumerate(traces):
            sx, gx = a.source_x[s], rx[r]
            f.header[k] = {
                segyio.TraceField.FieldRecord: first_ffid + s, segyio.TraceField.TraceNumber: channel,
                segyio.TraceField.TRACE_SEQUENCE_FILE: k + 1, segyio.TraceField.EnergySourcePoint: s + 1,
                segyio.TraceField.SourceGroupScalar: -100,
                segyio.TraceField.SourceX: int(round((x0 + sx) * 100)), segyio.TraceField.SourceY: int(round(y * 100)),
                segyio.TraceField.GroupX: int(round((x0 + gx) * 100)), segyio.TraceField.GroupY: int(round(y * 100)),
                segyio.TraceField.offset: int(round(gx - sx)),
                segyio.TraceField.ElevationScalar: 1, segyio.TraceField.SourceDepth: int(round(a.source_z)),
                segyio.TraceField.ReceiverGroupElevation: -int(round(a.receiver_z)),
                segyio.TraceField.TRACE_SAMPLE_COUNT: a.nt, segyio.TraceField.TRACE_SAMPLE_INTERVAL: dt_us,
            }
            f.trace[k] = np.ascontiguousarray(records[s, :, r], dtype=np.float32)
    return len(traces)


# ----------------------------------------------------------------------------- LAS
def well_log(x: float, first_depth: float, last_depth: float, length: float, rng: np.random.Generator,
             ) -> tuple[np.ndarray, np.ndarray]:
    """A sonic-like velocity log at ``x``: the model plus thin beds, noise, spikes and NULL gaps (NaN)."""
    depth = np.arange(first_depth, last_depth, LOG_STEP_M)
    v = velocity_at(depth, np.full(depth.shape, x), length)
    # thin beds: AR(1) fluctuation with a correlation length of ~1 m, 4 % std
    rho = np.exp(-LOG_STEP_M / 1.0)
    e = rng.normal(0.0, 0.04 * np.sqrt(1 - rho ** 2), depth.size)
    thin = np.empty_like(e)
    thin[0] = rng.normal(0.0, 0.04)
    for i in range(1, e.size):
        thin[i] = rho * thin[i - 1] + e[i]
    v = v * (1.0 + thin) * (1.0 + rng.normal(0.0, 0.01, depth.size))
    spikes = rng.choice(depth.size, size=max(3, depth.size // 1500), replace=False)
    v[spikes] *= rng.choice((0.7, 1.35), size=spikes.size)  # cycle skips
    for _ in range(2):  # logging gaps (casing points, bad hole)
        start = rng.integers(depth.size // 5, depth.size - depth.size // 5)
        v[start:start + int(rng.uniform(4.0, 12.0) / LOG_STEP_M)] = np.nan
    return depth, v


def write_las(path: Path, name: str, uwi: str, depth_m: np.ndarray, velocity: np.ndarray, depth_unit: str,
              sonic_unit: str, easting: float, northing: float) -> None:
    """A LAS 2.0 file (written with lasio) of a compressional sonic in ``sonic_unit`` against ``depth_unit``."""
    import lasio

    las = lasio.LASFile()
    las.well["WELL"].value = name
    las.well["UWI"].value = uwi
    las.well["COMP"].value = "geogen demo"
    las.well["LOC"].value = f"demo line, x = {easting:.1f} m"
    las.well.append(lasio.HeaderItem("XCOORD", unit="M", value=f"{easting:.2f}", descr="surface easting"))
    las.well.append(lasio.HeaderItem("YCOORD", unit="M", value=f"{northing:.2f}", descr="surface northing"))
    factor = 1.0 / 0.3048 if depth_unit == "FT" else 1.0
    constant = 304800.0 if sonic_unit == "US/F" else 1.0e6
    depth = np.round(depth_m * factor, 4)
    sonic = np.round(constant / velocity, 4)
    mnemonic = "DTCO" if name.endswith("2") else "DT"
    las.append_curve("DEPT", depth, unit=depth_unit, descr="depth")
    las.append_curve("GR", np.round(60.0 + 0.02 * (velocity - 2500.0), 2), unit="GAPI", descr="gamma ray")
    las.append_curve(mnemonic, sonic, unit=sonic_unit, descr="compressional sonic slowness")
    with open(path, "w") as fh:
        las.write(fh, version=2.0, fmt="%.4f")


# ------------------------------------------------------------------------- the line
@dataclass(frozen=True)
class LineResult:
    """The demo line's files."""

    directory: Path
    shots: Path
    velocity: Path
    wells: tuple[Path, ...]
    positions: Path
    velocity_maps: Path
    n_shots: int
    n_traces: int


def demo_line(out_dir: str | os.PathLike[str], *, length: float = 4000.0, depth: float = 800.0,
              n_maps: int = 2000, seed: int = 0, workers: int = 1, noise: float = 0.01,
              spread: float = 320.0) -> LineResult:
    """Write the demo line into ``out_dir`` (see the module notes); existing files are replaced."""
    from geogen.data.datasets import velocity_dataset
    from geogen.data.store import write_store
    from geogen.physics.families import generate_velocity
    from geogen.physics.simulate import forward

    small = Acquisition.preset("small")
    if length < 2 * (small.nx - 1) * small.dx or depth < (small.nz - 1) * small.dz:
        raise InputError(f"the demo line must be at least {2 * (small.nx - 1) * small.dx:g} m long and "
                         f"{(small.nz - 1) * small.dz:g} m deep (two windows of the small preset)")
    if n_maps < 1:
        raise InputError(f"the number of unpaired maps must be at least 1, got {n_maps}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory; choose another --line", path=out)
    (out / "wells").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x11E]))
    step = small.dx
    vel = section(length, depth, step)
    acq = line_acquisition(length, depth, step=step)
    records = forward(vel, acq, workers=workers)[0]
    rms = float(np.sqrt(np.mean(records.astype(np.float64) ** 2)))
    records = records + rng.normal(0.0, noise * rms, records.shape).astype(np.float32)

    with atomic_path(out / "velocity.sgy") as tmp:
        write_section_segy(tmp, vel, step)
    with atomic_path(out / "shots.sgy") as tmp:
        n_traces = write_shots_segy(tmp, records, acq, spread=spread)

    las_files = []
    positions = []
    for k, (name, frac, top, depth_unit, sonic_unit) in enumerate(WELLS):
        x = round(frac * length / step) * step
        d, v = well_log(x, top, depth - 5.0, length, rng)
        path = out / "wells" / f"{name}.las"
        write_las(path, name, f"DEMO-{k + 1:02d}-0{k + 1}", d, v, depth_unit, sonic_unit, EASTING0 + x, NORTHING)
        las_files.append(path)
        positions.append((name, EASTING0 + x))
    with open(out / "wells" / "positions.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "x"])
        writer.writerows([(n, f"{x:.1f}") for n, x in positions])

    maps = generate_velocity("curvefault", n_maps, small.shape, seed=seed, vmin=small.vmin, vmax=small.vmax)
    write_store(velocity_dataset(maps, dz=small.dz, dx=small.dx,
                                 attrs={"generator": "geogen.physics.families", "family": "curvefault", "seed": seed}),
                out / "velocity_maps.zarr", kind="velocity", chunks={"velocity": {"model": 64}})
    (out / "line.json").write_text(json.dumps({
        "length_m": length, "depth_m": depth, "step_m": step, "easting0_m": EASTING0, "northing_m": NORTHING,
        "shots": len(acq.source_x), "traces": n_traces, "spread_m": spread, "record_s": acq.nt * acq.dt,
        "noise_of_rms": noise, "wells": [{"name": n, "x": x} for n, x in positions], "seed": seed,
        "unpaired_maps": n_maps}, indent=2) + "\n")
    return LineResult(out, out / "shots.sgy", out / "velocity.sgy", tuple(las_files), out / "wells" / "positions.csv",
                      out / "velocity_maps.zarr", len(acq.source_x), n_traces)
