"""Benchmark: SEG-Y ingest next to segyio's own raw read of the same file, speed and memory.

Three measurements, each in one run of this script (files written to a temporary folder and
read from the page cache, so this measures decoding and writing, not the disk):

* default: a ~198 MB IBM-float file (100 shots x 240 receivers x 2000 samples); segyio's
  ``f.trace.raw[:]`` and ``geogen.ingest`` in this process (the Python API; the fill runs in
  ``os.cpu_count()`` forked worker processes, whose CPU time the CPU column includes) per
  sample codec (Blosc lz4, the default, and zstd), then ``geogen ingest`` as a command with its
  peak resident memory;
* ``--process-gb 1``: a file of about that many GB of shot gathers, and the two *whole
  processes* side by side, interpreter start and imports included on both sides:
  ``geogen ingest FILE`` against ``python -c "import segyio; ...; f.trace.raw[:]"``,
  alternating, ``--repeat`` times each; prints the best of each and their ratio;
* ``--many-traces 1000000,10000000``: synthetic shot gathers of that many traces with
  ``--trace-samples`` samples each (written with numpy, checked by segyio), ingested by the
  command in a fresh process; prints its peak resident memory (whole process, imports
  included) and the largest worker's, per size, to show that memory does not follow the
  trace count.

Usage::

    python bench/bench_ingest.py [--shots 100] [--receivers 240] [--samples 2000] [--repeat 3]
    python bench/bench_ingest.py --process-gb 1 [--repeat 3]
    python bench/bench_ingest.py --many-traces 1000000,10000000 [--trace-samples 4]
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
    """Shot gathers with a few hyperbolic events over decaying noise, IBM float, big-endian (segyio writes it)."""
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


def write_many(path: Path, n_traces: int, receivers: int, samples: int) -> None:
    """``n_traces`` IEEE-float shot-gather traces written with numpy in chunks (segyio's per-trace
    header API would take an hour at 10^7): FFID, channel, coordinates with scalar -100, offset."""
    record = np.dtype([("h", np.uint8, (240,)), ("s", ">f4", (samples,))])
    binary = bytearray(400)
    for byte, value in ((3213, receivers), (3217, 2000), (3221, samples), (3225, 5), (3255, 1)):
        binary[byte - 3201:byte - 3199] = value.to_bytes(2, "big")
    with open(path, "wb") as fh:
        fh.write("".join(f"C{i + 1:2d} GEOGEN BENCH {n_traces} TRACES".ljust(80) for i in range(40)).encode("cp037"))
        fh.write(bytes(binary))
        chunk = 1 << 18
        for start in range(0, n_traces, chunk):
            k = np.arange(start, min(n_traces, start + chunk), dtype=np.int64)
            shot, channel = k // receivers, k % receivers
            r = np.zeros(k.size, record)
            fields = {1: (k + 1, 4), 9: (shot + 1, 4), 13: (channel + 1, 4), 37: (25 * channel, 4),
                      71: (-100, 2), 73: (100 * 50 * shot, 4), 81: (100 * (50 * shot + 25 * channel), 4),
                      115: (samples, 2), 117: (2000, 2)}
            for byte, (values, size) in fields.items():
                v = np.broadcast_to(np.asarray(values, np.int64), k.shape).astype(f">i{size}")
                r["h"][:, byte - 1:byte - 1 + size] = v.view(np.uint8).reshape(k.size, size)
            r["s"] = (np.sin(0.001 * k)[:, None] + np.arange(samples)[None, :]).astype(">f4")
            fh.write(r.tobytes())
    with segyio.open(str(path), ignore_geometry=True) as f:
        assert f.tracecount == n_traces and len(f.samples) == samples


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

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
try:
    main(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
import resource
print(status("VmHWM"), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def peak_rss_mb(*args: str) -> tuple[float, float, float]:
    """(peak resident MB of the whole command process, imports included; peak of its largest worker
    process; wall seconds) of a fresh process.  A forked worker's resident set counts the pages it
    shares with the parent, so its peak is at most the parent's resident set plus its own blocks."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    peak, worker = proc.stdout.strip().splitlines()[-1].split()
    return float(peak), float(worker), wall


def geogen_command() -> list[str]:
    exe = shutil.which("geogen")
    return [exe] if exe else [sys.executable, "-m", "geogen"]


SEGYIO_PROCESS = "import sys, segyio\nwith segyio.open(sys.argv[1], ignore_geometry=True) as f:\n    f.trace.raw[:]\n"


def bench_in_process(args: argparse.Namespace, root: Path) -> None:
    import geogen
    from geogen.adapters.segy_ingest import SAMPLE_CNAME

    src = root / "shots.sgy"
    t0 = time.perf_counter()
    write_file(src, args.shots, args.receivers, args.samples)
    size_mb = src.stat().st_size / 1e6
    print(f"file: {size_mb:.1f} MB IBM float, {args.shots} shots x {args.receivers} receivers x "
          f"{args.samples} samples (written in {time.perf_counter() - t0:.1f} s; read from the page cache below)")

    def segyio_read() -> None:
        with segyio.open(str(src), ignore_geometry=True) as f:
            f.trace.raw[:]

    t_seg, c_seg = best(segyio_read, args.repeat)
    print(f"segyio f.trace.raw[:]       : {t_seg:6.3f} s wall {c_seg:6.3f} s CPU  {size_mb / t_seg:7.1f} MB/s")
    geogen.ingest(src, root / "warm.zarr")  # first call pays imports and entry-point discovery
    shutil.rmtree(root / "warm.zarr")
    for codec in args.codecs.split(","):
        target = root / f"{codec}.zarr"
        t_api, c_api = best(lambda target=target, codec=codec: geogen.ingest(src, target, sample_codec=codec),
                            args.repeat,
                            before=lambda target=target: shutil.rmtree(target, ignore_errors=True))
        stored = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6
        print(
            f"geogen.ingest API, {codec:4s}    : {t_api:6.3f} s wall {c_api:6.3f} s CPU  {size_mb / t_api:7.1f} MB/s  "
            f"ratio to segyio {t_seg / t_api:.2f}  store {stored:.1f} MB ({stored / size_mb:.0%} of the file)"
            + ("  (default)" if codec == SAMPLE_CNAME else "")
        )
        shutil.rmtree(target)
    t0 = time.perf_counter()
    proc = subprocess.run([*geogen_command(), "ingest", str(src), "--out", str(root / "cli.zarr")],
                          capture_output=True, text=True)
    t_cli = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(proc.stderr)
    shutil.rmtree(root / "cli.zarr")
    print(f"geogen ingest CLI (process) : {t_cli:6.3f} s wall  {size_mb / t_cli:7.1f} MB/s  ratio to segyio "
          f"{t_seg / t_cli:.2f}  (includes interpreter start-up and imports)")
    peak, worker, _ = peak_rss_mb("ingest", str(src), "--out", str(root / "rss.zarr"))
    print(f"resident memory of the ingest command: peak {peak:.0f} MB (whole process, imports included) for a "
          f"{size_mb:.0f} MB file; largest worker process peak {worker:.0f} MB (pages shared with the parent included)")


def bench_processes(args: argparse.Namespace, root: Path) -> None:
    """``geogen ingest`` and a segyio raw read, each as a whole process, on ~``--process-gb`` GB."""
    receivers, samples = args.receivers, args.samples
    shots = max(1, round(args.process_gb * 1e9 / (receivers * (240 + 4 * samples))))
    src = root / "big.sgy"
    t0 = time.perf_counter()
    write_file(src, shots, receivers, samples)
    size_mb = src.stat().st_size / 1e6
    print(f"file: {size_mb:.0f} MB IBM float, {shots} shots x {receivers} receivers x {samples} samples "
          f"(written in {time.perf_counter() - t0:.0f} s; in the page cache)")
    geogen_cmd = [*geogen_command(), "ingest", str(src), "--out", str(root / "big.zarr")]
    segyio_cmd = [sys.executable, "-c", SEGYIO_PROCESS, str(src)]
    print(f"  geogen: {' '.join(geogen_cmd)}")
    print(f"  segyio: {sys.executable} -c {SEGYIO_PROCESS!r} {src}")
    times: dict[str, list[float]] = {"geogen": [], "segyio": []}
    for _ in range(args.repeat):
        for name, cmd in (("segyio", segyio_cmd), ("geogen", geogen_cmd)):
            shutil.rmtree(root / "big.zarr", ignore_errors=True)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times[name].append(time.perf_counter() - t0)
            if proc.returncode:
                raise SystemExit(proc.stderr)
    t_geo, t_seg = min(times["geogen"]), min(times["segyio"])
    print(f"segyio raw read, whole process : {t_seg:6.2f} s  {size_mb / t_seg:7.1f} MB/s  (all: "
          f"{', '.join(f'{t:.2f}' for t in times['segyio'])})")
    print(f"geogen ingest, whole process   : {t_geo:6.2f} s  {size_mb / t_geo:7.1f} MB/s  (all: "
          f"{', '.join(f'{t:.2f}' for t in times['geogen'])})")
    print(f"ratio (segyio time / geogen time, best of {args.repeat} each): {t_seg / t_geo:.2f}")


def bench_many(args: argparse.Namespace, root: Path) -> None:
    """Peak memory of the ingest command against the trace count."""
    for n in (int(float(v)) for v in args.many_traces.split(",")):
        src = root / f"many{n}.sgy"
        t0 = time.perf_counter()
        write_many(src, n, args.many_receivers, args.trace_samples)
        size_gb = src.stat().st_size / 1e9
        written = time.perf_counter() - t0
        peak, worker, wall = peak_rss_mb("ingest", str(src), "--out", str(root / "many.zarr"))
        stored = sum(p.stat().st_size for p in (root / "many.zarr").rglob("*") if p.is_file()) / 1e9
        print(f"{n:>11d} traces x {args.trace_samples} samples ({n // args.many_receivers} shots x "
              f"{args.many_receivers} channels, {size_gb:.2f} GB, written in {written:.0f} s): ingest {wall:.0f} s, "
              f"peak RSS {peak:.0f} MB (command process), largest worker {worker:.0f} MB; store {stored:.2f} GB")
        shutil.rmtree(root / "many.zarr")
        src.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=100)
    ap.add_argument("--receivers", type=int, default=240)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--codecs", default="lz4,zstd", help="sample codecs to compare (Blosc lz4, zstd)")
    ap.add_argument("--process-gb", type=float, default=None,
                    help="compare whole processes (geogen ingest vs a segyio raw read) on a file of this many GB")
    ap.add_argument("--many-traces", default=None, help="comma-separated trace counts for the memory scan")
    ap.add_argument("--many-receivers", type=int, default=1000, help="channels per shot in --many-traces files")
    ap.add_argument("--trace-samples", type=int, default=4, help="samples per trace in --many-traces files")
    ap.add_argument("--dir", default=None, help="where to put the files and stores (default: a temp dir)")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="geogen-bench-", dir=args.dir))
    print(f"machine: {os.cpu_count()} cores; load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    try:
        if args.process_gb:
            bench_processes(args, root)
        elif args.many_traces:
            bench_many(args, root)
        else:
            bench_in_process(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
