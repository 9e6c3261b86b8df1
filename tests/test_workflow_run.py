"""Running workflows end to end on tiny settings: outputs, skipping, resume, reruns.

The stages are the real ones (Devito synthesis, training, sampling, the physics check,
export); only the sizes are cut down so that each run takes seconds.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.errors import InputError
from geogen.workflow.runner import Workflow

ROOT = Path(__file__).resolve().parents[1]

#: Overrides that shrink any workflow to seconds: a tiny network, one epoch per step.
TINY = [
    "model.latent_dim=8", "model.encoder_channels=[8, 16]", "model.transformer_dim=16",
    "model.transformer_depth=1", "model.transformer_heads=2", "model.denoiser_width=32", "model.denoiser_depth=1",
    "training.step1.epochs=1", "training.step1.batch_size=32", "training.step2.epochs=1", "training.step2.batch_size=8",
    "training.diffusion.steps=10", "training.diffusion.batch_size=32", "training.threads=1", "training.device=cpu",
    "generation.n=3", "generation.steps=4", "validation.workers=1",
]


def quickstart(run_dir: Path, *extra: str) -> Workflow:
    return Workflow.from_yaml(ROOT / "workflows" / "quickstart.yaml", overrides=[
        f"run.dir={run_dir}", "data.synth.n_velocity=96", "data.synth.n_paired=20", "data.synth.workers=1",
        *TINY, *extra])


def stage_lines(caplog) -> dict[str, str]:
    out = {}
    for rec in caplog.records:
        msg = rec.getMessage()
        if msg.startswith("stage "):
            name, _, what = msg[len("stage "):].partition(": ")
            out[name] = what
    return out


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One tiny quickstart run, shared by the tests that inspect its outputs."""
    run_dir = tmp_path_factory.mktemp("quick") / "run"
    export = "export.formats=[segy, netcdf]" if _has_segy() else "export.formats=[netcdf]"
    quickstart(run_dir, export).run()
    return run_dir


def own_copy(quick_run: Path, tmp_path: Path) -> Path:
    """A copy of the shared run for a test that reruns it with other settings (the shared run is never changed,
    so the tests pass in any order); its markers still name the shared run's data stores, read only."""
    import shutil

    return Path(shutil.copytree(quick_run, tmp_path / "run"))


def _has_segy() -> bool:
    try:
        import geogen.adapters.segy  # noqa: F401
    except ImportError:
        return False
    return True


def test_quickstart_leaves_a_complete_run_directory(quick_run):
    run = quick_run
    for name in ("workflow.yaml", "workflow.json", "splits.json", "metrics.jsonl", "validation.json",
                 "summary.md", "summary.json", "checkpoints/step1.pt", "checkpoints/step2.pt",
                 "checkpoints/diffusion.pt", "plots/training_curves.png"):
        assert (run / name).exists(), name
    # the snapshot is itself a valid workflow with the acquisition spelled out
    snap = yaml.safe_load((run / "workflow.yaml").read_text())
    assert Workflow.from_dict(snap).acquisition == Acquisition.preset("small")
    meta = json.loads((run / "workflow.json").read_text())
    assert meta["name"] == "quickstart" and len(meta["config_sha256"]) == 64
    stages = [json.loads(line)["stage"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"step1", "step2", "diffusion"} <= set(stages)
    generated = open_store(run / "generated.zarr", kind="pairs")
    assert generated.attrs["origin"] == "generated"
    assert generated.sizes["sample"] == 3
    assert generated["seismic"].shape == (3, *Acquisition.preset("small").seismic_shape)
    assert "physics_rel_l2" in generated  # the physics check wrote its figures into the store
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["n_velocity"] == 96 and summary["data"]["n_pairs"] == 20
    validation = summary["validation"]
    assert validation["n_pairs"] == 3
    # the like-for-like floor: the 2 held-out test pairs (10 % of 20) through the autoencoder, and the ratio to it
    floor = validation["floor"]
    assert floor["n_pairs"] == 2 and 0 < floor["physics_rel_l2"]["median"] < np.inf
    assert validation["median_physics_rel_l2_over_floor"] == pytest.approx(
        validation["physics_rel_l2"]["median"] / floor["physics_rel_l2"]["median"])
    full = json.loads((run / "validation.json").read_text())
    assert len(full["floor"]["per_sample"]["physics_rel_l2"]) == 2
    # the trivial (direct-wave-only) generator misses the scattered part exactly
    assert validation["trivial"]["scattered_rel_l2"]["median"] == pytest.approx(1.0, abs=1e-6)
    assert set(summary["stage_seconds"]) >= {"synth", "assemble", "train", "generate", "validate", "export"}
    text = (run / "summary.md").read_text()
    assert "## Physics check (Devito)" in text and "physics_rel_l2" in text
    exported = summary["export"]
    assert xr.open_dataset(exported["netcdf"]).sizes["sample"] == 3
    if "segy" in exported:
        import segyio

        files = sorted(Path(exported["segy"]).glob("seismic_*.sgy"))
        assert len(files) == 3
        with segyio.open(files[0], ignore_geometry=True) as f:
            assert f.tracecount == 3 * 32  # sources x receivers
            assert f.samples.size == 400


def test_rerun_skips_every_finished_stage(quick_run, tmp_path, caplog):
    run = own_copy(quick_run, tmp_path)
    markers = {p.name: p.stat().st_mtime_ns for p in (run / "stages").glob("*.json")}
    caplog.set_level(logging.INFO, logger="geogen.workflow")
    export = "export.formats=[segy, netcdf]" if _has_segy() else "export.formats=[netcdf]"
    quickstart(run, export).run()
    lines = stage_lines(caplog)
    assert set(lines) == {"synth", "assemble", "train", "generate", "validate", "export"}
    assert all(v == "done already, skipped" for v in lines.values()), lines
    assert markers == {p.name: p.stat().st_mtime_ns for p in (run / "stages").glob("*.json")}


def test_changed_generation_redoes_only_downstream(quick_run, tmp_path, caplog):
    quick_run = own_copy(quick_run, tmp_path)
    caplog.set_level(logging.INFO, logger="geogen.workflow")
    quickstart(quick_run, "generation.n=2", "export.formats=[netcdf]").run()
    lines = stage_lines(caplog)
    assert lines["synth"] == lines["train"] == "done already, skipped"
    assert lines["generate"] == "done in " + lines["generate"].removeprefix("done in ")  # ran again
    assert "running" not in lines["train"]
    assert open_store(quick_run / "generated.zarr").sizes["sample"] == 2
    # a changed model is another workflow's run: refused before anything runs
    with pytest.raises(InputError, match="holds the run of another workflow"):
        quickstart(quick_run, "model.latent_dim=4").run()


def test_interrupted_run_resumes(tmp_path):
    """Kill `geogen train` while it trains; the rerun skips the data stages and finishes."""
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "geogen", "train", str(ROOT / "workflows" / "quickstart.yaml"),
            "--set", f"run.dir={run_dir}", "--set", "data.synth.n_velocity=64", "--set", "data.synth.n_paired=12",
            "--set", "data.synth.workers=1", "--set", "export.formats=[]", "--set", "validation.enabled=false"]
    for item in TINY:
        args += ["--set", item]
    args += ["--set", "training.diffusion.steps=600"]  # long enough (seconds) to be killed inside
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "step2.pt").exists():  # killed while the diffusion step trains
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "stages" / "train.json").exists()
    assert not (run_dir / "summary.md").exists()
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "stage synth: done already, skipped" in done.stderr
    assert "stage assemble: done already, skipped" in done.stderr
    assert "stage train: running" in done.stderr
    assert "geogen: torch CPU threads: 1\n" in done.stderr  # TINY sets training.threads=1
    assert done.stdout.strip() == str(run_dir)
    assert (run_dir / "summary.md").exists() and (run_dir / "checkpoints" / "diffusion.pt").exists()
    # the resumed run ends where an uninterrupted run of the same workflow ends: the same weights, the same pairs
    straight_dir = tmp_path / "straight"
    straight = subprocess.run([a.replace(str(run_dir), str(straight_dir)) for a in args], capture_output=True,
                              text=True)
    assert straight.returncode == 0, straight.stderr
    from geogen.run.checkpoint import load_checkpoint

    resumed_ckpt = load_checkpoint(run_dir / "checkpoints" / "diffusion.pt")
    straight_ckpt = load_checkpoint(straight_dir / "checkpoints" / "diffusion.pt")
    for key, value in straight_ckpt.ema["model"].items():
        assert torch.equal(resumed_ckpt.ema["model"][key], value), key
    for key, value in straight_ckpt.model_weights.items():
        assert torch.equal(resumed_ckpt.model_weights[key], value), key
    for name in ("velocity", "seismic"):
        np.testing.assert_array_equal(open_store(run_dir / "generated.zarr")[name].values,
                                      open_store(straight_dir / "generated.zarr")[name].values)


def test_several_stores_are_assembled(tmp_path):
    acq = Acquisition.preset("small")
    rng = np.random.default_rng(1)
    maps = [rng.uniform(1500, 4500, (n, *acq.shape)).astype(np.float32) for n in (5, 7)]
    vel = [write_store(velocity_dataset(m, dz=10, dx=10), tmp_path / f"v{i}.zarr") for i, m in enumerate(maps)]
    pairs = write_store(pairs_dataset(maps[0][:3], rng.standard_normal((3, *acq.seismic_shape)).astype(np.float32),
                                      acq, origin="simulated"), tmp_path / "p.zarr")
    wf = Workflow.from_dict({"run": {"dir": str(tmp_path / "run")},
                             "data": {"velocity": [str(v) for v in vel], "paired": [str(pairs)]}})
    run = wf.run(until="assemble")
    out = json.loads((run / "stages" / "assemble.json").read_text())["outputs"]
    assert out["n_velocity"] == 12 and out["n_pairs"] == 3
    assert Path(out["pairs_store"]) == pairs  # one store is used in place, not copied
    merged = open_store(out["velocity_store"], kind="velocity")
    np.testing.assert_array_equal(merged["velocity"].values, np.concatenate(maps))
    assert not (run / "generated.zarr").exists()


def test_openfwi_files_are_ingested_and_trained(tmp_path):
    """The openfwi workflow on two tiny OpenFWI-format files (model*.npy + data*.npy)."""
    from geogen.physics import forward, generate_velocity

    acq = Acquisition.preset("openfwi")
    v = generate_velocity("flat", 6, acq.shape, seed=3)
    np.save(tmp_path / "model1.npy", v[:, None])  # every map (the abundant set)
    (tmp_path / "paired").mkdir()
    np.save(tmp_path / "paired" / "model1.npy", v[:4, None])  # the few maps with records
    np.save(tmp_path / "paired" / "data1.npy", forward(v[:4], acq))
    wf = Workflow.from_yaml(ROOT / "workflows" / "openfwi.yaml", overrides=[
        f"run.dir={tmp_path / 'run'}", "data.synth=null", f"data.velocity=[[{tmp_path / 'model1.npy'}]]",
        f"data.paired=[[{tmp_path / 'paired' / 'model1.npy'}, {tmp_path / 'paired' / 'data1.npy'}]]",
        "data.splits.validation=0.25", "data.splits.test=0.25",
        *TINY, "generation.n=2", "generation.batch_size=2", "validation.filter=1000",
        "export.formats=[zarr]", "training.step1.num_workers=0", "training.step2.num_workers=0",
    ])
    run = wf.run()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["n_velocity"] == 6 and summary["data"]["n_pairs"] == 4
    assert summary["validation"]["filter"]["kept"] == 2
    assert open_store(summary["export"]["zarr"], kind="pairs").sizes["sample"] == 2
    assert (run / "data" / "ingested").is_dir()


@pytest.mark.slow
def test_shipped_quickstart_runs_as_is(tmp_path):
    """The README's command, at its shipped settings (minutes on a 2-core CPU)."""
    out = subprocess.run([sys.executable, "-m", "geogen", "train", str(ROOT / "workflows" / "quickstart.yaml"),
                          "--set", f"run.dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data"] == {**summary["data"], "n_velocity": 2000, "n_pairs": 240}
    assert summary["validation"]["n_pairs"] == 64
    assert len(list(Path(summary["export"]["segy"]).glob("seismic_*.sgy"))) == 64


def test_evaluation_stage_runs_when_enabled_and_alone_when_changed(quick_run, tmp_path, caplog):
    """The optional evaluate stage: off by default, writes evaluation/, redone alone when its settings change."""
    quick_run = own_copy(quick_run, tmp_path)
    assert not (quick_run / "evaluation").exists() and not (quick_run / "stages" / "evaluate.json").exists()
    same = ["generation.n=2", "export.formats=[netcdf]", "evaluation.enabled=true", "evaluation.steps=4",
            "evaluation.eval_every=2", "evaluation.batch_size=4", "evaluation.width=4", "evaluation.threads=1",
            "evaluation.distribution=false"]
    quickstart(quick_run, *same).run()
    report = json.loads((quick_run / "evaluation" / "evaluation.json").read_text())
    inv, arms = report["inversionnet"], report["arms"]
    assert inv["selection"] == "best validation MAE" and inv["validation"]["n"] == 2  # 10 % of 20 pairs
    assert report["test"]["n"] == 2
    for key in ("b", "b0", "c"):
        assert arms[key]["n_train"] == arms["a"]["n_train"] + 2
    assert "paired-only" in arms["p"]["skipped"]
    summary = json.loads((quick_run / "summary.json").read_text())
    assert summary["evaluation"]["arms"]["a"]["mae"] == arms["a"]["mae"]
    assert "| (p) real + paired-only generator | - | not run" in (quick_run / "summary.md").read_text()
    assert "evaluate" in summary["stage_seconds"]
    assert "## Downstream payoff (InversionNet)" in (quick_run / "summary.md").read_text()
    caplog.clear()
    caplog.set_level(logging.INFO, logger="geogen.workflow")
    quickstart(quick_run, *same, "evaluation.seeds=2").run()
    lines = stage_lines(caplog)
    assert lines.pop("evaluate").startswith("done in")
    assert lines and all(v == "done already, skipped" for v in lines.values()), lines
    arms = json.loads((quick_run / "evaluation" / "evaluation.json").read_text())["arms"]
    assert len(arms["a"]["per_seed"]) == 2 and arms["a"]["mae_std"] is not None
