"""Generation against simulation, as whole commands on this machine: is generating a pair cheaper than modelling it?

For a trained run (the ``openfwi`` preset is what the target is stated for), times:

1. ``geogen generate RUN --n N --out STORE`` (a fresh process: imports, sampling,
   decoding, the prior where the model has one, writing the store);
2. Devito modelling of the same N velocity maps as a fresh process
   (``geogen.physics.forward`` with ``--workers`` processes), the cost of simulating
   those pairs instead of generating them;
3. ``geogen validate STORE --no-write --workers W`` (a fresh process), which models each map
   *and* its direct-wave record and scores them: twice the modelling of (2) plus the
   metrics, reported for completeness but not the like-for-like figure.

(3) / (1) is the figure the project's target is stated for (issue 11: ``geogen validate``
of the store against ``geogen generate``, at least 20 x at the ``openfwi`` preset); (2) / (1)
is the stricter one (modelling alone, no metrics, no direct waves) and is printed beside it.
Prints the machine load, because the figures mean little on a shared machine without it.

    python bench/bench_generation.py RUN_DIR [--n 512] [--workers 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL_SCRIPT = """
import sys, time, numpy as np, xarray as xr
from geogen.data.datasets import acquisition_of
from geogen.physics import forward
ds = xr.open_zarr(sys.argv[1])
v = ds["velocity"].transpose("sample", "z", "x").values
forward(v, acquisition_of(ds), workers=int(sys.argv[2]))
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a trained run directory")
    parser.add_argument("--n", type=int, default=512, help="pairs to generate and to model")
    parser.add_argument("--workers", type=int, default=2, help="Devito worker processes (modelling, validation)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the generate command")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-validate", action="store_true", help="skip (3), the longest")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"load average before: {os.getloadavg()}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "generated.zarr"
        gen = timed([sys.executable, "-m", "geogen", "generate", str(args.run), "--n", str(args.n), "--out",
                     str(store), "--batch-size", str(args.batch_size)], env)
        model = timed([sys.executable, "-c", MODEL_SCRIPT, str(store), str(args.workers)], env)
        print(f"generate {args.n} pairs: {gen:.1f} s ({1e3 * gen / args.n:.1f} ms/pair)")
        print(f"Devito modelling of the same maps ({args.workers} workers): {model:.1f} s "
              f"({1e3 * model / args.n:.1f} ms/pair)")
        print(f"simulation / generation per pair: {model / gen:.1f} x")
        if not args.skip_validate:
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "geogen", "validate", str(store), "--no-write", "--json",
                                  "--workers", str(args.workers)], capture_output=True, text=True, env=env)
            val = time.perf_counter() - started
            if out.returncode != 0:
                sys.exit(out.stderr)
            summary = json.loads(out.stdout)
            print(f"geogen validate (models each map and its direct wave, scores): {val:.1f} s "
                  f"({1e3 * val / args.n:.1f} ms/pair): validate / generate {val / gen:.1f} x (target >= 20); "
                  f"scattered rel L2 median {summary['scattered_rel_l2']['median']:.3f}, "
                  f"trivial {summary['trivial']['scattered_rel_l2']['median']:.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
