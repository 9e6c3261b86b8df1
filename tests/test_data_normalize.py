"""The OpenFWI scaling: block-by-block scaling of large sets equals scaling them whole."""

from __future__ import annotations

import numpy as np
import pytest

from geogen.data import normalize
from geogen.data.normalize import Normalizer


def test_scale_pairs_in_blocks_matches_whole_array_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    scaling = Normalizer(1500.0, 4500.0, -3.0, 3.0)
    rng = np.random.default_rng(0)
    v = rng.uniform(1500, 4500, (37, 7, 9)).astype(np.float32)
    s = rng.normal(0, 5, (37, 3, 50, 4)).astype(np.float32)
    monkeypatch.setattr(normalize, "SCALE_BLOCK_BYTES", 3 * 50 * 4 * 8 * 5)  # five records a block: 8 blocks
    y, x = scaling.scale_pairs(v, s)
    assert y.dtype == x.dtype == np.float32
    np.testing.assert_array_equal(y, scaling.velocity(v.astype(np.float64)).astype(np.float32))
    np.testing.assert_array_equal(x, scaling.seismic(s.astype(np.float64)).astype(np.float32))
    assert y.min() >= -1 and y.max() <= 1


def test_scale_pairs_leaves_its_inputs_alone() -> None:
    scaling = Normalizer(1500.0, 4500.0, -3.0, 3.0)
    v = np.full((2, 4, 4), 3000.0, np.float32)
    s = np.ones((2, 1, 8, 3), np.float32)
    scaling.scale_pairs(v, s)
    assert v[0, 0, 0] == 3000.0 and s[0, 0, 0, 0] == 1.0
