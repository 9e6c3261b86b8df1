"""Devito modelling against physics: analytic 2-D Green's function, moveout, absorbing layer."""

from __future__ import annotations

import numpy as np
import pytest
from analytic import analytic_trace, first_arrival_window

from geogen.acquisition import Acquisition
from geogen.evaluation.metrics import pick_first_arrivals
from geogen.physics import forward


@pytest.fixture(scope="module")
def homogeneous():
    c, xs = 3000.0, 340.0
    acq = Acquisition.preset("openfwi", source_x=(xs,))
    record = forward(np.full(acq.shape, c, np.float32), acq)[0, 0]
    return acq, c, xs, record


@pytest.mark.parametrize("receiver", [0, 20, 44, 60, 69])
def test_direct_arrival_matches_green_function(homogeneous, receiver):
    acq, c, xs, record = homogeneous
    r = abs(acq.receiver_x[receiver] - xs)
    # OpenFWI time axis: output sample i is the field at (i + 1) dt (see modelling docstring).
    times = acq.dt * (np.arange(acq.nt) + 1)
    win = first_arrival_window(acq, times, r, c)
    exact = analytic_trace(r, c, acq, times[win])
    err = np.linalg.norm(record[win, receiver] - exact) / np.linalg.norm(exact)
    assert err < 0.05, f"receiver {receiver} (offset {r:g} m): relative L2 {err:.3%}"


def test_time_axis_is_openfwi_aligned(homogeneous):
    """The aligned axis fits to ~1 %; one sample early or late costs several per cent."""
    acq, c, xs, record = homogeneous
    ir, r = 69, abs(acq.receiver_x[69] - xs)
    errs = {}
    for shift in (-1, 0, 1):
        times = acq.dt * (np.arange(acq.nt) + 1 + shift)
        win = first_arrival_window(acq, times, r, c)
        exact = analytic_trace(r, c, acq, times[win])
        errs[shift] = np.linalg.norm(record[win, ir] - exact) / np.linalg.norm(exact)
    assert errs[0] < 0.02
    assert errs[-1] > 3 * errs[0] and errs[1] > 3 * errs[0], errs


@pytest.mark.parametrize("c", [2000.0, 4000.0])
def test_first_breaks_follow_offset_over_velocity(c):
    acq = Acquisition.preset("small", source_x=(0.0,))
    record = forward(np.full(acq.shape, c, np.float32), acq)[0, 0]
    picks = pick_first_arrivals(record, acq.dt)  # the picker the physics check uses
    offsets = np.asarray(acq.receiver_x)
    far = offsets >= 100.0
    slope, intercept = np.polyfit(offsets[far], picks[far], 1)
    assert slope == pytest.approx(1.0 / c, rel=0.03)
    # the pick minus offset/velocity is the same wavelet onset on every trace
    residual = picks[far] - offsets[far] / c
    assert np.ptp(residual) < 2.5 * acq.dt


def test_doubling_the_absorbing_layer_changes_little():
    """Stated tolerance: 1 % relative L2 over the whole record at OpenFWI's 120 cells."""
    base = Acquisition.preset("openfwi", source_x=(170.0,))
    v = np.full(base.shape, 2000.0, np.float32)
    v[25:50] = 3000.0
    v[50:] = 4000.0
    a = forward(v, base)[0, 0]
    b = forward(v, base.model_copy(update={"absorbing_width": 2 * base.absorbing_width}))[0, 0]
    change = np.linalg.norm(a - b) / np.linalg.norm(b)
    assert change < 0.01, f"120 -> 240 cells changed the record by {change:.3%}"
