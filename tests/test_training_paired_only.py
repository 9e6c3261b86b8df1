"""The paired-only ablation: steps 1 and 3 learn from the paired training maps alone, at UB-Diff's step budget."""

from __future__ import annotations

import json

import numpy as np
from test_training_fixtures import SPLITS, tiny_model, tiny_training, write_stores

from geogen.data.store import open_store
from geogen.models.ubdiff import UBDiff
from geogen.training import train


def _step1_steps(run) -> int:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return max(r["step"] for r in rows if r["stage"] == "step1")


def test_paired_only_learns_from_the_paired_maps_with_the_same_step_budget(tmp_path):
    vstore, pstore = write_stores(tmp_path, n_velocity=48, n_pairs=20)
    every = tiny_training(epochs=1, diffusion_steps=10)
    paired = every.model_copy(update={"velocity_maps": "paired"})
    full = train(vstore, pstore, tmp_path / "all", model=tiny_model(), training=every, splits=SPLITS)
    only = train(vstore, pstore, tmp_path / "paired", model=tiny_model(), training=paired, splits=SPLITS)

    splits = json.loads((only / "splits.json").read_text())
    assert splits == json.loads((full / "splits.json").read_text())  # the same held-out pairs
    with np.load(only / "latents.npz") as latents:
        assert latents["train"].shape[0] == len(splits["pairs"]["train"]) == 12
        assert latents["validation"].shape[0] == len(splits["pairs"]["validation"])
    with np.load(full / "latents.npz") as latents:
        assert latents["train"].shape[0] == len(splits["velocity"]["train"])
    # one epoch over 30 maps is 4 steps of 8; over the 12 paired maps the epochs scale by 30/12 -> 3 epochs of 2
    n_all, n_paired = len(splits["velocity"]["train"]), len(splits["pairs"]["train"])
    assert _step1_steps(full) == -(-n_all // 8)
    assert _step1_steps(only) == -(-n_paired // 8) * int(np.ceil(n_all / n_paired))
    # the velocity scaling comes from the paired training maps
    maps = open_store(pstore)["velocity"].values[splits["pairs"]["train"]]
    norm = json.loads((only / "normalization.json").read_text())
    assert norm["velocity_min"] == float(maps.min()) and norm["velocity_max"] == float(maps.max())
    assert UBDiff.load(only).velocity_maps == "paired" and UBDiff.load(full).velocity_maps == "all"
