"""Time OpenFWI .npy ingest, ``geogen info`` and netCDF export on OpenFWI-sized files.

Writes ``--files`` pairs of model/data files of ``--samples`` samples each (OpenFWI
shapes: (N, 1, 70, 70) and (N, 5, 1000, 70) float32) into a temporary directory, then
prints, in the same run: numpy's own read rate of the files (the reference), ingest
MB/s and its ratio to numpy, peak resident memory, ``geogen info`` time and the netCDF
export rate.  Usage: ``python bench/bench_formats.py [--samples 100] [--files 2]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--files", type=int, default=2)
    args = parser.parse_args()

    import geogen
    from geogen import progress

    progress.set_enabled(False)
    print(f"load average before: {os.getloadavg()} (machine shared with other jobs)")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        paths = []
        for i in range(1, args.files + 1):
            np.save(root / f"model{i}.npy", rng.uniform(1500, 4500, (args.samples, 1, 70, 70)).astype(np.float32))
            # Band-limited-looking records (smooth in time) compress like real ones, unlike white noise.
            rec = np.cumsum(rng.standard_normal((args.samples, 5, 1000, 70)).astype(np.float32), axis=2)
            np.save(root / f"data{i}.npy", rec)
            del rec
            paths += [root / f"model{i}.npy", root / f"data{i}.npy"]
        nbytes = sum(p.stat().st_size for p in paths)

        t = time.perf_counter()
        for p in paths:
            np.asarray(np.load(p, mmap_mode="r")).sum()
        t_np = time.perf_counter() - t

        # Ingest runs in its own process so that its peak memory is its own (not the
        # generator's above); the process times the call itself, excluding start-up.
        # ru_maxrss would carry the parent's peak across fork/exec, so the child samples
        # its own resident set every 50 ms instead.
        child = (
            "import sys, time, threading, psutil, geogen; from geogen import progress; progress.set_enabled(False); "
            "p = psutil.Process(); peak = [0]; done = threading.Event()\n"
            "def watch():\n"
            "    while not done.is_set(): peak[0] = max(peak[0], p.memory_info().rss); time.sleep(0.05)\n"
            "w = threading.Thread(target=watch); w.start(); t = time.perf_counter()\n"
            "geogen.ingest(sys.argv[2:], sys.argv[1]); el = time.perf_counter() - t; done.set(); w.join()\n"
            "print(el, peak[0] / 2**20)"
        )
        out = subprocess.run([sys.executable, "-c", child, str(root / "pairs.zarr"), *map(str, paths)],
                             check=True, capture_output=True, text=True).stdout.split()
        t_ingest, peak_mb = float(out[0]), float(out[1])

        t = time.perf_counter()
        summary = geogen.info(root / "pairs.zarr")
        t_info = time.perf_counter() - t

        t = time.perf_counter()
        geogen.export(root / "pairs.zarr", root / "pairs.nc", format="netcdf")
        t_nc = time.perf_counter() - t

        mb = nbytes / 1e6
        print(f"input: {args.files} x ({args.samples} maps + {args.samples} records) = {mb:.0f} MB")
        print(f"numpy read (page cache): {mb / t_np:.0f} MB/s")
        print(f"geogen ingest: {t_ingest:.2f} s, {mb / t_ingest:.0f} MB/s, {t_np / t_ingest:.2f} x numpy's read rate")
        print(f"peak resident memory of the ingest process (sampled every 50 ms): {peak_mb:.0f} MB")
        print(f"store on disk: {summary['size_on_disk_bytes'] / 1e6:.0f} MB")
        print(f"geogen info (one dask pass over {mb:.0f} MB): {t_info:.2f} s, {mb / t_info:.0f} MB/s")
        print(f"export netCDF: {t_nc:.2f} s, {mb / t_nc:.0f} MB/s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
