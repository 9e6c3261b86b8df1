"""Validation throughput (pairs per second) with 1 and 2 dask workers, small preset.

Writes a pairs store of N Devito-modelled layered maps (the check models them again),
then times ``geogen.evaluation.physics_check.validate`` end to end (open, model, compare,
rewrite the store).  The in-process run is timed after one warm-up pair so that the
one-off Devito compile (cached on disk afterwards) is not counted; dask runs include
starting the local cluster, as a user's command does.  Prints the machine load, because
the figures mean little on a shared machine without it.

    python bench/bench_validate.py [--n 64] [--preset small]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def layered(n: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nz = shape[0]
    out = np.empty((n, *shape), np.float32)
    for i in range(n):
        d1, d2 = sorted(rng.integers(nz // 5, nz - 2, 2))
        v = np.sort(rng.uniform(1600, 4400, 3))
        out[i], out[i, d1:], out[i, d2:] = v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="pairs in the store")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from geogen.acquisition import Acquisition
    from geogen.data.datasets import pairs_dataset
    from geogen.data.store import write_store
    from geogen.evaluation.physics_check import validate
    from geogen.physics import forward

    acq = Acquisition.preset(args.preset)
    maps = layered(args.n, acq.shape)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "pairs.zarr"
        t0 = time.perf_counter()
        seismic = forward(maps, acq)
        write_store(pairs_dataset(maps, seismic, acq, origin="simulated"), store)
        print(f"preset {args.preset}: {acq.seismic_shape} per pair, grid {acq.shape} + {acq.absorbing_width} "
              f"absorbing cells; {args.n} pairs modelled for the store in {time.perf_counter() - t0:.2f} s")
        for workers in args.workers:
            t0 = time.perf_counter()
            summary = validate(store, workers=workers)
            wall = time.perf_counter() - t0
            print(f"workers={workers}, cold (cluster start included): {args.n} pairs in {wall:.2f} s = "
                  f"{args.n / wall:.1f} pairs/s (median rel L2 {summary['physics_rel_l2']['median']:.2e})")
            if workers > 1:
                from dask.distributed import LocalCluster

                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
                    validate(store, scheduler=cluster.scheduler_address, write=False)  # compile on each worker
                    t0 = time.perf_counter()
                    validate(store, scheduler=cluster.scheduler_address)
                    wall = time.perf_counter() - t0
                print(f"workers={workers}, warm cluster (--scheduler): {args.n} pairs in {wall:.2f} s = "
                      f"{args.n / wall:.1f} pairs/s")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine)")


if __name__ == "__main__":
    main()
