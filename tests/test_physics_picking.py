"""First-arrival picking: known onsets, amplitude independence, dead traces."""

from __future__ import annotations

import numpy as np

from geogen.physics import first_arrivals
from geogen.physics.wavelet import ricker


def test_picks_follow_known_delays_whatever_the_amplitude():
    dt, nt = 0.001, 500
    t = dt * np.arange(nt)
    delays = np.array([0.05, 0.12, 0.2, 0.31])
    gains = np.array([1.0, 0.01, 250.0, 3.0])
    gather = np.stack([g * ricker(15.0, 0.1 + d, t) for d, g in zip(delays, gains)], axis=-1)  # (time, receiver)
    gather[:, 2] += 0.1 * gains[2] * ricker(15.0, 0.1 + 0.3, t)  # a weaker later event does not move the pick
    picks = first_arrivals(gather, dt)
    assert picks.shape == (4,)
    np.testing.assert_allclose(np.diff(picks), np.diff(delays), atol=0.6 * dt)


def test_batch_shape_and_dead_trace():
    rec = np.zeros((2, 3, 100, 4), np.float32)  # (sample, source, time, receiver)
    rec[..., 40:, :] = 1.0
    rec[1, 2, :, 3] = 0.0  # a dead trace
    picks = first_arrivals(rec, 0.002, t0=0.1)
    assert picks.shape == (2, 3, 4)
    assert np.isnan(picks[1, 2, 3])
    np.testing.assert_allclose(picks[0], 0.1 + 0.002 * 39.05, atol=1e-9)
