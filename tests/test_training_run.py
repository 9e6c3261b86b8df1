"""Training UB-Diff end to end on tiny stores: stages, splits, freeze flag, resume, safety, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training_fixtures import SPLITS, fake_seismic, layered_maps, tiny_model, tiny_training, write_stores

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import write_store
from geogen.errors import InputError, StoreKindError
from geogen.run.checkpoint import load_checkpoint, save_checkpoint
from geogen.training import loops, train


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    return write_stores(tmp_path_factory.mktemp("stores"))


@pytest.fixture(scope="module")
def trained(stores, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    train(*stores, run, model=tiny_model(), training=tiny_training(), splits=SPLITS)
    return run


def _weights(path: Path, key: str = "best_net") -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[key]


def test_tiny_run_trains_all_three_stages(trained: Path) -> None:
    for name in ("step1", "step2", "diffusion"):
        state = torch.load(trained / "checkpoints" / f"{name}.pt", weights_only=True)
        assert state["finished"] is True and state["stage"] == name
        assert json.loads(state["acquisition"])["nz"] == 32
        assert set(state["normalization"]) == {"velocity_min", "velocity_max", "seismic_min", "seismic_max"}
    lines = [json.loads(s) for s in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r.get("epoch", r["step"])) for r in lines] == [
        ("step1", 1), ("step1", 2), ("step2", 1), ("step2", 2), ("diffusion", 10), ("diffusion", 20), ("diffusion", 30)]
    assert all(np.isfinite(r["train_loss"]) and r["validation_loss"] is not None for r in lines)
    assert (trained / "latents.npz").is_file()


def test_splits_never_leak_held_out_pairs_into_training(trained: Path) -> None:
    s = json.loads((trained / "splits.json").read_text())
    assert s["matched_pairs"] == 20  # pairs are the first 20 maps, matched by content
    train_maps = set(s["velocity"]["train"])
    for held in ("validation", "test"):
        for p in s["pairs"][held]:
            v = s["pair_to_velocity"][str(p)]
            assert v not in train_maps and v in s["velocity"][held]
    parts = [set(s["pairs"][k]) for k in ("train", "validation", "test")]
    assert sum(map(len, parts)) == 20 and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    # Normalisation bounds come from the training split only.
    from geogen.data.store import open_store

    v = open_store(s["velocity_store"]).velocity.values
    norm = json.loads((trained / "normalization.json").read_text())
    assert norm["velocity_min"] == pytest.approx(float(v[s["velocity"]["train"]].min()))
    assert norm["velocity_max"] == pytest.approx(float(v[s["velocity"]["train"]].max()))


def test_finished_stages_are_skipped(trained: Path, stores) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (trained / "checkpoints").iterdir()}
    lines = (trained / "metrics.jsonl").read_text()
    train(*stores, trained, model=tiny_model(), training=tiny_training(), splits=SPLITS)
    assert {p.name: p.stat().st_mtime_ns for p in (trained / "checkpoints").iterdir()} == before
    assert (trained / "metrics.jsonl").read_text() == lines


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_flag(stores, tmp_path: Path, freeze: bool) -> None:
    run = tmp_path / "run"
    train(*stores, run, model=tiny_model(), training=tiny_training(freeze=freeze), splits=SPLITS,
          stages=("step1", "step2"))
    s1, s2 = _weights(run / "checkpoints/step1.pt"), _weights(run / "checkpoints/step2.pt")
    velocity_side = [k for k in s1 if k.split(".")[0] in ("encoder", "velocity_head", "velocity_decoder")]
    assert any("running_mean" in k for k in velocity_side)  # BatchNorm statistics are checked too
    moved = [k for k in velocity_side if not torch.equal(s1[k], s2[k])]
    if freeze:
        assert moved == []
    else:
        assert len(moved) > 0
    seismic_side = [k for k in s1 if k.startswith("seismic_decoder.")]
    assert any(not torch.equal(s1[k], s2[k]) for k in seismic_side)


class _Kill(Exception):
    pass


def test_resume_after_a_kill_repeats_the_uninterrupted_run(stores, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    train(*stores, reference, model=tiny_model(), training=tiny_training(epochs=3), splits=SPLITS)

    run = tmp_path / "killed"
    for stage, at in (("step1", 7), ("step2", 5), ("diffusion", 25)):
        def kill(s: str, step: int, stage=stage, at=at) -> None:
            if s == stage and step == at:
                raise _Kill(f"{s} {step}")
        loops.STEP_HOOKS.append(kill)
        try:
            with pytest.raises(_Kill):
                train(*stores, run, model=tiny_model(), training=tiny_training(epochs=3), splits=SPLITS)
        finally:
            loops.STEP_HOOKS.clear()
        assert (run / "checkpoints" / f"{stage}.pt").exists() or stage == "step1"
    train(*stores, run, model=tiny_model(), training=tiny_training(epochs=3), splits=SPLITS)

    for name, key in (("step1", "best_net"), ("step2", "best_net"), ("diffusion", "denoiser")):
        a, b = (
            _weights(reference / "checkpoints" / f"{name}.pt", key),
            _weights(run / "checkpoints" / f"{name}.pt", key),
        )
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{name}: {k}")
    ema_a = load_checkpoint(reference / "checkpoints/diffusion.pt")["ema"]["model"]
    ema_b = load_checkpoint(run / "checkpoints/diffusion.pt")["ema"]["model"]
    for k in ema_a:
        torch.testing.assert_close(ema_a[k], ema_b[k], rtol=0, atol=0)


def test_a_failed_checkpoint_write_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint({"x": torch.ones(3), "finished": True}, path)

    class Unsaveable:  # pickling it fails part-way through the write, like a full disk
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint({"x": torch.zeros(3), "bad": Unsaveable()}, path)
    state = load_checkpoint(path)
    torch.testing.assert_close(state["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind


def test_checkpoints_refuse_arbitrary_pickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "geogen-ubdiff-1", "obj": Acquisition}, path)  # a class: not weights-only
    with pytest.raises(InputError, match="cannot load"):
        load_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_nan_in_a_batch_stops_with_step_and_sample_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    acq = Acquisition.preset("small")
    maps = layered_maps(24, acq.shape)
    vstore = write_store(velocity_dataset(maps, dz=10.0, dx=10.0), tmp_path / "v.zarr")
    seis = fake_seismic(maps[:12], acq)
    seis[5, 1, 100, 3] = np.nan
    pstore = write_store(pairs_dataset(maps[:12], seis, acq, origin="simulated"), tmp_path / "p.zarr")
    run = tmp_path / "run"
    with pytest.raises(InputError) as info:
        train(vstore, pstore, run, model=tiny_model(), training=tiny_training(), splits=SPLITS)
    msg = str(info.value)
    assert "step2, step " in msg and "sample 5 " in msg and "NaN or Inf in 'seismic'" in msg and "p.zarr" in msg
    assert "\n" not in msg
    assert load_checkpoint(run / "checkpoints/step1.pt")["finished"] is True
    assert not (run / "checkpoints/step2.pt").exists()


def test_bad_stores_give_one_line_errors(stores, tmp_path: Path) -> None:
    vstore, pstore = stores
    with pytest.raises(StoreKindError, match="expected velocity"):
        train(pstore, pstore, tmp_path / "a", model=tiny_model(), training=tiny_training())
    with pytest.raises(StoreKindError, match="expected pairs"):
        train(vstore, vstore, tmp_path / "b", model=tiny_model(), training=tiny_training())
    other = write_store(velocity_dataset(layered_maps(4, (40, 32)), dz=10.0, dx=10.0), tmp_path / "v40.zarr")
    with pytest.raises(InputError, match=r"velocity maps are 40 x 32, the paired data \(pairs.zarr\) are 32 x 32"):
        train(other, pstore, tmp_path / "c", model=tiny_model(), training=tiny_training())
    coarse = write_store(velocity_dataset(layered_maps(4, (32, 32)), dz=20.0, dx=20.0), tmp_path / "v20.zarr")
    with pytest.raises(InputError, match="grid spacing along z is 20 m"):
        train(coarse, pstore, tmp_path / "d", model=tiny_model(), training=tiny_training())
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_paired_data_must_match_its_acquisition(stores, tmp_path: Path) -> None:
    from geogen.data.store import open_store

    ds = open_store(stores[1]).load()
    acq = Acquisition.preset("small", nt=300)
    ds = ds.assign_attrs(acquisition=acq.to_json())
    bad = write_store(ds, tmp_path / "badpairs.zarr")
    with pytest.raises(InputError, match=r"seismic records are .* \(3, 400, 32\), its acquisition says \(3, 300, 32\)"):
        train(stores[0], bad, tmp_path / "run", model=tiny_model(), training=tiny_training())


def test_a_run_directory_keeps_its_model(trained: Path, stores) -> None:
    with pytest.raises(InputError, match="another model configuration"):
        train(*stores, trained, model=tiny_model(latent_dim=8), training=tiny_training(), splits=SPLITS)


def test_steps_per_epoch_caps_an_epoch(stores, tmp_path: Path) -> None:
    cfg = tiny_training()
    cfg.step1.steps_per_epoch = 1
    train(*stores, tmp_path / "run", model=tiny_model(), training=cfg, splits=SPLITS, stages=("step1",))
    lines = [json.loads(s) for s in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]


@pytest.mark.slow
def test_data_parallel_under_torchrun(stores, tmp_path: Path) -> None:
    """Two CPU processes (Gloo): equal step counts per rank, rank 0 writes, all stages finish."""
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys; sys.path.insert(0, %r)\n"
        "from test_training_fixtures import SPLITS, tiny_model, tiny_training\n"
        "from geogen.training import train\n"
        "train(%r, %r, %r, model=tiny_model(), training=tiny_training(), splits=SPLITS)\n"
        % (str(Path(__file__).parent), str(stores[0]), str(stores[1]), str(tmp_path / "run")))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", str(script)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(s) for s in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in lines].count("diffusion") == 3
    assert lines[1]["step"] == 4  # 23 maps over 2 ranks: 12 per rank, batch 8 -> 2 steps per epoch
    assert load_checkpoint(tmp_path / "run/checkpoints/diffusion.pt")["finished"] is True


def test_learning_rate_schedule_warms_up_then_decays() -> None:
    from geogen.training.config import StepConfig

    cfg = StepConfig(lr_schedule="cosine", warmup_fraction=0.1)
    f = [loops.lr_factor(cfg, s, 100) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)  # 10 warm-up steps
    assert all(a >= b for a, b in zip(f[9:], f[10:]))  # then never rises
    assert f[-1] < 0.01
    assert loops.lr_factor(StepConfig(lr_schedule="constant"), 57, 100) == 1.0
    assert loops.lr_factor(StepConfig(warmup_fraction=0.0), 0, 100) == 1.0


def test_optimiser_follows_the_schedule(stores, tmp_path: Path) -> None:
    """The stage's last step runs near the end of the cosine (the resume test checks it is step-exact)."""
    seen: list[float] = []
    cfg = tiny_training()
    cfg.step1.epochs, cfg.step1.lr = 2, 1e-3
    orig = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return orig(self, *a, **k)

    torch.optim.AdamW.step = spy
    try:
        train(*stores, tmp_path / "run", model=tiny_model(), training=cfg, splits=SPLITS, stages=("step1",))
    finally:
        torch.optim.AdamW.step = orig
    assert len(seen) >= 2
    assert seen[0] <= 1e-3 and max(seen) <= 1e-3 + 1e-12
    assert seen[-1] < seen[len(seen) // 2] or len(seen) == 2


def test_physical_relative_loss_is_zero_on_target_and_scale_free() -> None:
    from geogen.data.normalize import Normalizer

    norm = Normalizer(1500.0, 4500.0, -3.0, 4.0)
    t = torch.rand(3, 2, 10, 4) * 1.6 - 0.8
    assert float(loops.physical_relative_loss(t, t, norm)) == pytest.approx(0.0, abs=1e-9)
    base = norm.seismic(torch.zeros_like(t))  # predicting silence: relative error 1 per sample
    assert float(loops.physical_relative_loss(base, t, norm)) == pytest.approx(1.0, rel=1e-4)


def test_step2_with_the_physical_loss_term_trains(stores, tmp_path: Path) -> None:
    cfg = tiny_training()
    cfg.step2.physical_weight = 0.3
    train(*stores, tmp_path / "run", model=tiny_model(), training=cfg, splits=SPLITS, stages=("step1", "step2"))
    lines = [json.loads(s) for s in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["train_loss"]) for r in lines if r["stage"] == "step2")


def test_reflectivity_prior_trains_in_step2_and_survives_a_reload(stores, tmp_path: Path) -> None:
    """With the prior on, step 2 trains the refiner, the velocity side stays frozen, and the
    loaded model decodes the same record as the trained network."""
    from geogen.models.ubdiff import UBDiff

    run = tmp_path / "run"
    model = tiny_model(seismic_prior="reflectivity", prior_channels=2)
    train(*stores, run, model=model, training=tiny_training(), splits=SPLITS)
    s1, s2 = _weights(run / "checkpoints/step1.pt"), _weights(run / "checkpoints/step2.pt")
    refiner = [k for k in s2 if k.startswith("refiner.")]
    assert refiner and any(not torch.equal(s1[k], s2[k]) for k in refiner)
    assert all(torch.equal(s1[k], s2[k]) for k in s1 if k.split(".")[0] in ("encoder", "velocity_decoder"))
    norm = json.loads((run / "normalization.json").read_text())
    assert s2["velocity_bounds"].tolist() == pytest.approx([norm["velocity_min"], norm["velocity_max"]])
    loaded = UBDiff.load(run)
    assert loaded.net.refiner is not None
    v, s = loaded.sample(3, steps=4, seed=0)
    assert np.isfinite(s).all() and s.shape[0] == 3 and v.shape[0] == 3
    # the trained network, rebuilt from the step-2 weights by hand, decodes the very record the loaded model does
    from geogen.models.ubdiff import UBDiffNet

    net = UBDiffNet(model, Acquisition.preset("small"))
    net.load_state_dict(s2)
    net.eval()
    z = torch.rand(3, model.latent_dim, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = loaded.normalizer.seismic_inverse(net.decode_seismic(z).clamp(-1, 1)).numpy()
    _, got = loaded.decode(z.numpy())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert np.abs(expected).max() > 0


def test_training_lowers_the_loss(stores, tmp_path: Path) -> None:
    """Step 1 ends with a training and validation loss well below its first epoch's (measured 0.45 against 0.89 on
    validation); a broken optimiser, a frozen network or shuffled targets would not."""
    cfg = tiny_training(epochs=6)
    cfg.step1.lr = 3e-3
    train(*stores, tmp_path / "run", model=tiny_model(), training=cfg, splits=SPLITS, stages=("step1",))
    rows = [json.loads(s) for s in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    step1 = [r["validation_loss"] for r in rows if r["stage"] == "step1"]
    assert len(step1) == 6 and step1[-1] < 0.7 * step1[0], step1
    train_losses = [r["train_loss"] for r in rows if r["stage"] == "step1"]
    assert train_losses[-1] < 0.7 * train_losses[0], train_losses
