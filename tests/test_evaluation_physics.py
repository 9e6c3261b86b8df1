"""Physics consistency against Devito: known answers on the small preset (32 x 32, (3, 400, 32))."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset
from geogen.data.store import open_store, write_store
from geogen.errors import InputError, StoreKindError
from geogen.evaluation import metrics
from geogen.evaluation.physics_check import validate

physics = pytest.importorskip("geogen.physics")

SHIFT = 10  # samples (10 ms): about 10 % relative L2 per sample of shift, so this must fail clearly


@pytest.fixture(scope="module")
def acq() -> Acquisition:
    return Acquisition.preset("small")


@pytest.fixture(scope="module")
def layered(acq) -> np.ndarray:
    """Four 3-layer maps (m/s) with different interface depths and velocities."""
    maps = np.empty((4, *acq.shape), np.float32)
    for i in range(4):
        maps[i] = 1800.0 + 150 * i
        maps[i, 10 + 2 * i:] = 2600.0 + 100 * i
        maps[i, 22 + i:] = 3400.0
    return maps


@pytest.fixture(scope="module")
def modelled(layered, acq) -> np.ndarray:
    return physics.forward(layered, acq)


def delayed(record: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(record)
    out[..., k:, :] = record[..., :-k, :]
    return out


def far_field_pulse_pick(acq: Acquisition, fine: float = 1e-4) -> float:
    """Picker delay of the 2-D far-field pulse: the wavelet half-integrated (w * t^-1/2)."""
    t = np.arange(0.0, acq.nt * acq.dt, fine)
    a = (np.pi * acq.frequency * (t - acq.wavelet_delay)) ** 2
    wavelet = (1 - 2 * a) * np.exp(-a)
    kernel = 1.0 / np.sqrt(fine * np.arange(1, t.size))
    pulse = np.convolve(wavelet, kernel)[: t.size] * fine
    return float(metrics.pick_first_arrivals(pulse[:, None], fine, axis=0)[0])


def test_picker_finds_offset_over_v_on_a_homogeneous_model(acq):
    v = 2000.0
    record = physics.forward(np.full(acq.shape, v, np.float32), acq)[0]
    picks = metrics.pick_first_arrivals(record, acq.dt)
    offsets = np.abs(np.asarray(acq.receiver_x)[None, :] - np.asarray(acq.source_x)[:, None])
    far = offsets >= 50.0
    delay = picks[far] - offsets[far] / v
    # every far trace is the same pulse moved by offset / v: the delay is one constant ...
    assert np.ptp(delay) < 0.5 * acq.dt
    # ... and that constant is the picker's delay on the analytic 2-D pulse, within two samples
    assert abs(np.median(delay) - far_field_pulse_pick(acq)) <= 2 * acq.dt


def test_a_devito_pair_passes_and_a_shifted_one_fails(tmp_path, acq, layered, modelled):
    seismic = modelled.copy()
    seismic[2:] = delayed(modelled[2:], SHIFT)
    store = tmp_path / "pairs.zarr"
    write_store(pairs_dataset(layered, seismic, acq, origin="generated"), store)
    summary = validate(store)
    ds = open_store(store, kind="pairs")
    rel, ssim, arrival = (ds[k].values for k in ("physics_rel_l2", "physics_ssim", "first_arrival_error_s"))
    assert ds["physics_rel_l2"].dims == ("sample",)
    np.testing.assert_allclose(rel[:2], 0.0, atol=1e-6)
    np.testing.assert_allclose(ssim[:2], 1.0, atol=1e-6)
    np.testing.assert_allclose(arrival[:2], 0.0, atol=1e-9)
    assert (rel[2:] > 0.5).all() and (ssim[2:] < 0.9).all()
    np.testing.assert_allclose(arrival[2:], SHIFT * acq.dt, atol=1e-6)
    assert summary["n_pairs"] == 4 and summary["origin"] == "generated"
    assert summary["physics_rel_l2"]["median"] == pytest.approx(np.median(rel), rel=1e-5)
    assert summary["physics_rel_l2"]["p90"] == pytest.approx(np.percentile(rel, 90), rel=1e-5)
    np.testing.assert_array_equal(ds["seismic"].values, seismic)  # the data itself is untouched


def test_filter_writes_only_passing_pairs_and_keeps_the_source(tmp_path, acq, layered, modelled):
    seismic = modelled.copy()
    seismic[1] = delayed(modelled[1], SHIFT)
    store, out = tmp_path / "gen.zarr", tmp_path / "kept.zarr"
    write_store(pairs_dataset(layered, seismic, acq, origin="generated"), store)
    summary = validate(store, filter=0.05, filter_out=out, write=False)
    assert summary["filter"]["kept"] == 3 and summary["filter"]["dropped"] == 1
    kept = open_store(out, kind="pairs")
    assert kept["sample"].values.tolist() == [0, 2, 3]
    np.testing.assert_array_equal(kept["seismic"].values, modelled[[0, 2, 3]])
    assert (kept["physics_rel_l2"].values <= 0.05).all()
    assert "physics_rel_l2" not in open_store(store)  # write=False leaves the source alone
    all_bad = tmp_path / "bad.zarr"
    write_store(pairs_dataset(layered, delayed(modelled, SHIFT), acq, origin="generated"), all_bad)
    none = validate(all_bad, filter=0.05, filter_out=tmp_path / "none.zarr", write=False)
    assert none["filter"]["kept"] == 0 and none["filter"]["out"] is None and "nothing written" in none["filter"]["note"]
    assert not (tmp_path / "none.zarr").exists()


def test_settings_are_one_config_object(tmp_path, acq, layered, modelled):
    """ValidationConfig holds validate's settings and their defaults; the keyword form and the workflow's section
    (which extends it) give the same result; a bad setting is refused before any modelling, exit 2 from the CLI."""
    from pydantic import ValidationError

    from geogen.evaluation.config import ValidationConfig
    from geogen.schemas.workflow import ValidationConfig as WorkflowValidation

    seismic = modelled.copy()
    seismic[1] = delayed(modelled[1], SHIFT)
    store = tmp_path / "gen.zarr"
    write_store(pairs_dataset(layered, seismic, acq, origin="generated"), store)
    by_config = validate(store, ValidationConfig(filter=0.05), filter_out=tmp_path / "a.zarr", write=False)
    by_section = validate(store, WorkflowValidation(filter=0.05), filter_out=tmp_path / "b.zarr", write=False)
    assert by_config["filter"]["kept"] == by_section["filter"]["kept"] == 3
    assert by_config["physics_rel_l2"] == by_section["physics_rel_l2"]
    assert ValidationConfig().workers == WorkflowValidation().workers == 1
    for bad in ({"workers": 0}, {"filter": -0.1}, {"filter": float("nan")}, {"filters": 0.1}):
        with pytest.raises(ValidationError):
            validate(store, write=False, **bad)
    r = subprocess.run([sys.executable, "-m", "geogen", "validate", str(store), "--workers", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == "error: ValidationConfig.workers: must be > 0 (got 0)\n"


def test_two_dask_workers_give_the_same_figures(tmp_path, acq, layered, modelled):
    store = tmp_path / "pairs.zarr"
    noisy = modelled + 0.01 * np.abs(modelled).max() * np.random.default_rng(0).standard_normal(modelled.shape)
    write_store(pairs_dataset(layered, noisy.astype(np.float32), acq, origin="generated"), store)
    one = validate(store, write=False)
    two = validate(store, workers=2, write=False)
    for key in ("physics_rel_l2", "physics_ssim", "first_arrival_error_s"):
        assert two[key]["median"] == pytest.approx(one[key]["median"], rel=1e-5, abs=1e-9)


def test_bad_inputs_are_one_clear_error(tmp_path, acq, layered, modelled):
    store = tmp_path / "pairs.zarr"
    write_store(pairs_dataset(layered, modelled, acq, origin="simulated"), store)
    with pytest.raises(InputError, match="--filter THRESHOLD and --out STORE go together"):
        validate(store, filter=0.1)
    with pytest.raises(InputError, match="must differ"):
        validate(store, filter=0.1, filter_out=store)
    kms = tmp_path / "kms.zarr"
    write_store(pairs_dataset(layered / 1000.0, modelled, acq, origin="generated"), kms)
    with pytest.raises(InputError, match=r"kms.zarr: velocity of samples 0-3 .*km/s"):
        validate(kms)
    assert "physics_rel_l2" not in open_store(kms)  # nothing half written
    from geogen.data.datasets import velocity_dataset

    write_store(velocity_dataset(layered, dz=10, dx=10), tmp_path / "v.zarr")
    with pytest.raises(StoreKindError, match="expected pairs"):
        validate(tmp_path / "v.zarr")


def test_cli_json_is_only_json_and_errors_exit_2(tmp_path, acq, layered, modelled):
    store = tmp_path / "pairs.zarr"
    write_store(pairs_dataset(layered, modelled, acq, origin="simulated"), store)
    r = subprocess.run([sys.executable, "-m", "geogen", "validate", str(store), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["physics_rel_l2"]["median"] == pytest.approx(0.0, abs=1e-6)
    r = subprocess.run([sys.executable, "-m", "geogen", "validate", str(store), "--filter", "0.1"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: ")
