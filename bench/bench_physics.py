"""Benchmark geogen's Devito modelling on the OpenFWI geometry; prints what it measured.

1. Seconds per shot of ``geogen.physics.forward`` against Devito's own compiled
   operator applied directly to the same shots in the same process (the limit), and
   geogen's overhead over it.
2. Pairs per second of ``geogen.physics.synth``: with ``workers=1`` (in-process) and
   ``workers=2`` (its own LocalCluster), and on an already running cluster of 1 and of
   2 worker processes joined by address; end to end (compile, and cluster start where
   synth starts it, included) and in steady state (first to last finished block).

Usage: python bench/bench_physics.py [N_PAIRS] [REPEATS]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from geogen.acquisition import Acquisition
from geogen.physics import forward, generate_velocity
from geogen.physics.modelling import damping_profile, modeller_for
from geogen.physics.synth import PAIRS_BLOCK, synth


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished children (dask workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def per_shot(acq: Acquisition, maps: np.ndarray) -> tuple[float, float]:
    """(geogen s/shot, direct Devito s/shot), interleaved map by map so load drifts hit both."""
    forward(maps[0], acq)  # compile or load the operator
    mod = modeller_for(acq)
    op, w = mod.operator, acq.absorbing_width
    t_geo = t_dev = 0.0
    for v in maps:
        t0 = time.perf_counter()
        forward(v, acq)
        t_geo += time.perf_counter() - t0
        vp = np.pad(v.T, w, mode="edge")  # the same map loaded by hand, outside the timing
        mod.m.data[:] = 1.0 / (vp * vp)
        mod.damp.data[:] = damping_profile(acq, vp)
        mod._velocity_key = None
        t0 = time.perf_counter()
        for s in range(acq.n_sources):
            mod.src.coordinates.data[0, :] = (acq.source_x[s], acq.source_z)
            mod.u.data_with_halo[:] = 0.0
            op.apply(time_m=0, time_M=acq.nt, dt=acq.dt)
        t_dev += time.perf_counter() - t0
    shots = len(maps) * acq.n_sources
    return t_geo / shots, t_dev / shots


def synth_rate(n: int, workers: int = 1, scheduler: str | None = None) -> tuple[float, float]:
    """(end-to-end pairs/s, steady-state pairs/s) for ``n`` openfwi pairs."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        synth(tmp, family="curvefault", n_velocity=n, n_paired=n, preset="openfwi", seed=0, workers=workers,
              scheduler=scheduler,
              on_block=lambda kind, start: stamps.append(time.perf_counter()) if kind == "pairs" else None)
        total = time.perf_counter() - t0
    steady = (len(stamps) - 1) * PAIRS_BLOCK / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return n / total, steady


def main() -> None:
    n_pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 48
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    acq = Acquisition.preset("openfwi")
    print(f"machine: {os.cpu_count()} cores; load before: {uptime()}")
    maps = generate_velocity("curvefault", repeats, acq.shape, seed=1)
    geo, dev = per_shot(acq, maps)
    print(f"per shot, openfwi preset ({acq.nx}x{acq.nz} + {acq.absorbing_width} absorbing cells, {acq.nt} steps), "
          f"{repeats} maps x {acq.n_sources} shots:")
    print(f"  geogen forward  {geo:.4f} s/shot")
    print(f"  Devito operator {dev:.4f} s/shot")
    print(f"  overhead        {100 * (geo / dev - 1):+.1f} %  (target < 20 %)")
    print(f"load: {uptime()}")
    rates = {}
    for workers in (1, 2):
        c0 = cpu_seconds()
        rates[workers] = synth_rate(n_pairs, workers)
        cpu = (cpu_seconds() - c0) / n_pairs
        how = "in-process" if workers == 1 else "own LocalCluster, start-up included"
        print(f"synth openfwi, {n_pairs} pairs, workers={workers} ({how}): {rates[workers][0]:.2f} pairs/s end to end, "
              f"{rates[workers][1]:.2f} pairs/s steady, {cpu:.2f} CPU s/pair; load: {uptime()}")
    print(f"  speed-up workers=2 over workers=1: {rates[2][0] / rates[1][0]:.2f}x end to end, "
          f"{rates[2][1] / rates[1][1]:.2f}x steady (target >= 1.7x)")
    from dask.distributed import LocalCluster

    joined = {}
    for workers in (1, 2):
        c0 = cpu_seconds()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            joined[workers] = synth_rate(n_pairs, scheduler=cluster.scheduler_address)
        cpu = (cpu_seconds() - c0) / n_pairs
        print(f"synth openfwi, {n_pairs} pairs, running {workers}-worker cluster joined by --scheduler: "
              f"{joined[workers][0]:.2f} pairs/s end to end, {joined[workers][1]:.2f} pairs/s steady, "
              f"{cpu:.2f} CPU s/pair (cluster start included); load: {uptime()}")
    print(f"  speed-up from the second dask worker: {joined[2][0] / joined[1][0]:.2f}x end to end, "
          f"{joined[2][1] / joined[1][1]:.2f}x steady (target >= 1.7x)")
    print("CPU s/pair that stays flat from 1 to 2 workers means the parallel path adds little work;")
    print("wall-clock speed-up then depends on a second core being free, which it was not on a shared machine.")

if __name__ == "__main__":
    main()
