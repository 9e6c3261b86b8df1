"""Post-stack SEG-Y and velocity in SEG-Y (sections and volumes) into stores."""

from __future__ import annotations

import numpy as np
import pytest
from segy_fixtures import write_stacked

import geogen
from geogen.errors import InputError


def grid_3d(n_il=3, n_xl=4, ns=20, seed=0):
    rng = np.random.default_rng(seed)
    il, xl = np.meshgrid(10 + np.arange(n_il), 100 + 2 * np.arange(n_xl), indexing="ij")
    values = rng.standard_normal((n_il, n_xl, ns)).astype(np.float32)
    x = 5000.0 + 12.5 * (xl - 100)
    y = 7000.0 + 25.0 * (il - 10)
    return il, xl, values, x, y


def test_poststack_3d(tmp_path):
    il, xl, values, x, y = grid_3d()
    # write crossline-major to show the grid does not depend on trace order
    order = np.argsort(xl.ravel(), kind="stable")
    path = write_stacked(tmp_path / "cube.sgy", values.reshape(-1, 20)[order], inlines=il.ravel()[order],
                         crosslines=xl.ravel()[order], cdp_x=x.ravel()[order], cdp_y=y.ravel()[order])
    ds = geogen.ingest(path, tmp_path / "cube.zarr")
    assert ds.attrs["geogen_kind"] == "poststack"
    assert ds["seismic"].dims == ("inline", "crossline", "time")
    np.testing.assert_array_equal(ds["inline"].values, il[:, 0])
    np.testing.assert_array_equal(ds["crossline"].values, xl[0])
    np.testing.assert_array_equal(ds["seismic"].values, values)
    np.testing.assert_allclose(ds["cdp_x"].values, x)
    np.testing.assert_allclose(ds["cdp_y"].values, y)
    np.testing.assert_allclose(ds["time"].values, 0.004 * np.arange(20))


def test_poststack_2d(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((7, 30)).astype(np.float32)
    cdp = 200 + np.arange(7)
    path = write_stacked(tmp_path / "line.sgy", values, cdps=cdp, cdp_x=100.0 + 6.25 * np.arange(7),
                         cdp_y=np.full(7, 50.0), scalar=-100)
    ds = geogen.ingest(path, tmp_path / "line.zarr")
    assert ds.attrs["geogen_kind"] == "poststack"
    assert ds["seismic"].dims == ("cdp", "time")
    np.testing.assert_array_equal(ds["cdp"].values, cdp)
    np.testing.assert_array_equal(ds["seismic"].values, values)
    np.testing.assert_allclose(ds["cdp_x"].values, 100.0 + 6.25 * np.arange(7))


def velocity_section(nx=12, nz=9):
    z = np.arange(nz)[:, None]
    return (1500.0 + 100.0 * z + 5.0 * np.arange(nx)[None, :]).astype(np.float32)


def test_velocity_section_depth_in_mm(tmp_path):
    v = velocity_section()
    path = write_stacked(tmp_path / "vel.sgy", v.T, cdp_x=250.0 + 10.0 * np.arange(12), interval=10000)
    ds = geogen.ingest(path, tmp_path / "vel.zarr", kind="velocity")
    assert ds.attrs["geogen_kind"] == "velocity"
    assert ds["velocity"].dims == ("model", "z", "x") and ds["velocity"].shape == (1, 9, 12)
    np.testing.assert_array_equal(ds["velocity"].values[0], v)
    np.testing.assert_allclose(ds["z"].values, 10.0 * np.arange(9))  # 10000 read as mm
    np.testing.assert_allclose(ds["x"].values, 250.0 + 10.0 * np.arange(12))
    assert ds["velocity"].attrs["units"] == "m/s" and ds["z"].attrs["units"] == "m"


def test_velocity_section_options(tmp_path):
    v = velocity_section()
    path = write_stacked(tmp_path / "vel.sgy", v.T, cdp_x=10.0 * np.arange(12), group_x=True, interval=5)
    ds = geogen.ingest(path, tmp_path / "a.zarr", kind="velocity")
    np.testing.assert_allclose(ds["z"].values, 5.0 * np.arange(9))  # 5 read as m
    ds = geogen.ingest(path, tmp_path / "b.zarr", kind="velocity", depth_unit="mm", dx=2.5)
    np.testing.assert_allclose(ds["z"].values, 0.005 * np.arange(9))
    np.testing.assert_allclose(ds["x"].values, 2.5 * np.arange(12))


def test_velocity_volume(tmp_path):
    il, xl, _, x, y = grid_3d(ns=8)
    v = (2000.0 + 50.0 * np.arange(8)[None, None, :] + il[..., None] + xl[..., None]).astype(np.float32)
    path = write_stacked(tmp_path / "vol.sgy", v.reshape(-1, 8), inlines=il.ravel(), crosslines=xl.ravel(),
                         cdp_x=x.ravel(), cdp_y=y.ravel(), interval=4000)
    ds = geogen.ingest(path, tmp_path / "vol.zarr", kind="velocity", dz=4.0)
    assert ds.attrs["geogen_kind"] == "velocity"
    assert ds["velocity"].dims == ("inline", "crossline", "z")
    np.testing.assert_array_equal(ds["velocity"].values, v)
    np.testing.assert_allclose(ds["z"].values, 4.0 * np.arange(8))


def test_velocity_in_kms_is_refused(tmp_path):
    v = velocity_section() / 1000.0
    path = write_stacked(tmp_path / "vel.sgy", v.T, cdp_x=10.0 * np.arange(12), interval=10000)
    with pytest.raises(InputError, match=r"vel.sgy: .*looks like km/s"):
        geogen.ingest(path, tmp_path / "vel.zarr", kind="velocity")
    assert not (tmp_path / "vel.zarr").exists()


def test_velocity_volume_in_kms_is_refused(tmp_path):
    il, xl, _, x, y = grid_3d(ns=8)
    v = np.full((3, 4, 8), 2.5, np.float32)
    path = write_stacked(tmp_path / "vol.sgy", v.reshape(-1, 8), inlines=il.ravel(), crosslines=xl.ravel(),
                         cdp_x=x.ravel(), cdp_y=y.ravel())
    with pytest.raises(InputError, match=r"looks like km/s"):
        geogen.ingest(path, tmp_path / "vol.zarr", kind="velocity", dz=4.0)
    assert not (tmp_path / "vol.zarr").exists()


def test_irregular_section_needs_dx(tmp_path):
    x = 10.0 * np.arange(12)
    x[5] += 3.0
    path = write_stacked(tmp_path / "vel.sgy", velocity_section().T, cdp_x=x, interval=10000)
    with pytest.raises(InputError, match=r"trace 6: cdp_x steps 13 m.*pass --dx"):
        geogen.ingest(path, tmp_path / "vel.zarr", kind="velocity")


def test_cli_velocity_options(tmp_path):
    import subprocess
    import sys

    v = velocity_section()
    path = write_stacked(tmp_path / "vel.sgy", v.T, cdp_x=10.0 * np.arange(12), interval=4)
    proc = subprocess.run([sys.executable, "-m", "geogen", "ingest", str(path), "--kind", "velocity", "--dz", "2.5",
                           "--out", str(tmp_path / "v.zarr"), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ds = geogen.open_store(tmp_path / "v.zarr", kind="velocity")
    np.testing.assert_allclose(ds["z"].values, 2.5 * np.arange(9))
