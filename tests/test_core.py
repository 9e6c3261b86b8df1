"""The foundation: acquisition presets, atomic stores, CLI error contract."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geogen
from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import atomic_path, check_velocity_values, open_store, write_store
from geogen.errors import InputError, StoreKindError


def test_openfwi_preset_matches_benchmark():
    a = Acquisition.preset("openfwi")
    assert a.shape == (70, 70)
    assert a.seismic_shape == (5, 1000, 70)
    assert a.source_x == (0.0, 170.0, 340.0, 520.0, 690.0)
    assert a.dt == 0.001 and a.absorbing_width == 120
    # the CFL limit at 10 m, 4.5 km/s, space order 4 is 1.36 ms (below); OpenFWI's 1 ms passes
    a.check_stable()


def test_acquisition_roundtrips_through_attrs():
    a = Acquisition.preset("small")
    assert Acquisition.from_attrs(a.to_attrs()) == a


def test_receiver_outside_grid_is_rejected():
    with pytest.raises(ValueError, match="receiver 0 at x = 900"):
        Acquisition.preset("small", receiver_x=(900.0,))


def test_cfl_limit_is_the_leapfrog_limit_and_is_enforced_at_its_edge():
    # 2-D leapfrog, 4th-order Laplacian weights (-5/2, 4/3, -1/12): dt <= 2 / sqrt(2 * sum|w|) * h / vmax
    limit = 2 / np.sqrt(2 * (5 / 2 + 2 * (4 / 3 + 1 / 12))) * 10.0 / 4500.0
    a = Acquisition.preset("small")
    assert a.critical_dt() == pytest.approx(limit, rel=1e-12) and limit == pytest.approx(1.3608e-3, rel=1e-4)
    Acquisition.preset("small", dt=limit * (1 - 1e-6)).check_stable()
    with pytest.raises(InputError, match=r"dt = 1.36\d* ms is unstable for 4500 m/s on a 10 m grid "
                                         r"\(CFL limit 1.361 ms\)"):
        Acquisition.preset("small", dt=limit * (1 + 1e-6)).check_stable()


@pytest.mark.parametrize(
    "values, message",
    [
        (np.array([[1.5, 4.5]]), "km/s"),
        (np.array([[np.nan, 2000.0]]), "NaN"),
        (np.array([[-1.0, 2000.0]]), "non-positive"),
    ],
)
def test_velocity_value_checks(values, message):
    with pytest.raises(InputError, match=message):
        check_velocity_values(values)


def test_pairs_store_roundtrip(tmp_path):
    a = Acquisition.preset("small")
    v = np.full((2, *a.shape), 2000.0, np.float32)
    s = np.random.default_rng(0).standard_normal((2, *a.seismic_shape)).astype(np.float32)
    write_store(pairs_dataset(v, s, a, origin="simulated"), tmp_path / "p.zarr")
    ds = open_store(tmp_path / "p.zarr", kind="pairs")
    assert ds["seismic"].dims == ("sample", "source", "time", "receiver")
    np.testing.assert_array_equal(ds["seismic"].values, s)
    assert Acquisition.from_attrs(ds.attrs) == a
    with pytest.raises(StoreKindError, match="is a pairs store, expected velocity"):
        open_store(tmp_path / "p.zarr", kind="velocity")


def test_failed_write_keeps_existing_store(tmp_path):
    target = tmp_path / "v.zarr"
    write_store(velocity_dataset(np.full((1, 4, 5), 2000.0, np.float32), dz=10, dx=10), target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            raise RuntimeError("boom")
    assert open_store(target)["velocity"].shape == (1, 4, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["v.zarr"]


def test_cli_error_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nothing.sgy"
    r = subprocess.run([sys.executable, "-m", "geogen", "info", str(missing)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {missing}: no such store"]


def test_cli_usage_error_exit_2():
    r = subprocess.run([sys.executable, "-m", "geogen", "ingest"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error:")


def test_api_exposes_verbs():
    assert callable(geogen.open_store) and callable(geogen.ingest) and callable(geogen.export)


def test_pydantic_errors_become_one_line():
    from pydantic import ValidationError

    from geogen.cli import describe_validation_error

    with pytest.raises(ValidationError) as info:
        Acquisition.preset("small", receiver_x=(900.0,))
    line = describe_validation_error(info.value)
    assert "\n" not in line and line.startswith("Acquisition") and "receiver 0 at x = 900 m" in line
