"""OpenFWI .npy ingest: velocity stores, pairs stores, streaming order, bad files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geogen
from geogen.acquisition import Acquisition
from geogen.data.store import open_store
from geogen.errors import InputError


def velocity_maps(n, seed, shape=(70, 70)):
    rng = np.random.default_rng(seed)
    return rng.uniform(1500.0, 4500.0, (n, 1, *shape)).astype(np.float32)


def records(n, seed, shape=(5, 1000, 70)):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def geogen_cli(*args):
    return subprocess.run([sys.executable, "-m", "geogen", *map(str, args)], capture_output=True, text=True)


def test_velocity_files_concatenate_in_file_number_order(tmp_path):
    # 50 + 30 + 7 maps: the 64-map chunks straddle file boundaries.
    maps = {n: velocity_maps(k, n) for n, k in ((1, 50), (2, 30), (10, 7))}
    paths = []
    for n, v in maps.items():
        np.save(tmp_path / f"model{n}.npy", v)
        paths.append(tmp_path / f"model{n}.npy")
    ds = geogen.ingest([paths[2], paths[0], paths[1]], tmp_path / "v.zarr")  # shell order model10, model1, model2
    assert ds.attrs["geogen_kind"] == "velocity"
    assert ds["velocity"].dims == ("model", "z", "x")
    assert ds["velocity"].dtype == np.float32 and ds["velocity"].attrs["units"] == "m/s"
    np.testing.assert_array_equal(ds["velocity"].values, np.concatenate([maps[1], maps[2], maps[10]])[:, 0])
    np.testing.assert_allclose(ds["z"].values, 10.0 * np.arange(70))
    np.testing.assert_allclose(ds["x"].values, 10.0 * np.arange(70))
    assert ds["z"].attrs["units"] == "m" and ds["x"].attrs["units"] == "m"
    assert ds["velocity"].encoding["chunks"][0] == 64


def test_grid_spacing_option(tmp_path):
    np.save(tmp_path / "vel3.npy", velocity_maps(4, 0, shape=(20, 30)))
    ds = geogen.ingest(tmp_path / "vel3.npy", tmp_path / "v.zarr", dz=5.0, dx=12.5)
    assert ds["velocity"].shape == (4, 20, 30)
    np.testing.assert_allclose(ds["z"].values, 5.0 * np.arange(20))
    np.testing.assert_allclose(ds["x"].values, 12.5 * np.arange(30))


def test_model_and_data_files_make_a_pairs_store(tmp_path):
    # 10 + 9 samples: the 16-sample chunks straddle the two files.
    v1, v2 = velocity_maps(10, 1), velocity_maps(9, 2)
    s1, s2 = records(10, 3), records(9, 4)
    for name, array in (("model1", v1), ("model2", v2), ("data1", s1), ("data2", s2)):
        np.save(tmp_path / f"{name}.npy", array)
    r = geogen_cli("ingest", tmp_path / "model2.npy", tmp_path / "data1.npy", tmp_path / "model1.npy",
                   tmp_path / "data2.npy", "--out", tmp_path / "p.zarr", "--json")
    assert r.returncode == 0, r.stderr
    ds = open_store(tmp_path / "p.zarr", kind="pairs")
    assert ds.attrs["origin"] == "simulated"
    assert Acquisition.from_attrs(ds.attrs) == Acquisition.preset("openfwi")
    assert ds["seismic"].dims == ("sample", "source", "time", "receiver")
    assert ds["seismic"].dtype == np.float32
    np.testing.assert_array_equal(ds["velocity"].values, np.concatenate([v1, v2])[:, 0])
    np.testing.assert_array_equal(ds["seismic"].values, np.concatenate([s1, s2]))
    np.testing.assert_allclose(ds["source_x"].values, [0, 170, 340, 520, 690])
    np.testing.assert_allclose(ds["time"].values, 0.001 * np.arange(1000))
    assert '"kind": "pairs"' in r.stdout


def test_fault_family_names_pair_vel_with_seis(tmp_path):
    np.save(tmp_path / "vel4.npy", velocity_maps(3, 5))
    np.save(tmp_path / "seis4.npy", records(3, 6))
    ds = geogen.ingest([tmp_path / "vel4.npy", tmp_path / "seis4.npy"], tmp_path / "p.zarr")
    assert ds.attrs["geogen_kind"] == "pairs" and ds.sizes["sample"] == 3


def test_kind_velocity_ignores_the_data_files(tmp_path):
    np.save(tmp_path / "model1.npy", velocity_maps(3, 5))
    np.save(tmp_path / "data1.npy", records(3, 6))
    ds = geogen.ingest([tmp_path / "model1.npy", tmp_path / "data1.npy"], tmp_path / "v.zarr", kind="velocity")
    assert ds.attrs["geogen_kind"] == "velocity"


@pytest.mark.parametrize(
    "data_shape, message",
    [((4, 5, 1000, 70), r"data1\.npy: holds 4 records but model1\.npy holds 3 velocity maps"),
     ((3, 5, 500, 70), r"data1\.npy: holds records of \(5, 500, 70\) .* but model1\.npy")],
)
def test_data_that_does_not_match_its_model_file(tmp_path, data_shape, message):
    np.save(tmp_path / "model1.npy", velocity_maps(3, 0))
    np.save(tmp_path / "data1.npy", np.zeros(data_shape, np.float32))
    with pytest.raises(InputError, match=message):
        geogen.ingest([tmp_path / "model1.npy", tmp_path / "data1.npy"], tmp_path / "p.zarr")
    assert not (tmp_path / "p.zarr").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_km_per_s_velocity_is_refused_on_the_command_line(tmp_path):
    np.save(tmp_path / "model1.npy", velocity_maps(3, 0) / 1000.0)
    r = geogen_cli("ingest", tmp_path / "model1.npy", "--out", tmp_path / "v.zarr")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "model1.npy" in lines[0] and "km/s" in lines[0]
    assert not (tmp_path / "v.zarr").exists()


def test_nan_in_one_map_names_the_file_and_map(tmp_path):
    v = velocity_maps(70, 0)
    v[67, 0, 3, 4] = np.nan
    np.save(tmp_path / "model1.npy", velocity_maps(5, 1))
    np.save(tmp_path / "model2.npy", v)
    with pytest.raises(InputError, match=r"model2\.npy: velocity map 67 holds NaN"):
        geogen.ingest([tmp_path / "model1.npy", tmp_path / "model2.npy"], tmp_path / "v.zarr")


def test_unpaired_files_are_named(tmp_path):
    for name in ("model1", "model2"):
        np.save(tmp_path / f"{name}.npy", velocity_maps(2, 0))
    np.save(tmp_path / "data1.npy", records(2, 0))
    np.save(tmp_path / "data3.npy", records(2, 0))
    with pytest.raises(InputError, match=r"model2\.npy: has no data file with the same number"):
        geogen.ingest([tmp_path / f"{n}.npy" for n in ("model1", "model2", "data1", "data3")], tmp_path / "p.zarr")


def test_wrong_shapes_and_not_npy(tmp_path):
    np.save(tmp_path / "model1.npy", np.full((3, 2, 70, 70), 2000.0, np.float32))
    with pytest.raises(InputError, match=r"model1\.npy: has shape \(3, 2, 70, 70\)"):
        geogen.ingest(tmp_path / "model1.npy", tmp_path / "v.zarr")
    fake = tmp_path / "model2.npy"
    fake.write_bytes(b"not numpy at all")
    with pytest.raises(InputError, match="model2.npy: is not a format geogen reads"):
        geogen.ingest(fake, tmp_path / "v.zarr")


def test_single_pair_with_different_numbers_is_refused(tmp_path):
    np.save(tmp_path / "model1.npy", velocity_maps(2, 0))
    np.save(tmp_path / "data2.npy", records(2, 0))
    with pytest.raises(InputError, match=r"model1\.npy: has no data file with the same number"):
        geogen.ingest([tmp_path / "model1.npy", tmp_path / "data2.npy"], tmp_path / "p.zarr")
