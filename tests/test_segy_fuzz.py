"""A fast slice of the SEG-Y fuzz campaign (tests/fuzz/segy_fuzz.py): every mutated file ends in a
correct store or one error line with exit 2, never a traceback, a hang, a half store or a damaged target.
The long campaign: ``python tests/fuzz/run_segy_fuzz.py --cases N``."""

from __future__ import annotations

from fuzz.segy_fuzz import cases, run_case
from hypothesis import HealthCheck, given, settings

SLICE = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SLICE
@given(cases())
def test_mutated_segy_ends_in_a_store_or_one_error_line(case):
    run_case(case)
