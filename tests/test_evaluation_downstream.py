"""InversionNet a/b/c, distribution figures, pictures and report on a tiny run (small preset)."""

from __future__ import annotations

import json
from pathlib import Path

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
def stores(tmp_path_factory):
    """A velocity store and a pairs store as synth writes them (the paired maps are in both)."""
    root = tmp_path_factory.mktemp("run")
    acq = Acquisition.preset("small")
    maps = layered_maps(24, acq, seed=1)
    write_store(velocity_dataset(maps, dz=acq.dz, dx=acq.dx), root / "velocity.zarr")
    paired = maps[:8]
    write_store(pairs_dataset(paired, physics.forward(paired, acq), acq, origin="simulated"), root / "pairs.zarr")
    return root, acq, maps


def run_dir_with(root, name: str, validation: float, test: float) -> tuple:
    """A run directory as training leaves it: splits.json over the two stores (no model needed here)."""
    from geogen.training.config import SplitConfig

    run_dir = root / name
    run_dir.mkdir()
    splits = splits_mod.make_splits(root / "velocity.zarr", root / "pairs.zarr",
                                    SplitConfig(validation=validation, test=test))
    (run_dir / "splits.json").write_text(json.dumps(splits))
    return run_dir, splits


@pytest.fixture(scope="module")
def run(stores):
    """No validation pairs: evaluation falls back to the last weights.  The 'generated' pairs are the Devito pairs
    of the maps that (c) draws: a perfect generator."""
    from geogen.evaluation.downstream import simulated_extra
    from geogen.evaluation.run_inputs import RunInputs

    root, acq, maps = stores
    run_dir, splits = run_dir_with(root, "run", validation=0.0, test=0.25)
    chosen, v, s = simulated_extra(RunInputs.locate(run_dir), acq, 4, seed=0, workers=1, scheduler=None, cache=None)
    write_store(pairs_dataset(v, s, acq, origin="generated"), run_dir / "generated.zarr")
    return run_dir, acq, maps, splits


@pytest.fixture
def drawn(monkeypatch):
    """What each figure drawn in the test shows: per axes, its labels, images (extent, shape, data) and lines."""
    from geogen.evaluation import plots

    seen: dict[str, list[dict]] = {}
    save = plots._save

    def spy(fig, target):
        seen[Path(target).name] = [
            {"xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
             "images": [(tuple(im.get_extent()), np.asarray(im.get_array())) for im in ax.get_images()],
             "lines": [(line.get_label(), np.asarray(line.get_xdata(), float)) for line in ax.get_lines()]}
            for ax in fig.axes]
        return save(fig, target)

    monkeypatch.setattr(plots, "_save", spy)
    return seen


def test_a_perfect_generator_scores_exactly_like_simulation(run, drawn):
    """Known answer: if the 'generated' pairs are the Devito pairs of the maps (c) draws, (b) == (c)."""
    from geogen.evaluation.downstream import evaluate, simulated_extra
    from geogen.evaluation.run_inputs import RunInputs

    run_dir, acq, maps, splits = run
    inputs = RunInputs.locate(run_dir)
    chosen, v, s = simulated_extra(inputs, acq, 4, seed=0, workers=1, scheduler=None, cache=None)
    paired = {int(i) for i in splits["pair_to_velocity"].values()}
    assert not paired & set(chosen.tolist())  # (c) never reuses a paired (or held-out) map
    generated = open_store(run_dir / "generated.zarr", kind="pairs")
    np.testing.assert_array_equal(generated["velocity"].values, v)
    threads = torch.get_num_threads()
    try:
        out = evaluate(run_dir, steps=4, batch_size=4, width=4, feature_epochs=2, threads=1)
    finally:
        torch.set_num_threads(threads)
    assert out["inversionnet"]["settings"]["threads"] == 1
    arms = out["arms"]
    assert arms["a"]["n_train"] == 6 and arms["b"]["n_train"] == 10 and arms["b0"]["n_train"] == 10
    for key in ("mae", "mse", "ssim"):
        assert arms["b"][key] == arms["c"][key]
    assert arms["a"]["mae"] > 0.05  # four steps of a width-4 network: far from fitting
    # (b0) pairs the same generated maps with their direct-wave records: Devito in the top-row medium
    b0 = open_store(run_dir / "evaluation" / "direct_wave_extra.zarr", kind="pairs")
    np.testing.assert_array_equal(b0["velocity"].values, v)
    np.testing.assert_allclose(b0["seismic"].values, physics.direct_wave(v, acq), rtol=1e-6, atol=1e-9)
    assert arms["b0"]["mae"] != arms["b"]["mae"]
    assert "paired-only" in arms["p"]["skipped"] and "mae" not in arms["p"]  # not run, and it says why
    comparisons = out["comparisons"]
    assert set(comparisons) == {"b_vs_a", "b_vs_b0", "c_vs_b"}
    assert comparisons["b_vs_a"]["mae_gain"] == pytest.approx((arms["a"]["mae"] - arms["b"]["mae"]) / arms["a"]["mae"])
    assert comparisons["b_vs_a"]["spread"] is None and comparisons["b_vs_a"]["beyond_spread"] is None
    assert out["test"]["n"] == 2
    inv = out["inversionnet"]
    assert inv["selection"] == "last" and inv["validation"]["n"] == 0  # no validation pairs: said so
    assert arms["a"]["best_step"] == [4] and arms["a"]["mae_std"] is None  # one seed: no spread
    dist = out["distribution"]
    for m in ("velocity", "seismic"):  # the generated pairs are real samples of the same family
        assert dist[m]["precision"] == 1.0 and dist[m]["recall"] >= 0.75  # measured 1.0 and 1.0
        # as near the real set as held-out real samples are (measured 0.6x and 1.0x that noise floor)
        assert dist[m]["frechet_generated_vs_real"] <= 2 * dist[m]["frechet_real_heldout_vs_real"]
    assert dist["name"] == "Fréchet feature distance (geogen features)"
    assert np.isfinite(dist["seismic"]["frechet_generated_vs_real"])
    ev = run_dir / "evaluation"
    assert json.loads((ev / "evaluation.json").read_text())["arms"]["a"]["mae"] == arms["a"]["mae"]
    # the figures show what they say: the sheet has the 4 generated maps and their gathers on the acquisition's
    # axes, the loss curves one line per trained arm over the 4 optimiser steps
    sheet = [ax for ax in drawn["generated_pairs.png"] if ax["images"]]
    assert len(sheet) == 4 * 4  # rows of map, stored gather, Devito gather, difference
    x_end, z_end, t_end = (acq.nx - 1) * acq.dx, (acq.nz - 1) * acq.dz, (acq.nt - 1) * acq.dt
    for row in range(4):
        (extent, image), = sheet[4 * row]["images"]
        assert extent == pytest.approx((0, x_end, z_end, 0)) and sheet[4 * row]["xlabel"] == "x (m)"
        np.testing.assert_array_equal(image, v[row])
        for panel in sheet[4 * row + 1: 4 * row + 4]:
            (extent, image), = panel["images"]
            assert extent == pytest.approx((min(acq.receiver_x), max(acq.receiver_x), t_end, 0))
            assert image.shape == (acq.nt, acq.n_receivers)
        (_, difference), = sheet[4 * row + 3]["images"]
        assert np.abs(difference).max() < 1e-6 * np.abs(s[row]).max()  # a perfect generator: Devito's own record
    (curves,) = drawn["inversionnet_training.png"]
    assert curves["xlabel"] == "optimiser step" and len(curves["lines"]) == 4  # a, b, b0, c
    assert all(xs.max() == 4 for _, xs in curves["lines"])
    assert (ev / "inversionnet_training.png").is_file()
    report = (ev / "report.md").read_text()
    for label in ("(a) real only", "(b) real + generated", "(b0) real + generated maps, direct-wave records",
                  "(c) real + simulated"):
        assert label in report
    assert "| (p) real + paired-only generator | - | not run: no paired-only generator given" in report
    assert "](generated_pairs.png)" in report
    # the simulated set is cached in the run and reused
    assert open_store(ev / "simulated_extra.zarr", kind="pairs").attrs["velocity_indices"] == chosen.tolist()


def test_paired_only_arm_refuses_a_generator_that_held_out_other_pairs(run, tmp_path):
    from geogen.evaluation.downstream import evaluate

    run_dir, acq, maps, splits = run
    write_store(pairs_dataset(maps[:4], physics.forward(maps[:4], acq), acq, origin="generated"),
                tmp_path / "p.zarr")
    out = evaluate(run_dir, arms=["a", "p"], paired_only=str(tmp_path / "p.zarr"), n_extra=3, steps=2,
                   batch_size=4, width=4, distribution=False, write=False, threads=1)
    assert out["arms"]["p"]["n_extra"] == 3 and out["arms"]["p"]["source"] == str(tmp_path / "p.zarr")
    assert out["arms"]["b"]["skipped"] == "not asked for (arms setting)"
    other = tmp_path / "other_run"
    other.mkdir()
    moved = {**splits, "pairs": {**splits["pairs"], "test": splits["pairs"]["train"][:2]}}
    (other / "splits.json").write_text(json.dumps(moved))
    with pytest.raises(InputError, match="holds out other real pairs"):
        evaluate(run_dir, arms=["p"], paired_only=str(other), steps=2, distribution=False, write=False)


def test_arms_are_on_disk_when_a_later_part_fails(run, monkeypatch):
    """The trained arms are written before the pictures: a failure there loses no training."""
    from geogen.evaluation import downstream

    run_dir = run[0]
    (run_dir / "evaluation" / "evaluation.json").unlink(missing_ok=True)

    def broken(*args, **kwargs):
        raise RuntimeError("pictures failed")

    monkeypatch.setattr(downstream, "_pictures", broken)
    with pytest.raises(RuntimeError, match="pictures failed"):
        downstream.evaluate(run_dir, arms=["a"], steps=2, batch_size=4, width=4, distribution=False, threads=1)
    saved = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert [p["seed"] for p in saved["arms"]["a"]["per_seed"]] == [0]
    assert saved["arms"]["b"]["skipped"] == "not asked for (arms setting)"


def test_missing_generated_store_is_an_input_error(run, tmp_path):
    from geogen.evaluation.downstream import evaluate

    run_dir = run[0]
    with pytest.raises(InputError, match="no generated pairs"):
        evaluate(run_dir, generated=tmp_path / "none.zarr")
    with pytest.raises(InputError, match="no splits.json"):
        evaluate(tmp_path)


# ------------------------------------------------------------ model selection, seeds
def test_select_best_takes_the_lowest_validation_mae_and_the_earlier_of_ties():
    from geogen.evaluation.downstream import select_best

    curve = [(10, 0.50), (20, 0.31), (30, 0.30), (40, 0.30), (50, 0.42)]
    assert select_best(curve) == (30, 0.30)
    assert select_best([(5, 0.2)]) == (5, 0.2)
    assert select_best([(2, 0.1), (4, 0.1)]) == (2, 0.1)
    with pytest.raises(ValueError):
        select_best([])


@pytest.fixture(scope="module")
def normalised(stores):
    """The fixture's 8 real pairs on OpenFWI's scales: 6 to train on, 2 to validate on."""
    from geogen.data.normalize import Normalizer
    from geogen.evaluation import metrics

    root, acq, _ = stores
    ds = open_store(root / "pairs.zarr", kind="pairs")
    v = ds["velocity"].values.astype(np.float32)
    s = ds["seismic"].transpose("sample", "source", "time", "receiver").values.astype(np.float32)
    logged = metrics.log_record(s[:6])
    y, x = Normalizer(acq.vmin, acq.vmax, float(logged.min()), float(logged.max())).scale_pairs(v, s)
    return acq, (x[:6], y[:6]), (x[6:], y[6:])


def test_training_keeps_the_weights_of_lowest_validation_mae(normalised):
    from geogen.evaluation.downstream import train_inversionnet, validation_mae

    acq, (x, y), (xv, yv) = normalised
    kw = dict(steps=9, batch_size=3, width=4, lr=3e-3, seed=0)
    fit = train_inversionnet(x, y, acq, validation=(xv, yv), eval_every=3, **kw)
    assert [step for step, _ in fit.validation_curve] == [3, 6, 9]
    assert fit.selection == "best validation MAE"
    assert fit.best_step % 3 == 0 and 3 <= fit.best_step <= 9
    maes = [m for _, m in fit.validation_curve]
    assert fit.validation_mae == min(maes) and fit.best_step == 3 * (maes.index(min(maes)) + 1)
    # the returned network is the selected one: it scores the recorded validation MAE
    assert validation_mae(fit.net, xv, yv) == pytest.approx(fit.validation_mae, rel=1e-6)
    # the checks draw no random numbers and change no weights: the same training trajectory
    plain = train_inversionnet(x, y, acq, **kw)
    assert plain.selection == "last" and plain.best_step == 9 and plain.validation_mae is None
    assert plain.curve == fit.curve
    with pytest.raises(InputError, match="eval_every"):
        train_inversionnet(x, y, acq, validation=(xv, yv), eval_every=10, **kw)


def test_batches_cover_every_row_and_leave_none_alone():
    from geogen.evaluation.downstream import batches

    for n in range(2, 40):
        for size in (1, 2, 3, 5, 16):
            parts = batches(n, size)
            assert [i for part in parts for i in range(n)[part]] == list(range(n))
            assert all(part.stop - part.start >= 2 for part in parts)
            assert all(part.stop - part.start <= max(size, 2) + 1 for part in parts)


def test_weight_average_is_the_exponential_moving_average_of_the_steps(normalised):
    """ema_decay 0.5 over two steps: the kept weights are half the first step's and half the second's."""
    from geogen.evaluation.downstream import train_inversionnet

    acq, (x, y), _ = normalised
    kw = dict(batch_size=3, width=4, lr=3e-3, seed=0)
    one, two = (train_inversionnet(x, y, acq, steps=n, **kw).net.state_dict() for n in (1, 2))
    averaged = train_inversionnet(x, y, acq, steps=2, ema_decay=0.5, **kw)
    assert averaged.curve == train_inversionnet(x, y, acq, steps=2, **kw).curve  # averaging does not steer
    for name, value in averaged.net.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.5 * one[name] + 0.5 * two[name], rtol=1e-5, atol=1e-6)


def test_batchnorm_statistics_are_measured_on_the_given_records(normalised):
    """bn_records: the first BatchNorm's statistics are those of its input on those records, not the batches'."""
    from geogen.evaluation.downstream import LAYOUT, train_inversionnet, validation_mae

    acq, (x, y), (xv, yv) = normalised
    kw = dict(steps=6, batch_size=6, width=4, lr=3e-3, seed=0)
    plain = train_inversionnet(x, y, acq, **kw)
    reference = x[:4]
    fit = train_inversionnet(x, y, acq, bn_records=reference, validation=(xv, yv), eval_every=3, **kw)
    assert fit.curve == plain.curve
    assert validation_mae(fit.net, xv, yv) == pytest.approx(fit.validation_mae, rel=1e-6)
    conv, bn = fit.net.encoder[0][0], fit.net.encoder[0][1]
    with torch.no_grad():
        features = conv(torch.from_numpy(reference).contiguous(memory_format=LAYOUT))
    torch.testing.assert_close(bn.running_mean, features.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, features.var(dim=(0, 2, 3)), rtol=1e-3, atol=1e-5)
    assert not torch.allclose(bn.running_mean, plain.net.encoder[0][1].running_mean, atol=1e-4)


def test_seeds_give_means_spreads_and_per_seed_figures(stores):
    """Two seeds, with validation pairs: per-seed figures, sample std, best-validation selection."""
    from geogen.evaluation.downstream import evaluate, simulated_extra
    from geogen.evaluation.run_inputs import RunInputs

    root, acq, _ = stores
    run_dir, splits = run_dir_with(root, "run_val", validation=0.25, test=0.25)
    assert len(splits["pairs"]["validation"]) == 2 and len(splits["pairs"]["test"]) == 2
    _, v, s = simulated_extra(RunInputs.locate(run_dir), acq, 3, seed=5, workers=1, scheduler=None, cache=None)
    write_store(pairs_dataset(v, s, acq, origin="generated"), run_dir / "generated.zarr")
    out = evaluate(run_dir, steps=4, eval_every=2, batch_size=4, width=4, seeds=2, seed=3, distribution=False,
                   pictures=False, threads=1)
    inv = out["inversionnet"]
    assert inv["settings"]["seeds"] == [3, 4]
    assert inv["selection"] == "best validation MAE"
    assert inv["weights"] == ("moving average of the weights (decay 0.995), "
                              "BatchNorm statistics of the real training records")
    assert inv["settings"]["ema_decay"] == 0.995 and inv["settings"]["bn_statistics"] == "real"
    kept = [json.loads(f.read_text()) for f in sorted((run_dir / "evaluation" / "fits").glob("*.json"))]
    assert kept and all([step for step, _ in k["validation_curve"]] == [2, 4] for k in kept)
    assert all(k["result"]["validation_mae"] == min(m for _, m in k["validation_curve"]) for k in kept)
    assert inv["validation"] == {"store": str(RunInputs.locate(run_dir).pairs_store), "split": "pairs.validation",
                                 "n": 2, "eval_every": 2, "criterion": "MAE on [-1, 1] velocity"}
    arms = out["arms"]
    for key in ("a", "b", "b0", "c"):
        r = arms[key]
        assert [p["seed"] for p in r["per_seed"]] == [3, 4]
        for metric in ("mae", "mse", "ssim"):
            per = [p[metric] for p in r["per_seed"]]
            assert r[metric] == pytest.approx(np.mean(per))
            assert r[f"{metric}_std"] == pytest.approx(np.std(per, ddof=1))
        assert all(p["best_step"] in (2, 4) and p["validation_mae"] >= 0 for p in r["per_seed"])
        assert r["best_step"] == [p["best_step"] for p in r["per_seed"]]
    b_vs_a = out["comparisons"]["b_vs_a"]
    a_mae = [p["mae"] for p in arms["a"]["per_seed"]]
    b_mae = [p["mae"] for p in arms["b"]["per_seed"]]
    assert b_vs_a["mae_gain_per_seed"] == pytest.approx([(a - b) / a for a, b in zip(a_mae, b_mae)])
    assert b_vs_a["mae_gain"] == pytest.approx((np.mean(a_mae) - np.mean(b_mae)) / np.mean(a_mae))
    spread = max(np.std(a_mae, ddof=1), np.std(b_mae, ddof=1))
    assert b_vs_a["spread"] == pytest.approx(spread)
    assert b_vs_a["beyond_spread"] == bool(np.mean(a_mae) - np.mean(b_mae) > spread)
    saved = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert saved["arms"]["a"]["per_seed"] == arms["a"]["per_seed"]
    assert " ± " in (run_dir / "evaluation" / "report.md").read_text()


def test_a_training_with_the_same_inputs_and_settings_is_not_repeated(stores, monkeypatch):
    """Adding an arm to an evaluation trains only the new arm; changed settings or a damaged file train again."""
    from geogen.evaluation import downstream
    from geogen.evaluation.run_inputs import RunInputs

    root, acq, _ = stores
    run_dir, _ = run_dir_with(root, "run_fits", validation=0.25, test=0.25)
    _, v, s = downstream.simulated_extra(RunInputs.locate(run_dir), acq, 3, seed=2, workers=1, scheduler=None,
                                         cache=None)
    write_store(pairs_dataset(v, s, acq, origin="generated"), run_dir / "generated.zarr")
    trained: list[str] = []
    real_training = downstream.train_inversionnet

    def counted(*args, **kwargs):
        trained.append(kwargs["description"])
        return real_training(*args, **kwargs)

    monkeypatch.setattr(downstream, "train_inversionnet", counted)
    common = dict(steps=4, eval_every=2, batch_size=4, width=4, seeds=2, distribution=False, pictures=False,
                  threads=1)
    first = downstream.evaluate(run_dir, arms=["a"], **common)
    assert len(trained) == 2 and len(list((run_dir / "evaluation" / "fits").glob("*.json"))) == 2
    second = downstream.evaluate(run_dir, arms=["a", "b"], **common)
    assert trained[2:] == ["InversionNet (b) real + generated seed 0", "InversionNet (b) real + generated seed 1"]
    a_first, a_second = first["arms"]["a"], second["arms"]["a"]
    for before, after in zip(a_first["per_seed"], a_second["per_seed"]):
        assert after["reused"].endswith(".json") and "reused" not in before
        assert {k: v for k, v in after.items() if k != "reused"} == before
    assert all("reused" not in seed for seed in second["arms"]["b"]["per_seed"])
    b_vs_a = second["comparisons"]["b_vs_a"]["mae_difference"]
    assert b_vs_a == pytest.approx(a_second["mae"] - second["arms"]["b"]["mae"])
    # a setting the figures depend on changes the key
    downstream.evaluate(run_dir, arms=["a"], **{**common, "steps": 6})
    assert len(trained) == 6
    # a damaged file is trained again (and rewritten), never trusted
    for kept in (run_dir / "evaluation" / "fits").glob("*.json"):
        kept.write_text("{not json")
    third = downstream.evaluate(run_dir, arms=["a"], **common)
    assert len(trained) == 8 and third["arms"]["a"]["mae"] == pytest.approx(a_first["mae"])
    # write=False neither reads nor writes kept trainings
    downstream.evaluate(run_dir, arms=["a"], write=False, **common)
    assert len(trained) == 10


# ------------------------------------------------------------------- workflow stage
def _workflow(tmp_path, *extra: str):
    from geogen.workflow.runner import Workflow

    return Workflow.from_dict({"data": {"synth": {"n_velocity": 40, "n_paired": 10}},
                               "acquisition": {"preset": "small"}, "run": {"dir": str(tmp_path / "run")}},
                              overrides=list(extra))


def test_evaluate_stage_is_planned_only_when_enabled(tmp_path):
    assert "evaluate" not in _workflow(tmp_path).plan()
    wf = _workflow(tmp_path, "evaluation.enabled=true")
    assert wf.plan()[-1] == "evaluate"
    # a changed evaluation setting changes only the evaluate stage's hash
    other = _workflow(tmp_path, "evaluation.enabled=true", "evaluation.seeds=3")
    changed = {k for k in wf.stage_hashes if wf.stage_hashes[k] != other.stage_hashes[k]}
    assert changed == {"evaluate"}
    assert _workflow(tmp_path, "evaluation.threads=2").stage_hashes == _workflow(tmp_path).stage_hashes
    with pytest.raises(InputError, match=r"evaluation.enabled: .*data.splits.test"):
        _workflow(tmp_path, "evaluation.enabled=true", "data.splits.test=0")
    with pytest.raises(InputError, match="eval_every"):
        _workflow(tmp_path, "evaluation.steps=10", "evaluation.eval_every=20")


def test_geogen_evaluate_command(run, tmp_path, capsys):
    """`geogen evaluate RUN --json` prints the summary and nothing else; the text form names every arm; bad input
    is one line and exit status 2."""
    import shutil

    from geogen.cli import main

    run_dir = Path(shutil.copytree(run[0], tmp_path / "run"))
    shutil.rmtree(run_dir / "evaluation" / "fits", ignore_errors=True)  # fits of earlier tests: all trained here
    common = ["--arms", "a,b", "--steps", "2", "--batch-size", "4", "--width", "4", "--no-distribution",
              "--threads", "1", "--seeds", "2"]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run_dir), "--json", *common])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    arms = summary["arms"]
    # one stderr line per finished training, naming arm and seed: a stopped run can still be read
    trained = [line for line in err.splitlines() if line.startswith("geogen: InversionNet ")]
    assert len(trained) == 4 and all("(trained in " in line for line in trained)
    assert "(b) real + generated, seed 1: test MAE " in err
    assert f"test MAE {arms['b']['per_seed'][1]['mae']:.4f}" in trained[3]
    assert arms["a"]["n_train"] == 6 and arms["b"]["n_train"] == 10 and len(arms["b"]["per_seed"]) == 2
    assert {arms[k]["skipped"] for k in ("b0", "c")} == {"not asked for (arms setting)"}
    assert summary["inversionnet"]["settings"]["seeds"] == [0, 1] and "distribution" not in summary
    saved = json.loads((run_dir / "evaluation" / "evaluation.json").read_text())
    assert saved["arms"]["b"]["mae"] == arms["b"]["mae"]
    assert (run_dir / "evaluation" / "report.md").is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run_dir), *common])
    assert exit_info.value.code == 0
    text, err = capsys.readouterr()
    reused = [line for line in err.splitlines() if line.startswith("geogen: InversionNet ")]
    assert len(reused) == 4 and all("(reused evaluation/fits/" in line for line in reused)
    assert "InversionNet tested on 2 held-out real pairs" in text
    assert "(a) real only" in text and "(b) real + generated" in text and " ± " in text
    for bad, message in ((["evaluate", str(tmp_path / "nowhere")], "no such run directory"),
                         (["evaluate", str(run_dir), "--arms", "a,z"], "arms")):
        with pytest.raises(SystemExit) as exit_info:
            main(bad)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err
