"""Benchmark: SEG-Y shot-gather ingest next to segyio's own raw read of the same file.

Writes a ~198 MB IBM-float file (100 shots x 240 receivers x 2000 samples) in a
temporary directory, then in the same run times

* segyio: ``f.trace.raw[:]`` (IBM -> float32 conversion in segyio's C core),
* ``geogen.ingest`` in this process (the Python API: read, decode, compress, write Zarr;
  the samples are encoded in ``os.cpu_count()`` forked worker processes, whose CPU time
  the CPU column includes),
* ``geogen ingest`` as a command in a subprocess (adds interpreter and import start-up),
  with its peak resident memory,

and prints MB/s (file bytes / wall seconds), the ratio to segyio, and the store size per
Blosc-zstd level.  Both readers see the file from the page cache (it was just written),
so this measures decoding and writing, not the disk.  Usage::

    python bench/bench_ingest.py [--shots 100] [--receivers 240] [--samples 2000] [--repeat 3] [--threads]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import segyio


def write_file(path: Path, shots: int, receivers: int, samples: int) -> None:
    """Shot gathers with a few hyperbolic events over decaying noise, IBM float, big-endian."""
    rng = np.random.default_rng(0)
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 1, np.arange(samples), shots * receivers
    t = 0.002 * np.arange(samples)
    offsets = 25.0 * np.arange(receivers)
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: 2000, segyio.BinField.Traces: receivers})
        for s in range(shots):
            gather = rng.standard_normal((receivers, samples)).astype(np.float32) * np.exp(-t)[None, :] * 0.05
            for t0, v in ((0.4, 1800.0), (1.1, 2400.0), (2.3, 3100.0)):
                arrival = np.sqrt(t0**2 + (offsets / v) ** 2)
                idx = np.clip((arrival / 0.002).astype(int), 0, samples - 1)
                gather[np.arange(receivers), idx] += 1.0
            base = s * receivers
            for r in range(receivers):
                f.header[base + r] = {segyio.su.fldr: s + 1, segyio.su.tracf: r + 1, segyio.su.scalco: -100,
                                      segyio.su.sx: 100 * 50 * s, segyio.su.gx: 100 * (50 * s + 25 * r),
                                      segyio.su.offset: 25 * r, segyio.su.ns: samples, segyio.su.dt: 2000}
            f.trace[base:base + receivers] = gather


def cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished child processes (ingest workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def best(fn, repeat: int, before=None) -> tuple[float, float]:
    """Best wall time and the CPU time (all threads and worker processes) of that run."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0, c0 = time.perf_counter(), cpu_seconds()
        fn()
        runs.append((time.perf_counter() - t0, cpu_seconds() - c0))
    return min(runs)


PEAK_RSS = """
import sys
from geogen.cli import main
import geogen.io, geogen.adapters.segy, xarray, zarr  # imports first, so the peak below is the work

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak (VmHWM) to the current RSS
    fh.write("5")
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
import resource
print(before, status("VmHWM"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def peak_rss_mb(*args: str) -> tuple[float, float, float]:
    """(resident MB after imports, peak resident MB during the command, peak of its largest worker
    process) of a fresh process.  A forked worker's resident set counts the pages it shares with
    the parent, so its peak is at most the parent's resident set plus its own blocks."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    before, peak, worker = proc.stdout.strip().splitlines()[-1].split()
    return float(before), float(peak), float(worker)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=100)
    ap.add_argument("--receivers", type=int, default=240)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--levels", default="1,3", help="Blosc-zstd levels to compare")
    ap.add_argument("--threads", action="store_true",
                    help="also time the Zarr thread-pool fill (the path without worker processes)")
    ap.add_argument("--dir", default=None, help="where to put the file and stores (default: a temp dir)")
    args = ap.parse_args()

    import geogen
    from geogen.adapters.segy_ingest import DEFAULT_LEVEL

    root = Path(tempfile.mkdtemp(prefix="geogen-bench-", dir=args.dir))
    try:
        src = root / "shots.sgy"
        t0 = time.perf_counter()
        write_file(src, args.shots, args.receivers, args.samples)
        size_mb = src.stat().st_size / 1e6
        print(f"file: {size_mb:.1f} MB IBM float, {args.shots} shots x {args.receivers} receivers x "
              f"{args.samples} samples (written in {time.perf_counter() - t0:.1f} s; read from the page cache below)")
        print(f"machine: {os.cpu_count()} cores; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

        def segyio_read() -> None:
            with segyio.open(str(src), ignore_geometry=True) as f:
                f.trace.raw[:]

        t_seg, c_seg = best(segyio_read, args.repeat)
        print(f"segyio f.trace.raw[:]       : {t_seg:6.3f} s wall {c_seg:6.3f} s CPU  {size_mb / t_seg:7.1f} MB/s")

        geogen.ingest(src, root / "warm.zarr")  # first call pays imports and entry-point discovery
        shutil.rmtree(root / "warm.zarr")
        for level in (int(v) for v in args.levels.split(",")):
            target = root / f"level{level}.zarr"
            t_api, c_api = best(lambda: geogen.ingest(src, target, level=level), args.repeat,
                                before=lambda: shutil.rmtree(target, ignore_errors=True))
            stored = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6
            print(f"geogen.ingest API, zstd {level} : {t_api:6.3f} s wall {c_api:6.3f} s CPU  {size_mb / t_api:7.1f} MB/s  "
                  f"ratio to segyio {t_seg / t_api:.2f}  store {stored:.1f} MB ({stored / size_mb:.0%} of the file)")
            shutil.rmtree(target)
        if args.threads:  # the fallback: blocks through Zarr from a thread pool, no worker processes
            from geogen.adapters import segy_parallel

            target = root / "threads.zarr"
            available, segy_parallel.available = segy_parallel.available, lambda: False
            try:
                t_thr, c_thr = best(lambda: geogen.ingest(src, target), args.repeat,
                                    before=lambda: shutil.rmtree(target, ignore_errors=True))
            finally:
                segy_parallel.available = available
            shutil.rmtree(target)
            print(f"geogen.ingest, Zarr threads : {t_thr:6.3f} s wall {c_thr:6.3f} s CPU  {size_mb / t_thr:7.1f} MB/s  "
                  f"ratio to segyio {t_seg / t_thr:.2f}  (zstd {DEFAULT_LEVEL}, the path without worker processes)")

        exe = shutil.which("geogen")
        cmd = [exe] if exe else [sys.executable, "-m", "geogen"]
        t0 = time.perf_counter()
        proc = subprocess.run([*cmd, "ingest", str(src), "--out", str(root / "cli.zarr")], capture_output=True, text=True)
        t_cli = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(proc.stderr)
        shutil.rmtree(root / "cli.zarr")
        print(f"geogen ingest CLI (process) : {t_cli:6.3f} s wall  {size_mb / t_cli:7.1f} MB/s  ratio to segyio "
              f"{t_seg / t_cli:.2f}  (includes interpreter start-up and imports)")
        before, peak, worker = peak_rss_mb("ingest", str(src), "--out", str(root / "rss.zarr"))
        print(f"resident memory of the ingest process: {before:.0f} MB after imports, peak {peak:.0f} MB during "
              f"ingest (+{peak - before:.0f} MB for a {size_mb:.0f} MB file); largest worker process peak "
              f"{worker:.0f} MB (pages shared with the parent included)")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
