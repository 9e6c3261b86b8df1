"""The long SEG-Y fuzz campaign: ``python tests/fuzz/run_segy_fuzz.py --cases 5000 [--seed 1]``.

Runs the property of :mod:`segy_fuzz` (a correct store or one error line with exit 2; never
a traceback, a hang, a half store or a damaged existing target) on ``--cases`` mutated
files, then prints how many cases ended which way.  A failing case is shrunk by hypothesis
and printed with the assertion it broke; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from segy_fuzz import OUTCOMES, cases, run_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    @seed(args.seed)
    @settings(max_examples=args.cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def campaign(case: dict) -> None:
        run_case(case)

    t0 = time.perf_counter()
    failed = None
    try:
        campaign()
    except Exception as exc:  # noqa: BLE001 - report the shrunk failure and the tally so far
        failed = exc
    total = sum(OUTCOMES.values())
    print(f"{total} cases run (seed {args.seed}, --cases {args.cases}) in {time.perf_counter() - t0:.0f} s")
    for outcome, count in OUTCOMES.most_common():
        print(f"{count:7d}  {outcome}")
    if failed is not None:
        print(f"FAILED: {type(failed).__name__}: {failed}")
        return 1
    print("every case ended in a correct store or one error line with exit 2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
