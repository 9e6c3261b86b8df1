"""geogen.physics.forward: shapes, inputs, validation before compute, operator reuse, dask."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.errors import InputError
from geogen.physics import forward, generate_velocity, modelling


@pytest.fixture(scope="module")
def small():
    return Acquisition.preset("small")


@pytest.fixture(scope="module")
def maps(small):
    return generate_velocity("curvefault", 3, small.shape, seed=11)


def test_shape_dtype_and_batch_consistency(small, maps):
    out = forward(maps, small)
    assert out.shape == (3, small.n_sources, small.nt, small.n_receivers)
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    single = forward(maps[1], small)
    assert single.shape == (1, *small.seismic_shape)
    np.testing.assert_array_equal(single[0], out[1])


def test_xarray_input_in_any_dim_order(small, maps):
    da = xr.DataArray(maps[:1].transpose(0, 2, 1), dims=("sample", "x", "z"))
    np.testing.assert_array_equal(forward(da, small), forward(maps[:1], small))


def test_operator_compiled_once_per_geometry(small, maps):
    forward(maps[0], small)
    first = modelling.modeller_for(small)
    op = first.operator
    forward(maps, small)
    assert modelling.modeller_for(small) is first and first.operator is op


def test_nothing_arrives_before_the_wave_can(small):
    """Quiet before the earliest possible arrival: causality and no wrap-around."""
    v = np.full(small.shape, 2500.0, np.float32)
    rec = forward(v, small)[0, 0]  # source at x = 0
    far = small.n_receivers - 1
    onset = small.wavelet_delay - 1.5 / small.frequency + small.receiver_x[far] / 2500.0
    quiet = rec[: int(onset / small.dt) - 1, far]
    assert np.abs(quiet).max() < 1e-3 * np.abs(rec[:, far]).max()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda v: v.__setitem__((0, 3, 4), np.nan), "NaN"),
        (lambda v: v.__setitem__((0, 5, 5), -1500.0), "non-positive"),
        (lambda v: v.__itruediv__(1000.0), "km/s"),
    ],
)
def test_bad_values_rejected_before_compute(small, maps, edit, message):
    v = maps[:1].copy()
    edit(v)
    with pytest.raises(InputError, match=message):
        forward(v, small)


def test_shape_mismatch_rejected(small):
    with pytest.raises(InputError, match=r"\(20, 32\).*\(32, 32\)"):
        forward(np.full((20, 32), 2000.0, np.float32), small)


def test_cfl_violation_rejected(small):
    from geogen.physics.modelling import as_velocity_array

    v_limit = small.critical_dt(1.0) / small.dt  # the fastest velocity that small.dt (1 ms) keeps stable: 6124 m/s
    assert v_limit == pytest.approx(6124, abs=1)
    v = np.full(small.shape, 2000.0, np.float32)
    v[10, 10] = np.float32(v_limit * (1 - 1e-4))
    as_velocity_array(v, small)  # what forward checks before any compute: just below the limit passes
    v[10, 10] = np.float32(v_limit * (1 + 1e-4))
    with pytest.raises(InputError, match="unstable for 612[45]"):
        forward(v, small)


def test_receiver_outside_grid_rejected():
    with pytest.raises(ValueError, match="outside the grid"):
        Acquisition.preset("small", receiver_x=(0.0, 400.0))


def test_dask_workers_give_the_same_records(small, maps):
    """An existing two-process cluster joined by address: map-parallel and shot-parallel."""
    from dask.distributed import LocalCluster

    serial = forward(maps, small)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        np.testing.assert_array_equal(forward(maps, small, scheduler=cluster.scheduler_address), serial)
        np.testing.assert_array_equal(forward(maps[:1], small, scheduler=cluster.scheduler_address), serial[:1])


def test_unreachable_scheduler_is_an_input_error(small, maps):
    with pytest.raises(InputError, match="--scheduler tcp://127.0.0.1:9: no dask scheduler"):
        forward(maps[:1], small, scheduler="tcp://127.0.0.1:9")
