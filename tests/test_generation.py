"""Generation: UBDiff.load().sample(), generate() and `geogen generate` on a tiny trained run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training_fixtures import SPLITS, tiny_model, tiny_training, write_stores

from geogen.acquisition import Acquisition
from geogen.cli import main
from geogen.data.store import open_store
from geogen.errors import InputError
from geogen.generation import generate
from geogen.models.ubdiff import UBDiff
from geogen.training import train


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen")
    vstore, pstore = write_stores(root)
    training = tiny_training()  # step 1 long enough (150 optimiser steps, seconds) to learn the maps
    training = training.model_copy(update={"step1": training.step1.model_copy(update={"epochs": 25, "lr": 3e-3})})
    return train(vstore, pstore, root / "run", model=tiny_model(), training=training, splits=SPLITS)


def _maps(run: Path) -> np.ndarray:
    return open_store(json.loads((run / "splits.json").read_text())["velocity_store"]).velocity.values


def test_samples_are_pairs_in_physical_units_and_reproducible(run: Path) -> None:
    model = UBDiff.load(run)
    assert model.acquisition == Acquisition.preset("small")
    v, s = model.sample(5, steps=8, seed=3, batch_size=2)
    assert v.shape == (5, 32, 32) and s.shape == (5, 3, 400, 32)
    assert v.dtype == np.float32 and s.dtype == np.float32
    # the decoder's output is clamped to the normalisation's range, so a range check proves nothing; the maps
    # must be like the training maps: rarely at the clamp, their mean and spread near the training maps'
    norm, maps = model.normalizer, _maps(run)
    v16, _ = model.sample(16, steps=8, seed=3)
    at_clamp = (np.abs(v16 - norm.velocity_min) < 1) | (np.abs(v16 - norm.velocity_max) < 1)
    assert at_clamp.mean() < 0.05
    assert abs(float(v16.mean()) - float(maps.mean())) < 150  # m/s (measured 19)
    assert 0.4 * maps.std() < v16.std() < 1.5 * maps.std()  # not collapsed to one map (measured 0.76 x)
    v2, s2 = model.sample(5, steps=8, seed=3, batch_size=5)  # the batch size does not change a sample
    np.testing.assert_allclose(v, v2, rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(s, s2, rtol=1e-5, atol=1e-6)
    v3, _ = model.sample(5, steps=8, seed=4)
    assert not np.allclose(v, v3)
    va, _ = model.sample(2, steps=8, sampler="ancestral", seed=3)
    vb, _ = model.sample(2, steps=8, sampler="ancestral", seed=3)
    np.testing.assert_array_equal(va, vb)


def test_sampling_uses_the_ema_weights(run: Path) -> None:
    model = UBDiff.load(run)
    state = torch.load(run / "checkpoints/diffusion.pt", weights_only=True)
    ema = state["ema"]["model"]
    for k, p in model.denoiser.state_dict().items():
        torch.testing.assert_close(p, ema[k])
    assert any(not torch.equal(ema[k], state["denoiser"][k]) for k in ema)


def test_encode_decode_reconstruct(run: Path) -> None:
    model = UBDiff.load(run)
    v = open_store(json.loads((run / "splits.json").read_text())["pairs_store"]).velocity.values[:3]
    z = model.encode(v)
    assert z.shape == (3, 16) and np.abs(z).max() <= 1
    vel, seis = model.decode(z)
    assert vel.shape == v.shape and seis.shape == (3, 3, 400, 32)
    np.testing.assert_allclose(model.reconstruct(v), seis, rtol=1e-5, atol=1e-6)
    # fidelity to the input: the autoencoded maps are nearer the maps than the mean training map is
    maps = _maps(run)
    assert np.abs(vel - v).mean() < 0.7 * np.abs(maps.mean(0) - v).mean()  # measured 181 vs 320 m/s on 6 maps
    # the in-place inverse used by generation equals the Normalizer's
    with torch.no_grad():
        raw = model.net.decode_seismic(torch.as_tensor(z)).float()
    expected = model.normalizer.seismic_inverse(raw.clamp(-1, 1).numpy())
    np.testing.assert_allclose(seis, expected, rtol=1e-5, atol=1e-6)
    # batches are joined in order, and single-batch results are float32 arrays
    vel2, seis2 = model.decode(z, batch_size=2)
    np.testing.assert_allclose(seis2, seis, rtol=1e-5, atol=1e-6)
    assert seis.dtype == np.float32 and vel.dtype == np.float32
    with pytest.raises(InputError, match=r"velocity maps are \(70, 70\), the model was trained on \(32, 32\)"):
        model.reconstruct(np.full((1, 70, 70), 2000.0))


def test_generate_writes_a_generated_pairs_store(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.zarr"
    ds = generate(run, 4, out, steps=6, seed=1, batch_size=3)
    back = open_store(out, kind="pairs")
    assert back.attrs["origin"] == "generated"
    assert back.attrs["sampler"] == "ddim" and back.attrs["steps"] == 6 and back.attrs["seed"] == 1
    assert back.attrs["checkpoint"].endswith("diffusion.pt")
    assert Acquisition.from_attrs(back.attrs) == Acquisition.preset("small")
    assert back.seismic.shape == (4, 3, 400, 32) and back.velocity.attrs["units"] == "m/s"
    np.testing.assert_array_equal(back.velocity.values, ds.velocity.values)


def test_generate_streams_batches_into_the_same_pairs_as_sampling_at_once(run: Path, tmp_path: Path) -> None:
    """Batches of 3 (not a multiple of the store's 4-sample seismic chunks) are appended as they are drawn;
    the store holds exactly what one call of sample() returns, sample coordinates 0..n-1."""
    out = tmp_path / "streamed.zarr"
    generate(run, 7, out, steps=6, seed=2, batch_size=3)
    back = open_store(out, kind="pairs")
    v, s = UBDiff.load(run).sample(7, steps=6, seed=2, batch_size=7)
    np.testing.assert_array_equal(back["sample"].values, np.arange(7))
    np.testing.assert_allclose(back.velocity.values, v, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(back.seismic.values, s, rtol=1e-4, atol=1e-4 * float(np.abs(s).max()))


def test_a_failure_while_generating_leaves_no_store(run: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "broken.zarr"
    original = UBDiff.decode
    calls = []

    def failing_second_batch(self, latents, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory in the second batch")
        return original(self, latents, **kw)

    monkeypatch.setattr(UBDiff, "decode", failing_second_batch)
    with pytest.raises(RuntimeError, match="second batch"):
        generate(run, 6, out, steps=3, seed=0, batch_size=3)
    assert not out.exists() and not any(p.name.startswith(out.name) for p in tmp_path.iterdir())


def test_cli_generate_and_its_errors(run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.zarr"
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(run), "--n", "2", "--out", str(out), "--steps", "4", "--seed", "7", "--json"])
    assert exit_info.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 2 and open_store(out).attrs["seed"] == 7
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(tmp_path / "nowhere"), "--n", "2", "--out", str(tmp_path / "x.zarr")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "train first" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(run), "--n", "2", "--out", str(tmp_path / "y.zarr"), "--sampler", "euler"])
    assert exit_info.value.code == 2 and "choose ddim or ancestral" in capsys.readouterr().err
    assert not (tmp_path / "y.zarr").exists()
