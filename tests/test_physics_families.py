"""OpenFWI-style velocity families: ranges, seeding, depth trend, distinct structure."""

from __future__ import annotations

import numpy as np
import pytest

from geogen.errors import InputError
from geogen.physics import FAMILIES, generate_velocity


@pytest.mark.parametrize("family", FAMILIES)
def test_range_dtype_and_depth_trend(family):
    v = generate_velocity(family, 200, (70, 70), seed=1)
    assert v.shape == (200, 70, 70) and v.dtype == np.float32
    assert v.min() >= 1500.0 and v.max() <= 4500.0
    assert v.max() - v.min() > 2000.0  # the set spans the range
    profile = v.mean(axis=(0, 2))  # mean velocity per depth
    assert np.corrcoef(profile, np.arange(70))[0, 1] > 0.9
    assert profile[-10:].mean() > profile[:10].mean() + 800.0


def test_custom_range():
    v = generate_velocity("curve", 20, (40, 50), seed=0, vmin=2000.0, vmax=3000.0)
    assert v.shape == (20, 40, 50) and 2000.0 <= v.min() and v.max() <= 3000.0


def test_sample_k_does_not_depend_on_n_or_start():
    whole = generate_velocity("curvefault", 12, (70, 70), seed=7)
    np.testing.assert_array_equal(generate_velocity("curvefault", 12, (70, 70), seed=7), whole)
    np.testing.assert_array_equal(generate_velocity("curvefault", 5, (70, 70), seed=7, start=7), whole[7:])
    assert not np.array_equal(generate_velocity("curvefault", 12, (70, 70), seed=8), whole)


def _lateral_variation(v):
    """Share of depth rows that are not constant along x."""
    return float((np.ptp(v, axis=2) > 0).mean())


def _largest_step(v):
    """Mean over maps of the most depth cells that change between two neighbouring columns:
    a fault offsets interfaces by its throw at once, a smooth curve by a cell or two."""
    changed = np.abs(np.diff(v, axis=2)) > 0
    return float(changed.sum(axis=1).max(axis=1).mean())


def test_families_are_distinct():
    sets = {f: generate_velocity(f, 100, (70, 70), seed=3) for f in FAMILIES}
    assert _lateral_variation(sets["flat"]) == 0.0  # flat layers: rows constant in x
    assert _lateral_variation(sets["curve"]) > 0.1
    faulted = (np.ptp(sets["flatfault"], axis=2) > 0).any(axis=1)  # flat layers move only at faults
    assert faulted.mean() > 0.95
    assert _largest_step(sets["curvefault"]) > 1.5 * _largest_step(sets["curve"])
    for a in FAMILIES:
        for b in FAMILIES:
            if a < b:
                assert not np.array_equal(sets[a], sets[b])


def test_bad_arguments():
    with pytest.raises(InputError, match="unknown velocity family 'curvy'"):
        generate_velocity("curvy", 1, (70, 70), seed=0)
    with pytest.raises(InputError, match="seed"):
        generate_velocity("flat", 1, (70, 70), seed=-1)
    with pytest.raises(InputError, match="vmin"):
        generate_velocity("flat", 1, (70, 70), seed=0, vmin=3000.0, vmax=2000.0)
