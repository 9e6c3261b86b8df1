"""The yardstick: direct-wave records, the scattered-part figure, the trivial row and the like-for-like floor."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from analytic import analytic_trace, first_arrival_window, record_times

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset
from geogen.data.store import open_store, write_store
from geogen.evaluation import metrics
from geogen.evaluation.physics_check import Checker, autoencoder_floor, model_and_compare, validate
from geogen.physics import direct_wave, forward
from geogen.physics.modelling import direct_wave_velocity


@pytest.fixture(scope="module")
def acq() -> Acquisition:
    return Acquisition.preset("small")


@pytest.fixture(scope="module")
def maps(acq) -> np.ndarray:
    """Three layered maps with a laterally varying top row, and one homogeneous map."""
    out = np.empty((4, *acq.shape), np.float32)
    for i in range(3):
        out[i] = 1800.0 + 200 * i
        out[i, 0] += np.linspace(-100, 100, acq.nx)  # top-row mean stays 1800 + 200 i
        out[i, 8 + 3 * i:] = 2700.0
        out[i, 20 + i:] = 3600.0
    out[3] = 2500.0
    return out


def test_direct_wave_medium_is_the_top_row_mean(maps):
    np.testing.assert_allclose(direct_wave_velocity(maps), [1800.0, 2000.0, 2200.0, 2500.0], rtol=1e-6)


@pytest.mark.parametrize("receiver", [10, 24, 69])
def test_direct_wave_record_matches_the_analytic_green_function(receiver):
    """A layered map's direct-wave record is the 2-D Green's function at its top-row velocity."""
    xs = 340.0
    acq = Acquisition.preset("openfwi", source_x=(xs,))
    v = np.full(acq.shape, 2900.0, np.float32)
    v[0] = np.where(np.arange(acq.nx) % 2, 2400.0, 2600.0)  # mean 2500
    v[12:] = 3800.0
    record = direct_wave(v, acq)[0, 0]
    r, c = abs(acq.receiver_x[receiver] - xs), 2500.0
    times = record_times(acq)
    win = first_arrival_window(acq, times, r, c)
    exact = analytic_trace(r, c, acq, times[win])
    assert np.linalg.norm(record[win, receiver] - exact) / np.linalg.norm(exact) < 0.05
    # and nothing arrives after the direct wave but what the absorbing layer lets back (~1 % of it)
    late = times > acq.wavelet_delay + r / c + 2.0 / acq.frequency
    assert np.abs(record[late, receiver]).max() < 0.02 * np.abs(record[:, receiver]).max()


def test_devito_pairs_score_zero_and_the_trivial_generator_exactly_one(tmp_path, acq, maps):
    modelled, direct = forward(maps, acq), direct_wave(maps, acq)
    np.testing.assert_array_equal(direct[3], modelled[3])  # a homogeneous map has no scattered part
    exact, trivial = tmp_path / "exact.zarr", tmp_path / "trivial.zarr"
    write_store(pairs_dataset(maps, modelled, acq, origin="simulated"), exact)
    write_store(pairs_dataset(maps, direct, acq, origin="generated"), trivial)

    good = validate(exact)
    np.testing.assert_allclose(open_store(exact)["scattered_rel_l2"].values, 0.0, atol=1e-6)
    assert good["scattered_rel_l2"]["median"] == pytest.approx(0.0, abs=1e-6)
    # the trivial row is the direct-wave generator on the same maps, whatever the store holds
    assert good["trivial"]["scattered_rel_l2"]["median"] == pytest.approx(1.0, abs=1e-6)

    bad = validate(trivial)
    scattered = open_store(trivial)["scattered_rel_l2"].values
    np.testing.assert_allclose(scattered[:3], 1.0, atol=1e-6)
    assert scattered[3] == 0.0  # nothing to scatter: the direct wave is the whole record
    assert bad["scattered_rel_l2"]["median"] == pytest.approx(1.0, abs=1e-6)
    for key in ("physics_rel_l2", "scattered_rel_l2", "physics_ssim", "first_arrival_error_s"):
        assert bad[key]["median"] == pytest.approx(bad["trivial"][key]["median"], abs=1e-9)
    # the whole-record figure of the direct wave alone is the scattered energy share: small but not zero
    whole = [metrics.relative_l2(d, m) for d, m in zip(direct[:3], modelled[:3])]
    np.testing.assert_allclose(open_store(trivial)["physics_rel_l2"].values[:3], whole, rtol=1e-5)
    assert 0.02 < min(whole) and max(whole) < 0.6


def test_scattered_figure_is_the_error_over_the_scattered_energy(acq, maps):
    modelled = forward(maps[:2], acq)
    noisy = modelled + 0.01 * np.abs(modelled).max() * np.random.default_rng(1).standard_normal(modelled.shape)
    figures, seconds = model_and_compare(maps[:2], noisy.astype(np.float32), acq)
    direct = direct_wave(maps[:2], acq)
    for i in range(2):
        expected = np.linalg.norm(noisy[i] - modelled[i]) / np.linalg.norm(modelled[i] - direct[i])
        assert figures["pairs"]["scattered_rel_l2"][i] == pytest.approx(expected, rel=1e-4)
        assert figures["pairs"]["scattered_rel_l2"][i] > figures["pairs"]["physics_rel_l2"][i]
    assert seconds > 0


# ------------------------------------------------------------------ like-for-like floor
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from test_training_fixtures import SPLITS, tiny_model, tiny_training, write_stores

    from geogen.training import train

    root = tmp_path_factory.mktemp("floor")
    vstore, pstore = write_stores(root)
    return train(vstore, pstore, root / "run", model=tiny_model(), training=tiny_training(epochs=1),
                 splits=SPLITS, stages=("step1", "step2"))


def _floor(run, acq, ubdiff):
    return autoencoder_floor(run, acq, Checker(lambda v, s: model_and_compare(v, s, acq), lambda h: h, 1),
                             ubdiff=ubdiff)


def test_floor_is_scored_against_devito_of_the_decoded_map(run, acq):
    from geogen.models.ubdiff import UBDiff

    splits = json.loads((run / "splits.json").read_text())
    pairs = open_store(splits["pairs_store"])
    test = splits["pairs"]["test"]
    true_v = pairs["velocity"].values[test]
    stored = pairs["seismic"].transpose("sample", "source", "time", "receiver").values[test]

    model = UBDiff.load(run)
    floor = _floor(run, acq, model)
    decoded_v, decoded_s = model.autoencode(true_v)
    reference = forward(decoded_v, acq)
    expected = [metrics.relative_l2(s, r) for s, r in zip(decoded_s, reference)]
    np.testing.assert_allclose(floor["per_sample"]["physics_rel_l2"], expected, rtol=1e-5)
    assert floor["n_pairs"] == len(test) == 4
    recon = np.median([metrics.relative_l2(s, r) for s, r in zip(decoded_s, stored)])
    assert floor["reconstruction"]["physics_rel_l2"]["median"] == pytest.approx(recon, rel=1e-5)

    # Shift the velocity decoder's output: the seismic side (no prior) is unchanged, so the old floor
    # (against the true map's record) cannot see it; the like-for-like floor models the shifted maps.
    with torch.no_grad():
        last = [m for m in model.net.velocity_decoder.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last.bias += 0.4
    perturbed = _floor(run, acq, model)
    assert perturbed["reconstruction"]["physics_rel_l2"]["median"] == pytest.approx(recon, rel=1e-5)
    new_v, new_s = model.autoencode(true_v)
    assert np.abs(new_v - decoded_v).mean() > 100.0  # m/s: the perturbation really moved the maps
    np.testing.assert_array_equal(new_s, decoded_s)
    new_reference, new_direct = forward(new_v, acq), direct_wave(new_v, acq)
    expected = [metrics.relative_l2(s - d, r - d) for s, r, d in zip(new_s, new_reference, new_direct)]
    np.testing.assert_allclose(perturbed["per_sample"]["scattered_rel_l2"], expected, rtol=1e-5)
    moved = perturbed["scattered_rel_l2"]["median"] / floor["scattered_rel_l2"]["median"]
    assert abs(moved - 1.0) > 0.05, moved


def test_validate_with_a_run_reports_every_key_of_the_yardstick(tmp_path, run, acq, maps):
    store = tmp_path / "gen.zarr"
    write_store(pairs_dataset(maps, forward(maps, acq), acq, origin="generated"), store)
    summary = json.loads(json.dumps(validate(store, run_dir=run)))  # JSON all the way
    for path in ("physics_rel_l2.median", "scattered_rel_l2.median", "floor.physics_rel_l2.median",
                 "floor.scattered_rel_l2.median", "trivial.physics_rel_l2.median", "trivial.scattered_rel_l2.median"):
        node = summary
        for key in path.split("."):
            node = node[key]
        assert isinstance(node, float), path
    assert summary["median_scattered_rel_l2_over_floor"] == pytest.approx(0.0, abs=1e-5)
    assert json.loads((run / "validation.json").read_text())["floor"]["trivial"]["scattered_rel_l2"]["median"] == \
        pytest.approx(1.0, abs=1e-6)
