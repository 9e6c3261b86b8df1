"""Zarr/netCDF ingest and export: round trips of every store kind, foreign velocity grids."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import geogen
from geogen.acquisition import Acquisition
from geogen.data.attrs import JSON_ATTRS, decode_attrs, encode_attrs
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.errors import InputError, StoreKindError


def survey_dataset(n_shot=4, n_rec=12, nt=30):
    rng = np.random.default_rng(1)
    mask = np.ones((n_shot, n_rec), bool)
    mask[2, 5:8] = False
    rx = 25.0 * np.arange(n_rec)[None, :] + 50.0 * np.arange(n_shot)[:, None]
    return xr.Dataset(
        {
            "seismic": (("shot", "receiver", "time"), rng.standard_normal((n_shot, n_rec, nt)).astype(np.float32)),
            "trace_mask": (("shot", "receiver"), mask),
            "receiver_x": (("shot", "receiver"), rx, {"units": "m"}),
            "offset": (("shot", "receiver"), rx - 50.0 * np.arange(n_shot)[:, None], {"units": "m"}),
            "ffid": ("shot", np.arange(1, n_shot + 1, dtype=np.int32)),
            "trace_headers": (("shot", "receiver", "byte"), rng.integers(0, 255, (n_shot, n_rec, 240), dtype=np.uint8)),
        },
        # Geometry as coordinates on the shot axis, as the SEG-Y adapter writes it: re-chunking
        # a data variable must not re-chunk these along with it.
        coords={"time": ("time", 0.002 * np.arange(nt), {"units": "s"}),
                "source_x": ("shot", 50.0 * np.arange(n_shot), {"units": "m"})},
        attrs={
            "geogen_kind": "survey", "textual_header": "C 1 CLIENT geogen test line" + " " * 20,
            "binary_header": {"sample_interval_us": 2000, "format": 5}, "little_endian": False,
            "note": None, "scalars": [1, -100], "ratio": 0.5,
        },
    )


def pairs_store_dataset():
    a = Acquisition.preset("small")
    rng = np.random.default_rng(2)
    v = rng.uniform(1500, 4500, (20, *a.shape)).astype(np.float32)
    s = rng.standard_normal((20, *a.seismic_shape)).astype(np.float32)
    ds = pairs_dataset(
        v, s, a, origin="generated", attrs={"checkpoint": "run/checkpoints/diffusion.pt", "steps": 50, "seed": 0}
    )
    return ds.assign(physics_rel_l2=("sample", rng.uniform(0, 1, 20)))


def velocity_store_dataset():
    v = np.random.default_rng(3).uniform(1500, 4500, (3, 9, 11)).astype(np.float32)
    return velocity_dataset(v, dz=5.0, dx=12.5, x0=100.0)


STORES = {"survey": survey_dataset, "pairs": pairs_store_dataset, "velocity": velocity_store_dataset}


def assert_same_store(a: xr.Dataset, b: xr.Dataset) -> None:
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        assert a[name].dtype == b[name].dtype, name
        assert a[name].dims == b[name].dims, name
        assert a[name].attrs == b[name].attrs, name
    assert set(a.coords) == set(b.coords)
    assert a.attrs == b.attrs


@pytest.mark.parametrize("kind", sorted(STORES))
@pytest.mark.parametrize("fmt, suffix", [("netcdf", ".nc"), ("zarr", ".zarr")])
def test_ingest_export_ingest_is_identity(tmp_path, kind, fmt, suffix):
    write_store(STORES[kind](), tmp_path / "a.zarr")
    first = geogen.ingest(tmp_path / "a.zarr", tmp_path / "b.zarr")
    geogen.export(tmp_path / "b.zarr", tmp_path / f"c{suffix}", format=fmt)
    again = geogen.ingest(tmp_path / f"c{suffix}", tmp_path / "d.zarr")
    assert_same_store(open_store(tmp_path / "a.zarr"), again)
    assert_same_store(first, again)
    assert again.attrs["geogen_kind"] == kind
    if fmt == "netcdf":  # the exported file is read by geogen and by plain xarray as it is
        plain = open_store(tmp_path / "c.nc")
        assert plain.attrs == again.attrs  # JSON-encoded attributes decoded on open
        assert xr.open_dataset(tmp_path / "c.nc").attrs["geogen_kind"] == kind
        name = "seismic" if kind != "velocity" else "velocity"
        np.testing.assert_array_equal(plain[name].values, again[name].values)


def test_ingest_rechunks_to_the_kind_standard(tmp_path):
    write_store(
        pairs_store_dataset(), tmp_path / "p.zarr", chunks={"seismic": {"sample": 1}, "velocity": {"sample": 1}}
    )
    write_store(survey_dataset(), tmp_path / "s.zarr", chunks={"seismic": {"shot": 4}})
    pairs = geogen.ingest(tmp_path / "p.zarr", tmp_path / "p2.zarr")
    survey = geogen.ingest(tmp_path / "s.zarr", tmp_path / "s2.zarr")
    assert pairs["seismic"].encoding["chunks"] == (16, 3, 400, 32)
    assert pairs["velocity"].encoding["chunks"][0] == 20
    assert survey["seismic"].encoding["chunks"] == (1, 12, 30)  # one shot per chunk
    # records in lz4 with byte shuffling (amplitudes hardly compress: speed decides), maps in zstd
    assert pairs["seismic"].encoding["compressors"][0].to_dict()["configuration"]["cname"] == "lz4"
    assert pairs["velocity"].encoding["compressors"][0].to_dict()["configuration"]["cname"] == "zstd"


def test_attributes_are_netcdf_legal_and_come_back():
    attrs = survey_dataset().attrs
    encoded = encode_attrs(attrs)
    assert all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in encoded.values())
    assert json.loads(encoded[JSON_ATTRS]) == ["binary_header", "little_endian", "note", "scalars"]
    assert decode_attrs(encoded) == attrs


def test_foreign_netcdf_velocity_in_km_per_s_and_bottom_up(tmp_path):
    depth = np.arange(8, dtype=float)[::-1] * 0.01  # km, stored bottom-up
    x = np.arange(12, dtype=float) * 25.0
    vp = 1.5 + depth[:, None] + 0.0001 * x[None, :]  # km/s
    foreign = xr.Dataset(
        {"vp": (("depth", "x"), vp, {"units": "km/s"}), "rho": (("depth", "x"), np.ones_like(vp), {"units": "g/cm3"})},
        coords={"depth": ("depth", depth, {"units": "km"}), "x": ("x", x, {"units": "m"})},
    )
    foreign.to_netcdf(tmp_path / "model.nc")
    ds = geogen.ingest(tmp_path / "model.nc", tmp_path / "v.zarr")
    assert ds.attrs["geogen_kind"] == "velocity"
    assert ds["velocity"].shape == (1, 8, 12)
    np.testing.assert_allclose(ds["z"].values, 10.0 * np.arange(8))
    np.testing.assert_allclose(ds["x"].values, x)
    expected = 1000.0 * (1.5 + ds["z"].values[:, None] / 1000.0 + 0.0001 * x[None, :])
    np.testing.assert_allclose(ds["velocity"].values[0], expected, rtol=1e-6)


def test_foreign_zarr_3d_velocity_becomes_several_models(tmp_path):
    v = np.full((3, 5, 6), 2000.0) + np.arange(3)[:, None, None]
    foreign = xr.Dataset(
        {"velocity": (("y", "z", "x"), v, {"units": "m/s"})},
        coords={"y": ("y", [0.0, 50.0, 100.0]), "z": ("z", 4.0 * np.arange(5)), "x": ("x", 4.0 * np.arange(6))},
    )
    foreign.to_zarr(tmp_path / "cube.zarr", zarr_format=2, consolidated=False)
    ds = geogen.ingest(tmp_path / "cube.zarr", tmp_path / "v.zarr")
    assert ds["velocity"].dims == ("model", "z", "x") and ds.sizes["model"] == 3
    np.testing.assert_array_equal(ds["velocity"].values[:, 0, 0], [2000.0, 2001.0, 2002.0])
    np.testing.assert_array_equal(ds["source_y"].values, [0.0, 50.0, 100.0])


def test_foreign_dataset_without_velocity_lists_what_it_holds(tmp_path):
    xr.Dataset({"temperature": (("lat", "lon"), np.zeros((2, 3)), {"units": "K"})}).to_netcdf(tmp_path / "t.nc")
    with pytest.raises(InputError, match=r"t\.nc: holds no velocity variable \(found temperature\(lat, lon\) \[K\]\)"):
        geogen.ingest(tmp_path / "t.nc", tmp_path / "v.zarr")
    xr.Dataset({"vp": (("time", "x"), np.full((2, 3), 2000.0))}).to_netcdf(tmp_path / "w.nc")
    with pytest.raises(InputError, match=r"velocity-like variables vp\(time, x\) but none .* depth"):
        geogen.ingest(tmp_path / "w.nc", tmp_path / "v.zarr")
    assert not (tmp_path / "v.zarr").exists()


def test_foreign_velocity_in_km_per_s_without_units_is_refused(tmp_path):
    xr.Dataset({"v": (("z", "x"), np.full((4, 5), 2.5))}, coords={"z": np.arange(4.0), "x": np.arange(5.0)}).to_netcdf(
        tmp_path / "k.nc"
    )
    with pytest.raises(InputError, match="k.nc: variable 'v' ranges 2.5-2.5: that looks like km/s"):
        geogen.ingest(tmp_path / "k.nc", tmp_path / "v.zarr")


def test_kind_override_must_match_a_geogen_store(tmp_path):
    write_store(pairs_store_dataset(), tmp_path / "p.zarr")
    with pytest.raises(StoreKindError, match="is a pairs store; --kind velocity does not apply"):
        geogen.ingest(tmp_path / "p.zarr", tmp_path / "q.zarr", kind="velocity")


def test_cli_export_netcdf_and_back(tmp_path):
    write_store(survey_dataset(), tmp_path / "s.zarr")
    r = subprocess.run([sys.executable, "-m", "geogen", "export", str(tmp_path / "s.zarr"), "--format", "netcdf",
                        "--out", str(tmp_path / "s.nc")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "s.nc", "rb") as fh:
        assert fh.read(4) == b"\x89HDF"  # netCDF-4
    r = subprocess.run(
        [sys.executable, "-m", "geogen", "ingest", str(tmp_path / "s.nc"), "--out", str(tmp_path / "t.zarr")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert_same_store(open_store(tmp_path / "s.zarr"), open_store(tmp_path / "t.zarr"))


def test_segy_survey_survives_netcdf_and_exports_the_same_bytes(tmp_path):
    """SEG-Y -> store -> netCDF -> store -> SEG-Y gives back the original file byte for byte."""
    import segyio

    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(50)), 3 * 8
    with segyio.create(str(tmp_path / "line.sgy"), spec) as f:
        for t in range(spec.tracecount):
            shot, rec = divmod(t, 8)
            f.header[t] = {segyio.su.fldr: shot + 1, segyio.su.tracf: rec + 1, segyio.su.sx: 100 * shot,
                           segyio.su.gx: 100 * shot + 25 * rec, segyio.su.scalco: 1, segyio.su.offset: 25 * rec,
                           segyio.su.ns: 50, segyio.su.dt: 2000}
            f.trace[t] = np.sin(0.1 * np.arange(50) + t).astype(np.float32)
        f.bin.update(hns=50, hdt=2000, format=5)
    geogen.ingest(tmp_path / "line.sgy", tmp_path / "line.zarr")
    geogen.export(tmp_path / "line.zarr", tmp_path / "line.nc", format="netcdf")
    back = geogen.ingest(tmp_path / "line.nc", tmp_path / "back.zarr")
    original = open_store(tmp_path / "line.zarr")
    assert_same_store(original, back)
    assert back["seismic"].encoding["chunks"] == (1, 8, 50)  # one shot per chunk
    geogen.export(tmp_path / "back.zarr", tmp_path / "back.sgy", format="segy")
    assert (tmp_path / "back.sgy").read_bytes() == (tmp_path / "line.sgy").read_bytes()
