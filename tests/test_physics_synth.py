"""geogen synth: layout, determinism, resumption after an interruption, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.cli import main
from geogen.data.datasets import acquisition_of
from geogen.data.store import open_store
from geogen.errors import InputError
from geogen.physics import forward, generate_velocity
from geogen.physics.synth import WORK_DIR, synth

ACQ = Acquisition.preset("small", nt=300)  # shorter records keep the test quick
N_VEL, N_PAIR = 9, 6  # two pair blocks: 0-3 and 4-5


class Interrupted(RuntimeError):
    pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    synth(out, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5)
    return out


def _load(path):
    return xr.open_zarr(path, consolidated=False).load()


def test_layout_and_metadata(reference):
    vel = open_store(reference / "velocity.zarr", kind="velocity")
    pairs = open_store(reference / "pairs.zarr", kind="pairs")
    assert vel.velocity.shape == (N_VEL, ACQ.nz, ACQ.nx) and vel.velocity.dtype == np.float32
    assert pairs.seismic.shape == (N_PAIR, *ACQ.seismic_shape)
    assert pairs.attrs["origin"] == "simulated" and pairs.attrs["family"] == "flatfault"
    assert pairs.attrs["seed"] == 5
    assert acquisition_of(pairs) == ACQ
    np.testing.assert_allclose(pairs.time.values, ACQ.dt * np.arange(ACQ.nt))
    # pairs are the first maps of the velocity set, with their own modelled records
    np.testing.assert_array_equal(pairs.velocity.values, vel.velocity.values[:N_PAIR])
    np.testing.assert_array_equal(vel.velocity.values, generate_velocity("flatfault", N_VEL, ACQ.shape, seed=5))
    np.testing.assert_array_equal(pairs.seismic.values[4:], forward(pairs.velocity.values[4:], ACQ))
    assert not (reference / WORK_DIR).exists()


def test_same_seed_same_data_other_seed_other_data(reference, tmp_path):
    synth(tmp_path / "a", family="flatfault", n_velocity=N_VEL, n_paired=2, acquisition=ACQ, seed=5)
    a = _load(tmp_path / "a" / "pairs.zarr")
    ref = _load(reference / "pairs.zarr")
    np.testing.assert_array_equal(a.seismic.values, ref.seismic.values[:2])
    synth(tmp_path / "b", family="flatfault", n_velocity=3, n_paired=1, acquisition=ACQ, seed=6)
    assert not np.array_equal(_load(tmp_path / "b" / "velocity.zarr").velocity.values,
                              _load(reference / "velocity.zarr").velocity.values[:3])


def test_interrupted_run_resumes_to_the_same_result(reference, tmp_path):
    out = tmp_path / "set"

    def stop_after_first_pairs_block(kind, start):
        if kind == "pairs":
            raise Interrupted("simulated kill")

    with pytest.raises(Interrupted):
        synth(out, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5,
              on_block=stop_after_first_pairs_block)
    assert not (out / "pairs.zarr").exists() and not (out / "velocity.zarr").exists()
    state = json.loads((out / WORK_DIR / "state.json").read_text())
    assert state["velocity_done"] == [0] and state["pairs_done"] == [0]

    seen = []
    result = synth(out, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5,
                   on_block=lambda kind, start: seen.append((kind, start)))
    assert seen == [("pairs", 4)]  # only the missing block was computed
    assert result.blocks_resumed == 2 and result.blocks_computed == 1
    assert not (out / WORK_DIR).exists()
    for name in ("velocity.zarr", "pairs.zarr"):
        xr.testing.assert_identical(_load(out / name), _load(reference / name))

    again = synth(out, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5)
    assert again.blocks_computed == 0  # already complete: nothing redone


def test_partial_run_with_other_settings_is_refused(tmp_path):
    def stop(kind, start):
        raise Interrupted

    with pytest.raises(Interrupted):
        synth(tmp_path, family="curve", n_velocity=3, n_paired=1, acquisition=ACQ, seed=1, on_block=stop)
    with pytest.raises(InputError, match=r"\.synth-partial.*seed differ"):
        synth(tmp_path, family="curve", n_velocity=3, n_paired=1, acquisition=ACQ, seed=2)


def test_synth_with_two_dask_workers_matches(reference, tmp_path):
    synth(tmp_path, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5, workers=2)
    xr.testing.assert_identical(_load(tmp_path / "pairs.zarr"), _load(reference / "pairs.zarr"))


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", "--out", str(tmp_path), "--family", "curve", "--n-velocity", "3", "--n-paired", "1",
              "--preset", "small", "--seed", "2", "--json"])
    assert exit_.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_velocity"] == 3 and open_store(summary["pairs_store"], kind="pairs").sizes["sample"] == 1

    with pytest.raises(SystemExit) as exit_:
        main(["synth", "--out", str(tmp_path / "x"), "--n-velocity", "3", "--n-paired", "1", "--preset", "tiny"])
    assert exit_.value.code == 2
    assert "unknown acquisition preset 'tiny'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_run_killed_while_moving_stores_into_place_finishes(reference, tmp_path):
    def stop_at_last_block(kind, start):
        if kind == "pairs" and start == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        synth(tmp_path, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5,
              on_block=stop_at_last_block)
    # as if killed after the first of the two final renames
    (tmp_path / WORK_DIR / "velocity.zarr").rename(tmp_path / "velocity.zarr")
    result = synth(tmp_path, family="flatfault", n_velocity=N_VEL, n_paired=N_PAIR, acquisition=ACQ, seed=5)
    assert result.blocks_computed == 0 and not (tmp_path / WORK_DIR).exists()
    xr.testing.assert_identical(_load(tmp_path / "pairs.zarr"), _load(reference / "pairs.zarr"))


def test_cli_unreachable_scheduler(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synth", "--out", str(tmp_path), "--n-velocity", "2", "--n-paired", "1",
              "--scheduler", "tcp://127.0.0.1:9"])
    assert exit_.value.code == 2
    assert "no dask scheduler answers there" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before any work
