"""Maps from well logs: blocking, despiking, windows, lateral spread, honouring the well,
interpolation between wells, and ``geogen synth --wells``; each against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import geogen
from geogen.acquisition import Acquisition
from geogen.cli import main
from geogen.data.store import open_store, write_store
from geogen.physics.wells import (
    HONOUR_TOLERANCE,
    WellGrid,
    blocked_log,
    despike,
    honour_error,
    maps_from_wells,
    window_starts,
)

ACQ = Acquisition.preset("small", nz=8, nx=12, source_x=(0.0, 110.0), receiver_x=tuple(10.0 * i for i in range(12)))


def wells_store(depth, *logs, positions=None, names=None):
    v = np.stack([np.asarray(log_, dtype=np.float32) for log_ in logs])
    n = v.shape[0]
    return xr.Dataset(
        {"velocity": (("well", "depth"), v, {"units": "m/s"}),
         "name": ("well", np.array(names or [f"W{i}" for i in range(n)], dtype=object)),
         "position_x": ("well", np.asarray(positions if positions is not None else [np.nan] * n, dtype=float))},
        coords={"well": np.arange(n), "depth": np.asarray(depth, dtype=float)}, attrs={"geogen_kind": "wells"})


def test_blocking_is_a_slowness_average_per_cell():
    depth = np.arange(5.0, 15.0, 0.5)  # 20 samples filling cell 1 = [5, 15) m
    v = np.where(depth < 10.0, 2000.0, 4000.0)
    # 5 m at 2000 and 5 m at 4000 m/s: 10 / (5/2000 + 5/4000) = 2666.67 m/s (the arithmetic mean would be 3000)
    for spikes in (False, True):  # the running median keeps the step
        b = blocked_log(depth, v, 10.0, despike_log=spikes)
        assert len(b) == 2 and np.isnan(b[0])
        assert b[1] == pytest.approx(10.0 / (5.0 / 2000.0 + 5.0 / 4000.0), rel=1e-12)


def test_cells_with_too_little_log_are_empty():
    depth = np.arange(5.0, 9.0, 0.5)  # 8 samples, 4 m of the 10 m cell: under half
    assert np.isnan(blocked_log(depth, np.full(8, 3000.0), 10.0, despike_log=False)).all()
    depth = np.arange(5.0, 11.0, 0.5)  # 6 m: kept
    assert blocked_log(depth, np.full(12, 3000.0), 10.0, despike_log=False)[1] == pytest.approx(3000.0)


def test_despike_removes_a_spike_and_keeps_steps():
    depth = np.arange(0.0, 20.0, 0.1524)
    v = np.where(depth < 10.0, 2500.0, 3500.0)
    spiked = v.copy()
    spiked[20] = 6000.0  # a cycle skip
    np.testing.assert_array_equal(despike(spiked, depth), v)
    np.testing.assert_array_equal(despike(v, depth), v)


def test_window_starts():
    b = np.array([np.nan, 2000.0, 2100.0, 2200.0, np.nan, 2300.0, 2400.0])
    np.testing.assert_array_equal(window_starts(b, 2, 1500.0, 4500.0), [1, 2, 5])
    np.testing.assert_array_equal(window_starts(b, 2, 1500.0, 2150.0), [1])
    np.testing.assert_array_equal(window_starts(b, 3, 1500.0, 4500.0), [1])


@pytest.fixture(scope="module")
def one_log(tmp_path_factory):
    """A LAS file of a 360 m log (us/ft sonic every 0.1524 m, from 200 m down), ingested as a wells store."""
    d = tmp_path_factory.mktemp("wells")
    depth_ft = np.arange(200.0 / 0.3048, 560.0 / 0.3048, 0.5)
    depth = depth_ft * 0.3048
    rng = np.random.default_rng(3)
    v = 2000.0 + 3.0 * (depth - 200.0) + 250.0 * (np.sin(depth / 9.0) > 0.3) + rng.normal(0.0, 40.0, depth.size)
    dt = 304800.0 / v
    dt[[100, 700]] = -999.25
    rows = "\n".join(f"{z:.2f} {s:.4f}" for z, s in zip(depth_ft, dt))
    text = ("~VERSION\n VERS. 2.0 :\n WRAP. NO :\n~WELL\n STRT.FT %.2f :\n STOP.FT %.2f :\n STEP.FT 0.5 :\n"
            " NULL. -999.25 :\n WELL. DEMO-1 :\n~CURVE\n DEPT.FT :\n DT.US/F :\n~A\n%s\n") % (
                depth_ft[0], depth_ft[-1], rows)
    (d / "demo.las").write_text(text)
    geogen.ingest(d / "demo.las", d / "wells.zarr")
    return d


def test_every_map_honours_its_well(one_log):
    wells = open_store(one_log / "wells.zarr", kind="wells")
    maps = maps_from_wells(wells, 60, ACQ, seed=4)
    assert maps["velocity"].shape == (60, 8, 12)
    grid = WellGrid.build(wells, ACQ)
    v = maps["velocity"].values
    for i in range(60):
        col, k0 = int(maps["well_column"][i]), int(round(float(maps["window_top_m"][i]) / ACQ.dz))
        expected = grid.blocked[0][k0:k0 + ACQ.nz]
        assert np.all(np.isfinite(expected))
        assert np.max(np.abs(v[i, :, col] - expected)) <= HONOUR_TOLERANCE
        assert float(maps["window_top_m"][i]) >= 200.0  # windows lie inside the logged interval
    assert honour_error(maps, wells, ACQ).max() <= HONOUR_TOLERANCE
    # every velocity is one of the log's blocked cells (one well, no blend)
    cells = grid.blocked[0][np.isfinite(grid.blocked[0])].astype(np.float32)
    assert np.isin(v, cells).all()
    family = maps["family"].values.astype(str)
    flat = family == "flat"
    assert flat.any() and (~flat).any()
    assert all(np.all(v[i] == v[i][:, :1]) for i in np.flatnonzero(flat))  # flat: every column is the log
    lateral = [np.any(v[i] != v[i][:, :1]) for i in np.flatnonzero(~flat)]
    assert np.mean(lateral) > 0.5  # curved and faulted layers vary along x


def test_map_i_does_not_depend_on_n(one_log):
    wells = open_store(one_log / "wells.zarr", kind="wells")
    a = maps_from_wells(wells, 5, ACQ, seed=1)["velocity"].values
    b = maps_from_wells(wells, 9, ACQ, seed=1)["velocity"].values
    np.testing.assert_array_equal(a, b[:5])
    assert not np.array_equal(a, maps_from_wells(wells, 5, ACQ, seed=2)["velocity"].values)


def test_interpolation_between_two_wells_on_a_line():
    depth = np.arange(0.0, 200.0, 0.5)
    wells = wells_store(depth, np.full(depth.size, 2000.0), np.full(depth.size, 3000.0), positions=[0.0, 1000.0])
    maps = maps_from_wells(wells, 12, ACQ, seed=0, families=("flat",))
    for i in range(12):
        j, own = int(maps["well_column"][i]), int(maps["well"][i])
        v_own, v_other = (2000.0, 3000.0) if own == 0 else (3000.0, 2000.0)
        toward = 1.0 if own == 0 else -1.0  # well 1 sits at 1000 m: its neighbour is to the left
        w = np.clip(toward * (np.arange(ACQ.nx) - j) * ACQ.dx / 1000.0, 0.0, 1.0)
        expected = 1.0 / ((1.0 - w) / v_own + w / v_other)
        np.testing.assert_allclose(maps["velocity"].values[i], np.broadcast_to(expected, (ACQ.nz, ACQ.nx)), rtol=1e-6)
        assert maps["velocity"].values[i, 0, j] == v_own


def test_no_window_long_enough_is_an_input_error(tmp_path, capsys):
    depth = np.arange(0.0, 40.0, 0.5)  # 40 m of log, the grid needs 70 m
    write_store(wells_store(depth, np.full(depth.size, 2500.0)), tmp_path / "short.zarr")
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--wells", str(tmp_path / "short.zarr"), "--preset", "small", "--n-velocity", "4",
              "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "short.zarr" in err[0] and "32 consecutive 10 m cells" in err[0]
    assert not (tmp_path / "out" / "velocity.zarr").exists()


def test_cli_synth_from_wells(one_log, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--wells", str(one_log / "wells.zarr"), "--preset", "small", "--n-velocity", "20",
              "--out", str(tmp_path / "maps"), "--seed", "3"])
    assert exc.value.code == 0
    maps = open_store(tmp_path / "maps" / "velocity.zarr", kind="velocity")
    assert maps["velocity"].shape == (20, 32, 32)
    np.testing.assert_allclose(maps["x"].values, 10.0 * np.arange(32))
    wells = open_store(one_log / "wells.zarr")
    assert honour_error(maps, wells, Acquisition.preset("small")).max() <= HONOUR_TOLERANCE
    assert "nothing above the first logged sample" in maps.attrs["top"]


def test_short_gaps_are_bridged_in_slowness_and_long_gaps_end_windows():
    from geogen.physics.wells import bridge_gaps

    b = np.array([2000.0, np.nan, np.nan, 4000.0, np.nan, np.nan, np.nan, 3000.0])
    out = bridge_gaps(b, 2)
    # 1/v linear between 1/2000 and 1/4000: weights 1/3 and 2/3
    np.testing.assert_allclose(out[1:3], [1 / (2 / 3 / 2000 + 1 / 3 / 4000), 1 / (1 / 3 / 2000 + 2 / 3 / 4000)])
    assert np.isnan(out[4:7]).all() and out[0] == 2000.0 and out[3] == 4000.0 and out[7] == 3000.0
