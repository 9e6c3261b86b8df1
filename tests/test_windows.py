"""Window cutting along a recorded line: geometry, resampling, skips and bad input.

The synthetic line's traces encode their own position and time (a linear function of
receiver x, time and shot x), and the velocity section is linear in z and x, so every
resampled value has an exact expected answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.data.datasets import acquisition_of, velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.data.windows import cut_windows, sinc_kernel
from geogen.errors import InputError, StoreKindError

# A small acquisition: 16 columns at 10 m (window 150 m), sources at 0, 70, 150 m.
ACQ = Acquisition.preset(
    "small", nz=8, nx=16, dz=10.0, dx=10.0, source_x=(0.0, 70.0, 150.0),
    receiver_x=tuple(10.0 * i for i in range(16)), nt=50, dt=0.002, absorbing_width=10,
)


def trace_value(receiver_x, t, shot_x):
    return 0.01 * receiver_x + 100.0 * t + 0.001 * shot_x


def make_survey(shot_x, receiver_x, time, dead=None):
    """A survey store with a fixed spread of receivers recording every shot."""
    shot_x = np.asarray(shot_x, float)
    rx = np.broadcast_to(np.asarray(receiver_x, float), (len(shot_x), len(receiver_x))).copy()
    seismic = trace_value(rx[:, :, None], time[None, None, :], shot_x[:, None, None]).astype(np.float32)
    mask = np.ones(rx.shape, bool) if dead is None else ~dead(rx)
    seismic[~mask] = 1e6  # dead traces hold garbage that must never leak into a pair
    return xr.Dataset(
        {
            "seismic": (("shot", "receiver", "time"), seismic),
            "trace_mask": (("shot", "receiver"), mask),
            "receiver_x": (("shot", "receiver"), rx, {"units": "m"}),
            "receiver_z": (("shot", "receiver"), np.zeros_like(rx), {"units": "m"}),
            "source_x": ("shot", shot_x, {"units": "m"}),
            "source_z": ("shot", np.zeros_like(shot_x), {"units": "m"}),
            "ffid": ("shot", np.arange(100, 100 + len(shot_x))),
        },
        coords={"time": ("time", time, {"units": "s"})},
        attrs={"geogen_kind": "survey"},
    )


def make_section(length=600.0, depth=100.0, step=5.0):
    z = np.arange(0.0, depth + step / 2, step)
    x = np.arange(0.0, length + step / 2, step)
    v = 1500.0 + 2.0 * z[:, None] + 1.0 * x[None, :]
    return velocity_dataset(v.astype(np.float32), dz=step, dx=step)


@pytest.fixture
def line(tmp_path):
    """A 600 m line: shots every 10 m, receivers every 5 m, sampled like the acquisition."""
    survey = make_survey(np.arange(0.0, 601.0, 10.0), np.arange(0.0, 601.0, 5.0), ACQ.dt * np.arange(60))
    write_store(survey, tmp_path / "line.zarr")
    write_store(make_section(), tmp_path / "section.zarr")
    return open_store(tmp_path / "line.zarr"), open_store(tmp_path / "section.zarr")


def test_windows_resample_velocity_and_traces_exactly(line):
    survey, section = line
    pairs, report = cut_windows(survey, section, ACQ, stride_m=50.0)
    # (600 - 150) / 50 + 1 windows, all complete.
    assert (report.n_windows, report.n_kept, report.n_skipped_dead, report.n_skipped_no_shot) == (10, 10, 0, 0)
    assert pairs.attrs["geogen_kind"] == "pairs" and pairs.attrs["origin"] == "recorded"
    assert acquisition_of(pairs) == ACQ
    x0 = pairs["window_x0"].values
    np.testing.assert_allclose(x0, 50.0 * np.arange(10))
    assert pairs["window_x0"].attrs["units"] == "m"
    assert pairs["seismic"].shape == (10, 3, 50, 16)
    assert pairs["velocity"].shape == (10, 8, 16)

    z = ACQ.dz * np.arange(ACQ.nz)
    xs = ACQ.dx * np.arange(ACQ.nx)
    expected_v = 1500.0 + 2.0 * z[None, :, None] + (x0[:, None, None] + xs[None, None, :])
    np.testing.assert_allclose(pairs["velocity"].values, expected_v, rtol=1e-6)

    # Every acquisition source finds the shot exactly under it; traces come from there.
    shot_x = x0[:, None] + np.asarray(ACQ.source_x)[None, :]
    np.testing.assert_allclose(pairs["shot_x"].values, shot_x)
    np.testing.assert_array_equal(pairs["shot_ffid"].values, 100 + (shot_x / 10).astype(int))
    t = ACQ.dt * np.arange(ACQ.nt)
    rx = x0[:, None] + np.asarray(ACQ.receiver_x)[None, :]
    expected = trace_value(rx[:, None, None, :], t[None, None, :, None], shot_x[:, :, None, None])
    np.testing.assert_allclose(pairs["seismic"].values, expected, rtol=1e-5, atol=1e-5)
    assert pairs["trace_mask"].values.all()


def test_receivers_between_recorded_traces_are_interpolated(tmp_path):
    """Receivers recorded at 2.5 + 5k m: every acquisition position lies half-way between two."""
    survey = make_survey(np.arange(0.0, 301.0, 10.0), np.arange(-2.5, 305.0, 5.0), ACQ.dt * np.arange(60))
    pairs, report = cut_windows(survey, make_section(300.0), ACQ, stride_m=150.0)
    assert report.n_kept == 2
    t = ACQ.dt * np.arange(ACQ.nt)
    x0 = pairs["window_x0"].values
    rx = x0[:, None] + np.asarray(ACQ.receiver_x)[None, :]
    shot_x = pairs["shot_x"].values
    expected = trace_value(rx[:, None, None, :], t[None, None, :, None], shot_x[:, :, None, None])
    np.testing.assert_allclose(pairs["seismic"].values, expected, rtol=1e-5, atol=1e-5)


def test_dead_zone_windows_are_skipped_and_dead_traces_never_leak(tmp_path):
    # Receivers between 200 and 300 m record nothing. An acquisition receiver is dead when
    # no live trace lies within 5 m (the recorded spacing): 210 .. 290 m.
    survey = make_survey(np.arange(0.0, 601.0, 10.0), np.arange(0.0, 601.0, 5.0), ACQ.dt * np.arange(60),
                         dead=lambda rx: (rx >= 200) & (rx <= 300))
    pairs, report = cut_windows(survey, make_section(), ACQ, stride_m=50.0, min_live_fraction=0.8)
    starts = 50.0 * np.arange(10)
    positions = starts[:, None] + np.asarray(ACQ.receiver_x)[None, :]
    live = 1.0 - ((positions >= 210) & (positions <= 290)).mean(axis=1)
    expected_kept = starts[live >= 0.8]
    np.testing.assert_allclose(pairs["window_x0"].values, expected_kept)
    assert report.n_skipped_dead == int((live < 0.8).sum()) > 0
    assert report.n_kept + report.n_skipped_dead + report.n_skipped_no_shot == report.n_windows == 10
    # In the kept windows, dead receivers are masked and zero; live ones carry no garbage.
    mask = pairs["trace_mask"].values
    rx = pairs["window_x0"].values[:, None] + np.asarray(ACQ.receiver_x)[None, :]
    np.testing.assert_array_equal(mask, ~((rx >= 210) & (rx <= 290))[:, None, :].repeat(3, axis=1))
    seismic = pairs["seismic"].values
    assert np.abs(seismic).max() < 1e3
    assert (seismic.transpose(0, 1, 3, 2)[~mask] == 0).all()


def test_gap_in_shots_skips_windows_without_a_shot(tmp_path):
    shots = np.concatenate([np.arange(0.0, 451.0, 10.0), [600.0]])  # no shots from 460 to 590 m
    survey = make_survey(shots, np.arange(0.0, 601.0, 5.0), ACQ.dt * np.arange(60))
    pairs, report = cut_windows(survey, make_section(), ACQ, stride_m=50.0)
    # Tolerance: half the acquisition's smallest source spacing (70 m) = 35 m.
    assert report.n_skipped_no_shot > 0
    for x0 in pairs["window_x0"].values:
        targets = x0 + np.asarray(ACQ.source_x)
        assert all(np.abs(shots[(shots >= x0) & (shots <= x0 + 150)] - t).min() <= 35 for t in targets)
    skipped = {x for x, reason in report.skipped if reason == "no shot"}
    assert 450.0 in skipped  # its source at 520 m is 70 m from the nearest shot
    assert report.n_kept + report.n_skipped_no_shot == report.n_windows


def test_time_axis_is_resampled_band_limited():
    """A 0.5 ms recording of a 20 Hz sine, resampled to 2 ms, keeps the sine; beyond the record, zeros."""
    t_in = 0.0005 * np.arange(40)  # 19.5 ms recorded
    t_out = 0.002 * np.arange(20)  # 38 ms wanted
    index, weight = sinc_kernel(np.arange(400) * 0.0005, t_out)
    trace = np.sin(2 * np.pi * 20.0 * np.arange(400) * 0.0005)
    out = (trace[index] * weight).sum(axis=1)
    inner = slice(9, 20)  # past the first 16 ms, where the kernel is cut off by the record start
    np.testing.assert_allclose(out[inner], np.sin(2 * np.pi * 20.0 * t_out[inner]), atol=5e-3)
    index, weight = sinc_kernel(t_in, t_out)
    assert (weight[t_out > t_in[-1] + 1e-9] == 0).all()
    # Same sampling, aligned: the kernel is the identity.
    index, weight = sinc_kernel(t_in, t_in)
    np.testing.assert_allclose((np.arange(40.0)[index] * weight).sum(axis=1), np.arange(40.0), atol=1e-9)


def test_delay_recording_time_shifts_the_data(tmp_path):
    """A recording that starts at 10 ms: acquisition times before it are zero, later ones exact."""
    time = 0.010 + ACQ.dt * np.arange(60)
    survey = make_survey(np.arange(0.0, 301.0, 10.0), np.arange(0.0, 301.0, 5.0), time)
    pairs, _ = cut_windows(survey, make_section(300.0), ACQ, stride_m=150.0)
    t = ACQ.dt * np.arange(ACQ.nt)
    seis = pairs["seismic"].values
    assert (seis[:, :, t < 0.010 - 1e-9] == 0).all()
    later = t >= 0.010 + 8 * ACQ.dt  # a full kernel width inside the record
    rx = pairs["window_x0"].values[:, None] + np.asarray(ACQ.receiver_x)[None, :]
    expected = trace_value(rx[:, None, None, :], t[None, None, later, None], pairs["shot_x"].values[:, :, None, None])
    np.testing.assert_allclose(seis[:, :, later], expected, rtol=1e-5, atol=1e-5)


def test_wrong_store_kind_is_refused(line):
    survey, section = line
    with pytest.raises(StoreKindError, match="is a velocity store, expected survey"):
        cut_windows(section, section, ACQ)
    with pytest.raises(StoreKindError, match="is a survey store, expected velocity"):
        cut_windows(survey, survey, ACQ)


def test_section_shorter_than_a_window_is_an_input_error(line):
    survey, _ = line
    with pytest.raises(InputError, match=r"spans 100 m along the line, shorter than one window .* 150 m"):
        cut_windows(survey, make_section(100.0), ACQ)
    with pytest.raises(InputError, match="reaches 40 m below its top"):
        cut_windows(survey, make_section(depth=40.0), ACQ)


def test_several_models_and_no_usable_window_are_input_errors(line):
    survey, section = line
    two = xr.concat([section, section], dim="model")
    with pytest.raises(InputError, match="holds 2 models"):
        cut_windows(survey, two, ACQ)
    dead = survey.assign(trace_mask=survey["trace_mask"] & False)
    with pytest.raises(InputError, match="no window along the line could be cut"):
        cut_windows(dead, section, ACQ)


def test_along_line_turns_map_coordinates_into_distance(line):
    survey, section = line
    # Lay the line out on the map at azimuth 30 degrees (east of north), from (5000, 9000).
    az = np.radians(30.0)
    def to_map(d):
        return 5000.0 + d * np.sin(az), 9000.0 + d * np.cos(az)
    sx, sy = to_map(survey["source_x"])
    rx, ry = to_map(survey["receiver_x"])
    mapped = survey.assign(source_x=sx, source_y=sy, receiver_x=rx, receiver_y=ry)
    from geogen.data.windows import along_line
    flat = along_line(mapped)
    np.testing.assert_allclose(flat["source_x"].values, survey["source_x"].values, atol=1e-6)
    np.testing.assert_allclose(flat["receiver_x"].values, survey["receiver_x"].values, atol=1e-6)
    np.testing.assert_allclose(flat["source_x_map"].values, sx.values)
    assert abs(flat.attrs["line_azimuth_deg"] - 30.0) < 1e-6
    pairs, report = cut_windows(flat, section, ACQ, stride_m=150.0)
    assert report.n_kept == 4


# ----------------------------------------------------------------- block splits (issue 10)
def _overlaps(x0, width, part, a, b):
    ia, ib = np.flatnonzero(part == a), np.flatnonzero(part == b)
    return [(i, j) for i in ia for j in ib if abs(x0[i] - x0[j]) < width]


@pytest.mark.parametrize("n,stride,width,blocks,seed", [
    (34, 80.0, 310.0, 5, 0), (34, 80.0, 310.0, 5, 1), (60, 40.0, 310.0, 8, 2), (20, 150.0, 150.0, 4, 3),
    (150, 20.0, 690.0, 6, 4), (12, 500.0, 310.0, 5, 5),
])
def test_block_split_never_lets_a_held_out_window_overlap_training(n, stride, width, blocks, seed):
    from geogen.training.splits import block_split

    x0 = 1000.0 + stride * np.arange(n)
    result = block_split(x0, width, 0.1, 0.1, seed, blocks)
    part = np.array(result["part"])
    assert set(part) <= {"train", "validation", "test", "dropped"}
    assert (part == "train").any() and (part == "test").any() and (part == "validation").any()
    assert not _overlaps(x0, width, part, "train", "test")
    assert not _overlaps(x0, width, part, "train", "validation")
    assert not _overlaps(x0, width, part, "validation", "test")
    assert len(result["dropped"]) == int((part == "dropped").sum())
    assert sum(row["windows"] for row in result["blocks"]) == n
    held = {row["block"] for row in result["blocks"] if row["part"] != "train"}
    assert len(held) == 2  # round(5 x 0.1) = 0 -> at least one block each for test and validation
    # every held-out window lies in a held-out block: blocks are contiguous along the line
    for row in result["blocks"]:
        kept = row["kept"]
        assert 0 <= kept <= row["windows"]


def test_block_split_by_hand():
    from geogen.training.splits import block_split

    # 10 windows 100 m apart, 250 m wide, 5 blocks of 2 windows (centres 125-1025 m, blocks 180 m long)
    x0 = 100.0 * np.arange(10)
    result = block_split(x0, 250.0, 0.1, 0.1, seed=0, blocks=5)
    roles = [row["part"] for row in result["blocks"]]
    part = result["part"]
    for k, role in enumerate(roles):  # windows 2k, 2k+1 are block k
        for i in (2 * k, 2 * k + 1):
            assert part[i] in (role, "dropped")
    for d in result["dropped"]:  # a dropped window lies within 250 m of a held-out window of another block
        i = d["window"]
        assert any(abs(x0[i] - x0[j]) < 250.0 for j in range(10) if roles[j // 2] == d["overlaps"])
        # and keeps the role its block gave it until then
        assert d["was"] == roles[i // 2] and d["was"] != "test"
    # the windows two steps (200 m) from a held-out window survive; one step (100 m) never does
    for i in range(10):
        if part[i] == "train":
            assert all(abs(x0[i] - x0[j]) >= 250.0 for j in range(10) if part[j] in ("validation", "test"))


def test_block_split_of_a_too_short_line_is_an_input_error():
    from geogen.training.splits import block_split

    with pytest.raises(InputError, match="no window of the line is left for training"):
        block_split(80.0 * np.arange(4), 310.0, 0.0, 0.2, seed=0, blocks=4)
    with pytest.raises(InputError, match="every validation window of the line overlaps a test window"):
        block_split(80.0 * np.arange(5), 310.0, 0.2, 0.2, seed=0, blocks=5)
    with pytest.raises(InputError, match="cannot hold"):
        block_split(80.0 * np.arange(5), 310.0, 0.5, 0.5, seed=0, blocks=3)


def test_make_splits_keeps_a_line_split_and_drops_the_maps_of_dropped_windows(tmp_path):
    from geogen.data.datasets import pairs_dataset
    from geogen.training.config import SplitConfig
    from geogen.training.splits import make_splits

    n_line, n_other = 6, 10
    rng = np.random.default_rng(0)
    maps = rng.uniform(1500, 4500, (n_line + n_other, ACQ.nz, ACQ.nx)).astype(np.float32)
    seismic = np.zeros((n_line + n_other, *ACQ.seismic_shape), np.float32)
    parts = np.array(["train", "dropped", "test", "dropped", "validation", "train"] + [""] * n_other, dtype=object)
    pairs = pairs_dataset(maps, seismic, ACQ, origin="recorded").assign_coords(split_part=("sample", parts))
    write_store(pairs, tmp_path / "pairs.zarr")
    write_store(velocity_dataset(maps, dz=10.0, dx=10.0), tmp_path / "velocity.zarr")
    s = make_splits(tmp_path / "velocity.zarr", tmp_path / "pairs.zarr", SplitConfig(validation=0.2, test=0.2, seed=0))
    assert {0, 5} <= set(s["pairs"]["train"]) and 2 in s["pairs"]["test"] and 4 in s["pairs"]["validation"]
    every = s["pairs"]["train"] + s["pairs"]["validation"] + s["pairs"]["test"]
    assert 1 not in every and 3 not in every and len(every) == len(set(every)) == n_line + n_other - 2
    others = set(range(n_line, n_line + n_other))
    assert len(set(s["pairs"]["test"]) & others) == 2 and len(set(s["pairs"]["validation"]) & others) == 2
    assert s["dropped_pairs"] == [1, 3] and s["fixed_pairs"] == n_line
    v_train = set(s["velocity"]["train"])
    assert 1 not in v_train and 3 not in v_train  # dropped windows' maps never train
    assert 2 in s["velocity"]["test"] and 4 in s["velocity"]["validation"]
