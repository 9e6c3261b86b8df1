"""Real-world SEG-Y: stale counts, rev-2 extended fields, every scalar sign, coordinate units.

Every file that segyio reads is compared with segyio's reading of it.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import segyio
from segy_fixtures import patch_trace, patch_traces, set_binary, write_raw, write_shots, write_stacked

import geogen
from geogen.errors import InputError

su = segyio.su


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geogen", *args], capture_output=True, text=True, timeout=120)


def cube(tmp_path, *, fmt=5, endian="big", ns=75, n_il=3, n_xl=4, interval=4000, name="cube.sgy"):
    il, xl = np.meshgrid(10 + np.arange(n_il), 100 + np.arange(n_xl), indexing="ij")
    rng = np.random.default_rng(0)
    scale = 1000.0 if fmt in (2, 3) else 1.0
    values = np.rint(rng.standard_normal((il.size, ns)) * scale).astype(np.float32)
    path = write_stacked(tmp_path / name, values, inlines=il.ravel(), crosslines=xl.ravel(), fmt=fmt, endian=endian,
                         cdp_x=5000.0 + 12.5 * xl.ravel(), cdp_y=7000.0 + 25.0 * il.ravel(), interval=interval)
    return path, values.reshape(n_il, n_xl, ns)


def segyio_traces(path, endian="big"):
    with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
        return f.trace.raw[:].astype(np.float32), np.asarray(f.samples)


# -- sample count: the file size settles which count is right -------------------------------------


@pytest.mark.parametrize("fmt,endian", [(3, "big"), (1, "big"), (5, "little")])
def test_stale_trace_header_counts_are_read_with_the_binary_count(tmp_path, fmt, endian):
    # the cropped survey: every trace header says 462 samples, the binary header and the size say 75
    path, values = cube(tmp_path, fmt=fmt, endian=endian)
    sample_size = {1: 4, 3: 2, 5: 4}[fmt]
    patch_traces(path, 115, 462, trace_bytes=240 + 75 * sample_size, endian=endian)
    reference, samples = segyio_traces(path, endian)  # segyio reads it, with the binary header's 75
    assert reference.shape == (12, 75)
    with pytest.warns(
        UserWarning,
        match=r"12 of 12 trace headers give another sample count \(bytes 115-116, e.g. 462\) "
        r"than the 75 of the binary header bytes 3221-3222",
    ):
        ds = geogen.ingest(path, tmp_path / "cube.zarr")
    assert ds["seismic"].shape == (3, 4, 75)
    np.testing.assert_array_equal(ds["seismic"].values.reshape(12, 75), reference)
    np.testing.assert_allclose(ds["time"].values, samples / 1000.0)
    assert ds.attrs["segy_samples_from"] == "binary header bytes 3221-3222"
    # as a command: exit 0, and exactly one warning line on stderr
    proc = run_cli("ingest", str(path), "--out", str(tmp_path / "cli.zarr"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "12 of 12 trace headers" in lines[0], proc.stderr


@pytest.mark.parametrize("binary_count", [0, 60])
def test_binary_count_the_file_size_rejects_falls_back_to_trace_one(tmp_path, binary_count):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    set_binary(src.path, 3221, binary_count)
    if binary_count:  # the size does not fit 60 samples: segyio refuses the file
        with pytest.raises(RuntimeError, match="trace count inconsistent"):
            segyio.open(str(src.path), ignore_geometry=True)
    else:  # segyio 1.9 takes 0 samples: 240-byte "traces", no data
        assert segyio_traces(src.path)[0].shape == (11, 0)
    with pytest.warns(UserWarning, match=rf"the sample count 50 comes from the trace 1, bytes 115-116 "
                                         rf"\(bytes 3221-3222 hold {binary_count}\)"):
        ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_array_equal(ds["seismic"].values, src.data)


def test_no_interpretation_fits_is_one_line(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    set_binary(src.path, 3221, 60)
    with open(src.path, "ab") as fh:
        fh.write(b"\0" * 7)
    proc = run_cli("ingest", str(src.path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "fits none of the sample counts it gives: 60 (binary header bytes 3221-3222), " \
                               "50 (trace 1, bytes 115-116)" in lines[0], proc.stderr
    assert not (tmp_path / "line.zarr").exists()


def test_rev2_extended_sample_count_and_interval(tmp_path):
    # 70000 samples (more than bytes 3221-3222 can hold), 250 us as rev 2's IEEE double
    ns, n = 70000, 3
    rng = np.random.default_rng(1)
    samples = rng.integers(-100, 100, (n, ns)).astype(np.int8)
    path = write_raw(tmp_path / "long.sgy", samples, {9: (np.arange(n) + 1, 4), 13: (1, 4)}, fmt=8,
                     binary={3501: (0x0200, 2), 3221: (0, 2), 3269: (ns, 4), 3273: (250.0, 8)})
    ds = geogen.ingest(path, tmp_path / "long.zarr", kind="survey")
    assert ds["seismic"].shape == (3, 1, ns)
    np.testing.assert_array_equal(ds["seismic"].values[:, 0], samples.astype(np.float32))
    np.testing.assert_allclose(ds["time"].values[:3], [0.0, 0.00025, 0.0005])
    assert ds.attrs["segy_samples_from"].startswith("extended sample count")
    assert ds["time"].attrs["sample_interval_from"].startswith("extended sample interval")


def test_rev2_extended_count_overrides_a_stale_short_count(tmp_path):
    samples = np.arange(4 * 30, dtype=np.float32).reshape(4, 30)
    path = write_raw(tmp_path / "r2.sgy", samples, {9: (np.arange(4) + 1, 4), 13: (1, 4), 115: (30, 2), 117: (1000, 2)},
                     binary={3501: (0x0200, 2), 3217: (1000, 2), 3221: (20, 2), 3269: (30, 4)})
    with pytest.warns(UserWarning, match=r"sample count 30 comes from the extended sample count, binary header bytes "
                                         r"3269-3272 \(bytes 3221-3222 hold 20\)"):
        ds = geogen.ingest(path, tmp_path / "r2.zarr", kind="survey")
    np.testing.assert_array_equal(ds["seismic"].values[:, 0], samples)


def test_negative_binary_interval_falls_back_to_the_trace_headers(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3, dt_us=2000)
    set_binary(src.path, 3217, -4000)
    with pytest.warns(UserWarning, match=r"sample interval 2000 comes from the trace headers bytes 117-118 \(6 of 6"):
        ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_allclose(ds["time"].values, 0.002 * np.arange(50))


def test_disagreeing_trace_intervals_are_counted(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3, dt_us=2000)
    patch_trace(src.path, 1, 117, 4000)
    patch_trace(src.path, 4, 117, 4000)
    with pytest.warns(UserWarning, match=r"2 trace headers give another sample interval \(bytes 117-118, e.g. 4000\) "
                                         r"than the 2000 of the binary header"):
        ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_allclose(ds["time"].values[1], 0.002)


def test_no_interval_anywhere_is_refused(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    set_binary(src.path, 3217, 0)
    patch_traces(src.path, 117, 0, trace_bytes=240 + 50 * 4)
    proc = run_cli("ingest", str(src.path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "has no usable sample interval: binary header bytes 3217-3218 hold 0" in proc.stderr
    # a velocity file in depth does not need it when --dz is given
    v = np.full((6, 9), 2000.0, np.float32)
    path = write_stacked(tmp_path / "vel.sgy", v, cdp_x=10.0 * np.arange(6), interval=0)
    ds = geogen.ingest(path, tmp_path / "vel.zarr", kind="velocity", dz=5.0)
    np.testing.assert_allclose(ds["z"].values, 5.0 * np.arange(9))


# -- scalars ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("delay,scalar,t0", [(10000, -10, 1.0), (100, 10, 1.0), (250, 0, 0.25), (250, 1, 0.25),
                                             (12345, -100, 0.12345)])
def test_time_scalar_applies_to_the_delay(tmp_path, delay, scalar, t0):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3, delay_ms=delay)
    patch_traces(src.path, 215, scalar, trace_bytes=240 + 50 * 4)
    _, samples = segyio_traces(src.path)  # segyio applies trace 1's time scalar to its delay (ms)
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_allclose(ds["time"].values[0], t0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds["time"].values, samples / 1000.0, rtol=1e-12)
    assert ds["time"].attrs["time_scalar"] == (scalar or 1)


def test_absurd_time_scalar_matters_only_with_a_delay(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    patch_trace(src.path, 2, 215, 7)
    assert geogen.ingest(src.path, tmp_path / "a.zarr")["time"].values[0] == 0.0  # no delay: nothing to scale
    patch_traces(src.path, 109, 20, trace_bytes=240 + 50 * 4)
    with pytest.raises(InputError, match=r"trace 3 has time scalar 7 \(bytes 215-216\)"):
        geogen.ingest(src.path, tmp_path / "b.zarr")


@pytest.mark.parametrize("elevation_scalar", [-100, -10, 0, 1, 10])
def test_elevation_scalar_each_sign(tmp_path, elevation_scalar):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3, elevation_scalar=elevation_scalar or -1)
    patch_traces(src.path, 69, elevation_scalar, trace_bytes=240 + 50 * 4)  # 0 means 1
    with segyio.open(str(src.path), ignore_geometry=True) as f:  # the raw values segyio reads
        gelev = f.attributes(su.gelev)[:].astype(float).reshape(2, 3)
    factor = {-100: 0.01, -10: 0.1, 0: 1.0, 1: 1.0, 10: 10.0}[elevation_scalar]
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_allclose(ds["receiver_z"].values, -gelev * factor, rtol=1e-12)


# -- units -----------------------------------------------------------------------------------------


def test_feet_become_metres_and_the_store_says_so(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    set_binary(src.path, 3255, 2)  # measurement system: feet
    ds = geogen.ingest(src.path, tmp_path / "line.zarr")
    np.testing.assert_allclose(ds["source_x"].values, src.source_x * 0.3048)
    np.testing.assert_allclose(ds["receiver_x"].values, src.receiver_x * 0.3048)
    np.testing.assert_allclose(ds["offset"].values, src.offset * 0.3048)
    assert ds.attrs["segy_length_unit"] == "ft" and "0.3048" in ds.attrs["segy_length_conversion"]
    assert ds["source_x"].attrs["units"] == "m" and ds.attrs["segy_coordinate_units"] == "length"


@pytest.mark.parametrize("code,raw,scalar,degrees", [(2, 36000, 1, 10.0), (3, 123456, -10000, 12.3456),
                                                     (4, 1013030, -1, 101 + 30 / 60 + 30 / 3600)])
def test_geographic_coordinates_refused_unless_asked(tmp_path, code, raw, scalar, degrees):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3, coordinate_scalars=(scalar,))
    tb = 240 + 50 * 4
    patch_traces(src.path, 89, code, trace_bytes=tb)
    patch_traces(src.path, 73, raw, size=4, trace_bytes=tb)
    proc = run_cli("ingest", str(src.path))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "gives its coordinates in" in proc.stderr and "--geographic" in proc.stderr
    assert not (tmp_path / "line.zarr").exists()
    ds = geogen.ingest(src.path, tmp_path / "line.zarr", geographic=True)
    np.testing.assert_allclose(ds["source_x"].values, degrees)
    assert ds["source_x"].attrs["units"] == "degrees_east" and ds["receiver_y"].attrs["units"] == "degrees_north"
    assert ds["offset"].attrs["units"] == "m"


def test_unknown_coordinate_units_are_refused(tmp_path):
    src = write_shots(tmp_path / "line.sgy", n_shots=2, n_receivers=3)
    patch_trace(src.path, 4, 89, 9)
    with pytest.raises(InputError, match=r"trace 5 has coordinate units 9 \(bytes 89-90\)"):
        geogen.ingest(src.path, tmp_path / "line.zarr")


# -- header scan in windows: the same store whatever the window --------------------------------------


@pytest.mark.parametrize("cache", [0, 1 << 21])
@pytest.mark.parametrize("duplicates", ["first", "last"])
def test_windowed_scan_matches_one_window(tmp_path, monkeypatch, duplicates, cache):
    from geogen.adapters import segy_headers

    monkeypatch.setattr(segy_headers, "CACHE_TRACES", cache)  # 0: the grid pass reads the file again
    src = write_shots(tmp_path / "line.sgy", n_shots=5, n_receivers=4, missing=((1, 2),), delay_ms=20)
    patch_trace(src.path, 13, 13, 1, size=4)  # trace 14 (shot 3) duplicates channel 1: across windows of 3
    whole = geogen.ingest(src.path, tmp_path / "whole.zarr", duplicates=duplicates).load()
    monkeypatch.setattr(segy_headers, "SCAN_WINDOW", 3)
    small = geogen.ingest(src.path, tmp_path / "small.zarr", duplicates=duplicates).load()
    import xarray as xr

    xr.testing.assert_identical(whole, small)
    for window in (3, 1 << 17):
        monkeypatch.setattr(segy_headers, "SCAN_WINDOW", window)
        with pytest.raises(
            InputError, match=r"traces 12 and 14 both hold FFID 104 channel 1 \(1 duplicate traces in all\)"
        ):
            geogen.ingest(src.path, tmp_path / "err.zarr")


@pytest.mark.parametrize("cache", [0, 1 << 21])
def test_windowed_trace_order_channels(tmp_path, monkeypatch, cache):
    from geogen.adapters import segy_headers

    monkeypatch.setattr(segy_headers, "CACHE_TRACES", cache)
    src = write_shots(tmp_path / "line.sgy", n_shots=3, n_receivers=4)
    patch_traces(src.path, 13, 0, size=4, trace_bytes=240 + 50 * 4)
    monkeypatch.setattr(segy_headers, "SCAN_WINDOW", 5)
    ds = geogen.ingest(src.path, tmp_path / "line.zarr", kind="survey")
    np.testing.assert_array_equal(ds["seismic"].values, src.data)
    np.testing.assert_array_equal(ds["channel"].values, [1, 2, 3, 4])
