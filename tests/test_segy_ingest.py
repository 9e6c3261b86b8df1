"""SEG-Y shot gathers into survey stores: formats, byte orders, geometry, headers, options."""

from __future__ import annotations

import numpy as np
import pytest
import segyio
import xarray as xr
from segy_fixtures import patch_trace, write_shots

import geogen
from geogen.errors import InputError


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", [1, 2, 3, 5, 8])
def test_every_format_and_byte_order_matches_segyio(tmp_path, fmt, endian):
    src = write_shots(tmp_path / "line.sgy", fmt=fmt, endian=endian, missing=((0, 1),))
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    assert ds.attrs["segy_endian"] == endian and ds.attrs["segy_format"] == fmt
    with segyio.open(str(src.path), ignore_geometry=True, endian=endian) as f:
        reference = f.trace.raw[:].astype(np.float32)
    seismic = ds["seismic"].values
    assert seismic.dtype == np.float32 and seismic.shape == (4, 6, 50)
    np.testing.assert_array_equal(seismic[src.mask], reference)
    np.testing.assert_array_equal(seismic, src.data)


def test_survey_geometry_with_per_trace_scalars(tmp_path):
    # coordinate scalars cycle -100, 10, 0 from trace to trace; elevations use -10
    src = write_shots(tmp_path / "line.sgy", missing=((1, 2), (3, 5)), delay_ms=100)
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    assert ds.attrs["geogen_kind"] == "survey"
    assert ds["seismic"].dims == ("shot", "receiver", "time")
    assert ds["seismic"].encoding["chunks"] == (1, 6, 50)  # one shot per chunk
    np.testing.assert_array_equal(ds["ffid"].values, src.ffid)
    np.testing.assert_array_equal(ds["trace_mask"].values, src.mask)
    np.testing.assert_allclose(ds["source_x"].values, src.source_x)
    np.testing.assert_allclose(ds["source_y"].values, src.source_y)
    np.testing.assert_allclose(ds["source_z"].values, src.source_z)
    np.testing.assert_allclose(ds["receiver_x"].values, src.receiver_x)
    np.testing.assert_allclose(ds["receiver_z"].values, src.receiver_z)
    np.testing.assert_allclose(ds["offset"].values, src.offset)
    assert np.isnan(ds["receiver_x"].values[1, 2])
    # delay recording time applied: 100 ms, then 2 ms steps
    np.testing.assert_allclose(ds["time"].values, 0.1 + 0.002 * np.arange(50))
    assert ds["time"].attrs["units"] == "s" and ds["source_x"].attrs["units"] == "m"


def test_headers_kept_raw_and_decoded(tmp_path):
    src = write_shots(tmp_path / "line.sgy", missing=((0, 0),))
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    raw = src.path.read_bytes()
    assert bytes(ds["text_header"].values) == raw[:3200]
    assert bytes(ds["binary_header"].values) == raw[3200:3600]
    assert ds.attrs["segy_text_encoding"] == "ebcdic"
    assert ds.attrs["segy_text_header"].startswith("C 1 GEOGEN TEST SHOT GATHERS")
    trace_bytes = 240 + 50 * 4
    second = raw[3600 + trace_bytes:3600 + trace_bytes + 240]  # trace 2 = shot 0, receiver 2
    assert bytes(ds["trace_header"].values[0, 2]) == second
    assert ds["trace_number"].values[0, 2] == 2 and ds["trace_number"].values[0, 0] == 0
    assert not ds["trace_header"].values[0, 0].any()


def test_ascii_text_header(tmp_path):
    src = write_shots(tmp_path / "line.sgy", ascii_text=True)
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    assert ds.attrs["segy_text_encoding"] == "ascii"
    assert ds.attrs["segy_text_header"].startswith("C 1 GEOGEN TEST SHOT GATHERS")


def test_header_override_moves_ffid(tmp_path):
    src = write_shots(tmp_path / "line.sgy")
    # copy FFID into the energy-source-point slot's neighbour (bytes 181, cdp_x: unused here)
    with segyio.open(str(src.path), "r+", ignore_geometry=True) as f:
        for i in range(f.tracecount):
            h = f.header[i]
            h.update({segyio.su.cdpx: h[segyio.su.fldr] + 1000, segyio.su.fldr: 0})
    ds = geogen.ingest(src.path, tmp_path / "line.zarr", headers={"ffid": 181}, kind="survey")
    np.testing.assert_array_equal(ds["ffid"].values, src.ffid + 1000)
    np.testing.assert_array_equal(ds["seismic"].values, src.data)


def test_duplicates_policy(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    patch_trace(src.path, 4, 13, 1, size=4)  # trace 5 (shot 1, channel 2) now claims channel 1
    with pytest.raises(InputError, match=r"traces 4 and 5 both hold FFID 102 channel 1.*--duplicates"):
        geogen.ingest(src.path, tmp_path / "err.zarr")
    assert not (tmp_path / "err.zarr").exists()
    first = geogen.ingest(src.path, tmp_path / "first.zarr", duplicates="first")
    last = geogen.ingest(src.path, tmp_path / "last.zarr", duplicates="last")
    np.testing.assert_array_equal(first["seismic"].values[1, 0], src.data[1, 0])
    np.testing.assert_array_equal(last["seismic"].values[1, 0], src.data[1, 1])
    assert not first["trace_mask"].values[1, 1] and first["trace_mask"].values.sum() == 5


def test_missing_channel_numbers_fall_back_to_trace_order(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    for k in range(6):
        patch_trace(src.path, k, 13, 0, size=4)
    ds = geogen.ingest(src.path, tmp_path / "line.zarr", kind="survey")
    np.testing.assert_array_equal(ds["seismic"].values, src.data)
    assert "trace order" in ds.attrs["channel_numbers"]


def test_store_opens_with_xarray_and_geogen(tmp_path):
    src = write_shots(tmp_path / "line.sgy")
    geogen.ingest(src.path, tmp_path / "line.zarr")
    plain = xr.open_zarr(tmp_path / "line.zarr", consolidated=False)
    assert plain.attrs["geogen_kind"] == "survey"
    assert geogen.open_store(tmp_path / "line.zarr", kind="survey")["seismic"].shape == (4, 6, 50)


def test_segy_without_suffix_is_recognised(tmp_path):
    src = write_shots(tmp_path / "line.sgy", endian="little")
    plain = tmp_path / "line.dat"
    src.path.rename(plain)
    ds = geogen.ingest(plain, tmp_path / "line.zarr")
    np.testing.assert_array_equal(ds["seismic"].values, src.data)


def test_single_shot_with_cdp_numbers_is_a_survey(tmp_path):
    src = write_shots(tmp_path / "shot.sgy", n_shots=1, n_receivers=5)
    for k in range(5):
        patch_trace(src.path, k, 21, 700 + k, size=4)  # unique CDP numbers, as field shots often carry
    ds = geogen.ingest(src.path, tmp_path / "shot.zarr")
    assert ds.attrs["geogen_kind"] == "survey" and ds["seismic"].shape == (1, 5, 50)


# -- the fill over worker processes (adapters/segy_parallel.py) against one process ------------------


def _chunk_files(store):
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", [1, 5])
def test_forked_workers_write_the_one_process_store_byte_for_byte(tmp_path, monkeypatch, fmt):
    from geogen.adapters import segy_ingest, segy_parallel

    # 7 shots in blocks of 3: several blocks per worker and a short last trace-header chunk
    src = write_shots(tmp_path / "line.sgy", n_shots=7, fmt=fmt, missing=((2, 3),))
    monkeypatch.setattr(segy_ingest, "BLOCK_BYTES", 3 * 6 * (50 * 4 + 240 + 42))
    forked = []
    run_forked = segy_parallel._run_forked
    monkeypatch.setattr(segy_parallel, "_run_forked", lambda *a: forked.append(a[2]) or run_forked(*a))
    fast = geogen.ingest(src.path, tmp_path / "fast.zarr", workers=2)
    slow = geogen.ingest(src.path, tmp_path / "slow.zarr", workers=1)
    assert forked == [2]  # the first went through two worker processes, the second did not

    assert fast["trace_header"].encoding["chunks"] == (3, 6, 240)
    xr.testing.assert_identical(fast.load(), slow.load())
    np.testing.assert_array_equal(fast["seismic"].values, src.data)
    assert _chunk_files(tmp_path / "fast.zarr") == _chunk_files(tmp_path / "slow.zarr")
    # and the store reads back through plain Zarr
    import zarr

    np.testing.assert_array_equal(zarr.open_array(tmp_path / "fast.zarr" / "seismic", mode="r")[:], src.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.zarr", "line.sgy", "slow.zarr"]


def test_error_in_a_worker_is_raised_once_and_leaves_no_store(tmp_path, monkeypatch):
    from segy_fixtures import write_stacked

    from geogen.adapters import segy_ingest, segy_parallel

    il, xl = np.meshgrid(10 + np.arange(6), 100 + np.arange(4), indexing="ij")
    v = np.full((6, 4, 8), 2500.0, np.float32)
    v[4, 2, 5] = -1.0  # a bad value in the third block of two inlines
    path = write_stacked(tmp_path / "vol.sgy", v.reshape(-1, 8), inlines=il.ravel(), crosslines=xl.ravel(),
                         cdp_x=5000.0 + 12.5 * xl.ravel(), cdp_y=7000.0 + 25.0 * il.ravel())
    monkeypatch.setattr(segy_ingest, "BLOCK_BYTES", 2 * 4 * (8 * 4 + 240 + 42))
    forked = []
    run_forked = segy_parallel._run_forked
    monkeypatch.setattr(segy_parallel, "_run_forked", lambda *a: forked.append(a[2]) or run_forked(*a))
    messages = []
    for workers in (2, 1):
        with pytest.raises(InputError, match=r"vol.sgy: velocity holds a non-positive value -1") as err:
            geogen.ingest(path, tmp_path / "vol.zarr", kind="velocity", dz=4.0, workers=workers)
        messages.append(str(err.value))
        assert err.value.path == str(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.sgy"]  # no store, nothing staged
    assert forked == [2]  # the first run went through the workers
    assert messages[0] == messages[1]
