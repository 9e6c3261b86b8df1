"""The autoencoder floor: held-out real pairs through a (tiny) trained UB-Diff, checked by Devito."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import write_store

physics = pytest.importorskip("geogen.physics")
training = pytest.importorskip("geogen.training")


@pytest.mark.slow
def test_validate_reports_the_autoencoder_floor(tmp_path):
    from geogen.evaluation.physics_check import validate
    from geogen.training.config import ModelConfig, SplitConfig, TrainingConfig

    acq = Acquisition.preset("small")
    rng = np.random.default_rng(0)
    maps = np.empty((40, *acq.shape), np.float32)
    for i in range(40):
        d = int(rng.integers(8, 26))
        maps[i], maps[i, d:] = rng.uniform(1600, 2600), rng.uniform(2800, 4200)
    write_store(velocity_dataset(maps, dz=acq.dz, dx=acq.dx), tmp_path / "velocity.zarr")
    paired = maps[:10]
    real = physics.forward(paired, acq)
    write_store(pairs_dataset(paired, real, acq, origin="simulated"), tmp_path / "pairs.zarr")
    run = tmp_path / "run"
    model = ModelConfig(latent_dim=16, encoder_channels=[8, 16], transformer_dim=32, transformer_depth=1,
                        transformer_heads=2, denoiser_width=32, denoiser_depth=1)
    steps = {"epochs": 1, "batch_size": 8}
    cfg = TrainingConfig(step1=steps, step2=steps, device="cpu", threads=1)
    training.train(tmp_path / "velocity.zarr", tmp_path / "pairs.zarr", run, model=model, training=cfg,
                   splits=SplitConfig(validation=0.0, test=0.3), stages=("step1", "step2"))
    # a "generated" store whose pairs are exact: its median must be far below the (untrained) floor
    write_store(pairs_dataset(maps[20:24], physics.forward(maps[20:24], acq), acq, origin="generated"),
                tmp_path / "gen.zarr")
    summary = validate(tmp_path / "gen.zarr", run_dir=run)
    floor = summary["floor"]
    test = json.loads((run / "splits.json").read_text())["pairs"]["test"]
    assert floor["n_pairs"] == len(test) == 3
    assert len(floor["per_sample"]["physics_rel_l2"]) == 3
    assert floor["physics_rel_l2"]["median"] > 0.1  # one epoch of training: a poor decoder
    assert summary["physics_rel_l2"]["median"] == pytest.approx(0.0, abs=1e-6)
    assert summary["median_rel_l2_over_floor"] == pytest.approx(0.0, abs=1e-5)
    assert json.loads((run / "validation.json").read_text())["floor"]["n_pairs"] == 3
