"""Stores out to SEG-Y: byte-exact rebuilds, round trips, and files built from coordinates."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import numpy as np
import pytest
import segyio
from segy_fixtures import patch_trace, write_shots, write_stacked

import geogen
from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import write_store

su = segyio.su


@pytest.mark.parametrize("fmt,endian", [(5, "big"), (5, "little"), (1, "big"), (1, "little"), (3, "big")])
def test_rebuild_is_byte_identical(tmp_path, fmt, endian):
    src = write_shots(tmp_path / "line.sgy", fmt=fmt, endian=endian, missing=((1, 3), (2, 0)), delay_ms=40)
    geogen.ingest(src.path, tmp_path / "line.zarr")
    out = geogen.export(tmp_path / "line.zarr", tmp_path / "again.sgy", format="segy")
    assert filecmp.cmp(src.path, out, shallow=False)


def test_rebuild_keeps_original_trace_order(tmp_path):
    rng = np.random.default_rng(3)
    il, xl = np.meshgrid(np.arange(1, 4), np.arange(1, 5), indexing="ij")
    order = np.argsort(xl.ravel(), kind="stable")  # crossline-major on disk
    values = rng.standard_normal((12, 16)).astype(np.float32)
    path = write_stacked(tmp_path / "cube.sgy", values[order], inlines=il.ravel()[order],
                         crosslines=xl.ravel()[order], cdp_x=10.0 * xl.ravel()[order], cdp_y=20.0 * il.ravel()[order])
    geogen.ingest(path, tmp_path / "cube.zarr")
    out = geogen.export(tmp_path / "cube.zarr", tmp_path / "again.sgy", format="segy")
    assert filecmp.cmp(path, out, shallow=False)


def test_ibm_exports_as_ieee_on_request(tmp_path):
    src = write_shots(tmp_path / "line.sgy", fmt=1)
    geogen.ingest(src.path, tmp_path / "line.zarr")
    out = geogen.export(tmp_path / "line.zarr", tmp_path / "ieee.sgy", format="segy", segy_format="ieee")
    with segyio.open(str(out), ignore_geometry=True) as f:
        assert f.bin[segyio.BinField.Format] == 5
        np.testing.assert_array_equal(f.trace.raw[:], src.data.reshape(-1, 50))
        assert list(f.attributes(su.fldr)[:]) == list(np.repeat(src.ffid, 6))


def test_ingest_export_ingest_is_identical(tmp_path):
    src = write_shots(tmp_path / "line.sgy", fmt=1, missing=((0, 4),), delay_ms=8)
    patch_trace(src.path, 6, 13, 2, size=4)  # a duplicate, dropped by --duplicates last
    first = geogen.ingest(src.path, tmp_path / "a.zarr", duplicates="last")
    geogen.export(tmp_path / "a.zarr", tmp_path / "b.sgy", format="segy")
    second = geogen.ingest(tmp_path / "b.sgy", tmp_path / "b.zarr")
    for name in ("seismic", "trace_mask", "source_x", "source_y", "source_z", "receiver_x", "receiver_z",
                 "offset", "ffid", "channel", "time", "trace_header"):
        np.testing.assert_array_equal(first[name].values, second[name].values, err_msg=name)


def test_cli_export(tmp_path):
    src = write_shots(tmp_path / "line.sgy")
    geogen.ingest(src.path, tmp_path / "line.zarr")
    proc = subprocess.run([sys.executable, "-m", "geogen", "export", str(tmp_path / "line.zarr"), "--format", "segy",
                           "--out", str(tmp_path / "out.sgy")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert filecmp.cmp(src.path, tmp_path / "out.sgy", shallow=False)


def small_pairs(n=2):
    a = Acquisition.preset("small", nt=60)
    rng = np.random.default_rng(0)
    velocity = (1500 + 3000 * rng.random((n, a.nz, a.nx))).astype(np.float32)
    seismic = rng.standard_normal((n, *a.seismic_shape)).astype(np.float32)
    return a, pairs_dataset(velocity, seismic, a, origin="simulated")


def test_pairs_export_has_valid_geometry(tmp_path):
    a, ds = small_pairs()
    write_store(ds, tmp_path / "pairs.zarr")
    out = geogen.export(tmp_path / "pairs.zarr", tmp_path / "pairs_segy", format="segy")
    assert sorted(p.name for p in out.iterdir()) == ["seismic_00000.sgy", "seismic_00001.sgy",
                                                     "velocity_00000.sgy", "velocity_00001.sgy"]
    with segyio.open(str(out / "seismic_00001.sgy"), ignore_geometry=True) as f:
        n_src, n_rec = a.n_sources, a.n_receivers
        assert f.tracecount == n_src * n_rec and len(f.samples) == a.nt
        assert f.bin[segyio.BinField.Interval] == 1000
        np.testing.assert_array_equal(f.attributes(su.fldr)[:], np.repeat(np.arange(1, n_src + 1), n_rec))
        np.testing.assert_array_equal(f.attributes(su.tracf)[:], np.tile(np.arange(1, n_rec + 1), n_src))
        sx = f.attributes(su.sx)[:] * 1.0
        gx = f.attributes(su.gx)[:] * 1.0
        np.testing.assert_array_equal(sx, np.repeat(a.source_x, n_rec))
        np.testing.assert_array_equal(gx, np.tile(a.receiver_x, n_src))
        np.testing.assert_array_equal(f.attributes(su.offset)[:], gx - sx)
        np.testing.assert_array_equal(f.attributes(su.sdepth)[:], 10)
        # trace (source 2, receiver 5) holds seismic[1, 2, :, 5]
        np.testing.assert_array_equal(f.trace[2 * n_rec + 5], ds["seismic"].values[1, 2, :, 5])
    # and geogen reads its own files back into the same geometry
    survey = geogen.ingest(out / "seismic_00001.sgy", tmp_path / "s.zarr")
    np.testing.assert_array_equal(survey["seismic"].values, ds["seismic"].values[1].transpose(0, 2, 1))
    np.testing.assert_allclose(survey["source_x"].values, a.source_x)
    np.testing.assert_allclose(survey["source_z"].values, a.source_z)
    np.testing.assert_allclose(survey["receiver_x"].values[0], a.receiver_x)
    np.testing.assert_allclose(survey["receiver_z"].values, a.receiver_z)
    np.testing.assert_allclose(survey["time"].values, ds["time"].values)
    velocity = geogen.ingest(out / "velocity_00001.sgy", tmp_path / "v.zarr", kind="velocity")
    np.testing.assert_array_equal(velocity["velocity"].values[0], ds["velocity"].values[1])
    np.testing.assert_allclose(velocity["z"].values, ds["z"].values)
    np.testing.assert_allclose(velocity["x"].values, ds["x"].values)


def test_velocity_store_round_trip(tmp_path):
    v = (1500 + 10 * np.arange(6 * 8).reshape(1, 6, 8)).astype(np.float32)
    write_store(velocity_dataset(v, dz=12.5, dx=7.5, x0=100.0), tmp_path / "v.zarr")
    out = geogen.export(tmp_path / "v.zarr", tmp_path / "v.sgy", format="segy")
    back = geogen.ingest(out, tmp_path / "back.zarr", kind="velocity")
    np.testing.assert_array_equal(back["velocity"].values, v)
    np.testing.assert_allclose(back["z"].values, 12.5 * np.arange(6))
    np.testing.assert_allclose(back["x"].values, 100.0 + 7.5 * np.arange(8))
    again = geogen.export(tmp_path / "back.zarr", tmp_path / "again.sgy", format="segy")
    assert filecmp.cmp(out, again, shallow=False)  # an ingested section rebuilds exactly


def test_many_velocity_models_export_as_directory(tmp_path):
    v = np.full((3, 4, 5), 2000.0, np.float32)
    write_store(velocity_dataset(v, dz=10, dx=10), tmp_path / "v.zarr")
    out = geogen.export(tmp_path / "v.zarr", tmp_path / "vdir", format="segy")
    assert sorted(p.name for p in out.iterdir()) == [f"velocity_{m:05d}.sgy" for m in range(3)]


def test_extended_text_headers_survive(tmp_path):
    path = tmp_path / "ext.sgy"
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount, spec.ext_headers = 5, np.arange(10), 4, 2
    with segyio.create(str(path), spec) as f:
        for k in range(4):
            f.header[k] = {su.fldr: 1 + k // 2, su.tracf: 1 + k % 2, su.ns: 10, su.dt: 1000}
            f.trace[k] = np.full(10, k, np.float32)
        f.text[1] = b"EXTENDED ONE".ljust(3200)
        f.text[2] = b"EXTENDED TWO".ljust(3200)
    ds = geogen.ingest(path, tmp_path / "ext.zarr")
    assert ds["extended_text_header"].shape == (2, 3200)
    np.testing.assert_array_equal(ds["seismic"].values[1, 1], np.full(10, 3.0))
    out = geogen.export(tmp_path / "ext.zarr", tmp_path / "again.sgy", format="segy")
    assert filecmp.cmp(path, out, shallow=False)
