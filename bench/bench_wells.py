"""Maps from well logs: time to build 10 000 maps, and how closely they honour their wells.

Writes the demo line's three LAS wells (geogen.physics.line, the same logs that
``geogen synth --line`` writes; no Devito run), ingests them with the LAS adapter, then
times :func:`geogen.physics.wells.maps_from_wells` for N maps on the ``small`` and the
``openfwi`` grids and reports the largest |map column at the well - blocked log| over
all maps.  ``--plot PATH`` draws maps made from one log beside its blocked log.

    python bench/bench_wells.py [--n 10000] [--plot /tmp/wells_maps.png]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np


def demo_wells(directory: Path) -> Path:
    """The demo line's LAS files and positions (its geology; logs down to 1600 m so that the openfwi
    grid's 690 m windows fit), ingested into a wells store."""
    import geogen
    from geogen.physics.line import EASTING0, NORTHING, WELLS, well_log, write_las

    length, depth = 4000.0, 1600.0
    rng = np.random.default_rng(np.random.SeedSequence([0, 0x11E]))
    rng.normal(size=1)  # not the modelled line's noise: only the logs matter here
    files, rows = [], []
    for k, (name, frac, top, depth_unit, sonic_unit) in enumerate(WELLS):
        x = round(frac * length / 10.0) * 10.0
        d, v = well_log(x, top, depth - 5.0, length, rng)
        path = directory / f"{name}.las"
        write_las(path, name, f"DEMO-{k + 1:02d}", d, v, depth_unit, sonic_unit, EASTING0 + x, NORTHING)
        files.append(path)
        rows.append((name, EASTING0 + x))
    with open(directory / "positions.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("name", "x"), *rows])
    geogen.ingest(files, directory / "wells.zarr", positions_file=directory / "positions.csv")
    return directory / "wells.zarr"


def plot(wells_store: Path, path: Path, n: int = 8) -> None:
    """Maps from the first well alone, with its raw and blocked log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geogen.acquisition import Acquisition
    from geogen.data.store import open_store
    from geogen.physics.wells import WellGrid, maps_from_wells

    acq = Acquisition.preset("openfwi")
    wells = open_store(wells_store, kind="wells").isel(well=[0])
    maps = maps_from_wells(wells, n, acq, seed=3)
    grid = WellGrid.build(wells, acq)
    fig, axes = plt.subplots(2, n // 2 + 1, figsize=(3.0 * (n // 2 + 1), 6.2), constrained_layout=True)
    depth = np.asarray(wells["depth"].values)
    raw = np.asarray(wells["velocity"].values[0], dtype=float)
    ax = axes[0, 0]
    ax.plot(raw, depth, lw=0.4, color="0.6", label="log (NaN: gaps)")
    ax.step(grid.blocked[0], acq.dz * np.arange(len(grid.blocked[0])), where="mid", color="k", lw=1.0,
            label=f"blocked ({acq.dz:g} m)")
    ax.set_ylim(depth[np.isfinite(raw)].max() + 10, 0)
    ax.set_xlabel("m/s")
    ax.set_ylabel("depth, m")
    ax.set_title(str(wells["name"].values[0]))
    ax.legend(fontsize=7)
    axes[1, 0].axis("off")
    v = maps["velocity"].values
    for i in range(n):
        a = axes[i % 2, 1 + i // 2]
        top = float(maps["window_top_m"].values[i])
        a.imshow(v[i], cmap="viridis", vmin=1500, vmax=4500,
                 extent=(0, (acq.nx - 1) * acq.dx, top + (acq.nz - 1) * acq.dz, top))
        col = int(maps["well_column"].values[i]) * acq.dx
        a.axvline(col, color="w", lw=0.8, ls="--")
        a.set_title(f"{maps['family'].values[i]}, top {top:g} m", fontsize=8)
        a.tick_params(labelsize=7)
    fig.suptitle("Maps from one sonic log (openfwi grid 70 x 70 at 10 m); dashed: the well column")
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000, help="maps per grid")
    parser.add_argument("--plot", type=Path, default=None, help="draw maps from one log into this PNG")
    args = parser.parse_args()

    from geogen.acquisition import Acquisition
    from geogen.data.store import open_store
    from geogen.physics.wells import honour_error, maps_from_wells

    with tempfile.TemporaryDirectory() as tmp:
        store = demo_wells(Path(tmp))
        wells = open_store(store, kind="wells")
        print(f"wells: {wells.sizes['well']} logs, {wells.sizes['depth']} depth samples")
        for preset in ("small", "openfwi"):
            acq = Acquisition.preset(preset)
            t0 = time.perf_counter()
            maps = maps_from_wells(wells, args.n, acq, seed=0)
            seconds = time.perf_counter() - t0
            err = honour_error(maps, wells, acq)
            print(f"{preset:8s} {acq.nz} x {acq.nx}: {args.n} maps in {seconds:.2f} s "
                  f"({seconds / args.n * 1e3:.3f} ms per map); windows per well: {maps.attrs['windows_per_well']}; "
                  f"largest |well column - blocked log| {err.max():.3g} m/s")
        if args.plot is not None:
            plot(store, args.plot)
            print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
