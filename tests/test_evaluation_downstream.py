"""InversionNet a/b/c, distribution figures, pictures and report on a tiny run (small preset)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.errors import InputError
from geogen.evaluation.inversionnet import InversionNet

physics = pytest.importorskip("geogen.physics")
splits_mod = pytest.importorskip("geogen.training.splits")


def test_inversionnet_matches_openfwi_sizes():
    net = InversionNet(5, 1000, 70, 70, 70, width=32)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(24.4e6, rel=0.01)  # OpenFWI's 24.4 M
    small = InversionNet(3, 400, 32, 32, 32, width=4).eval()
    with torch.no_grad():
        y = small(torch.zeros(2, 3, 400, 32))
    assert y.shape == (2, 32, 32) and float(y.abs().max()) <= 1.0
    assert InversionNet(2, 150, 20, 20, 30, width=4).eval()(torch.zeros(1, 2, 150, 20)).shape == (1, 20, 30)


def layered_maps(n: int, acq: Acquisition, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    maps = np.empty((n, *acq.shape), np.float32)
    for i in range(n):
        d1, d2 = sorted(rng.integers(6, 28, 2))
        v1, v2, v3 = np.sort(rng.uniform(1600, 4200, 3))
        maps[i], maps[i, d1:], maps[i, d2 + 2:] = v1, v2, v3
    return maps


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory as training leaves it: two stores and splits.json (no model needed here)."""
    from geogen.training.config import SplitConfig

    root = tmp_path_factory.mktemp("run")
    acq = Acquisition.preset("small")
    maps = layered_maps(24, acq, seed=1)
    write_store(velocity_dataset(maps, dz=acq.dz, dx=acq.dx), root / "velocity.zarr")
    paired = maps[:8]  # the paired maps are also in the velocity store, as synth writes them
    write_store(pairs_dataset(paired, physics.forward(paired, acq), acq, origin="simulated"), root / "pairs.zarr")
    run_dir = root / "run"
    run_dir.mkdir()
    splits = splits_mod.make_splits(root / "velocity.zarr", root / "pairs.zarr", SplitConfig(validation=0.0, test=0.25))
    (run_dir / "splits.json").write_text(json.dumps(splits))
    return run_dir, acq, maps, splits


def test_a_perfect_generator_scores_exactly_like_simulation(run):
    """Known answer: if the 'generated' pairs are the Devito pairs of the maps (c) draws, (b) == (c)."""
    from geogen.evaluation.downstream import evaluate, simulated_extra
    from geogen.evaluation.rundir import RunInputs

    run_dir, acq, maps, splits = run
    inputs = RunInputs.locate(run_dir)
    chosen, v, s = simulated_extra(inputs, acq, 4, seed=0, workers=1, scheduler=None, cache=None)
    paired = {int(i) for i in splits["pair_to_velocity"].values()}
    assert not paired & set(chosen.tolist())  # (c) never reuses a paired (or held-out) map
    write_store(pairs_dataset(v, s, acq, origin="generated"), run_dir / "generated.zarr")
    threads = torch.get_num_threads()
    try:
        out = evaluate(run_dir, steps=4, batch_size=4, width=4, feature_epochs=2, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert out["inversionnet"]["settings"]["threads"] == 1
    inv = out["inversionnet"]
    assert inv["a_real"]["n_train"] == 6 and inv["b_real+generated"]["n_train"] == 10
    for key in ("mae", "mse", "ssim"):
        assert inv["b_real+generated"][key] == inv["c_real+simulated"][key]
        assert 0 <= inv["a_real"][key] <= 4
    assert out["test"]["n"] == 2
    dist = out["distribution"]
    assert 0.0 <= dist["velocity"]["precision"] <= 1.0 and 0.0 <= dist["velocity"]["recall"] <= 1.0
    assert dist["name"] == "Fréchet feature distance (geogen features)"
    assert np.isfinite(dist["seismic"]["frechet_generated_vs_real"])
    ev = run_dir / "evaluation"
    assert json.loads((ev / "evaluation.json").read_text())["inversionnet"]["a_real"]["mae"] == inv["a_real"]["mae"]
    for png in ("generated_pairs.png", "inversionnet_training.png"):
        assert (ev / png).stat().st_size > 1000
    report = (ev / "report.md").read_text()
    assert "(b) real + generated" in report and "](generated_pairs.png)" in report
    # the simulated set is cached in the run and reused
    assert open_store(ev / "simulated_extra.zarr", kind="pairs").attrs["velocity_indices"] == chosen.tolist()


def test_missing_generated_store_is_an_input_error(run, tmp_path):
    from geogen.evaluation.downstream import evaluate

    run_dir = run[0]
    with pytest.raises(InputError, match="no generated pairs"):
        evaluate(run_dir, generated=tmp_path / "none.zarr")
    with pytest.raises(InputError, match="no splits.json"):
        evaluate(tmp_path)
