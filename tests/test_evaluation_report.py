"""Pictures and the Markdown report, from results written the way validate/evaluate write them."""

from __future__ import annotations

import json

import numpy as np

from geogen.evaluation import plots
from geogen.evaluation.report import write_report


def _stats(m: float) -> dict[str, float]:
    return {"median": m, "p90": 2 * m, "p10": m / 2, "mean": m}


def test_training_curves_histogram_and_report(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"stage": "step1", "epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "validation_loss": None,
             "seconds": 1.0} for e in range(1, 5)]
    rows += [{"stage": "diffusion", "step": s, "train_loss": 0.5 / s, "validation_loss": 0.6 / s} for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"stage\": \"cut")
    png = plots.training_curves(run / "metrics.jsonl", run / "evaluation" / "training_curves.png")
    assert png is not None and png.stat().st_size > 1000

    validation = {"store": str(run / "generated.zarr"), "origin": "generated", "n_pairs": 64,
                  "physics_rel_l2": _stats(0.3), "physics_ssim": _stats(0.8), "first_arrival_error_s": _stats(0.002),
                  "floor": {"n_pairs": 24, "physics_rel_l2": _stats(0.25), "physics_ssim": _stats(0.85),
                            "first_arrival_error_s": _stats(0.001),
                            "per_sample": {"physics_rel_l2": list(np.linspace(0.1, 0.4, 24))}},
                  "median_rel_l2_over_floor": 1.2}
    (run / "validation.json").write_text(json.dumps(validation))
    hist = plots.physics_histogram(validation, run / "evaluation" / "physics_errors.png")
    assert hist.stat().st_size > 1000
    assert not list((run / "evaluation").glob(".*partial*"))  # written atomically, nothing left behind

    scores = {"n_train": 10, "mae": 0.1, "mse": 0.02, "ssim": 0.7}
    evaluation = {"test": {"n": 24, "split": "pairs.test"},
                  "pictures": {"physics_errors": str(hist), "training_curves": str(png)},
                  "distribution": {"name": "Fréchet feature distance (geogen features)", "features": "autoencoder",
                                   "velocity": {"frechet_generated_vs_real": 1.5, "frechet_real_heldout_vs_real": 0.2,
                                                "precision": 0.9, "recall": 0.5}},
                  "inversionnet": {"settings": {"steps": 10, "lr": 1e-4, "weight_decay": 1e-4, "batch_size": 8,
                                                "width": 8, "device": "cpu"},
                                   "a_real": scores, "b_real+generated": {**scores, "mae": 0.08},
                                   "c_real+simulated": {**scores, "mae": 0.05}, "b_vs_a_mae_gain": 0.2}}
    (run / "evaluation" / "evaluation.json").write_text(json.dumps(evaluation))
    text = write_report(run).read_text()  # files written before the yardstick and the arms still render
    assert "| generated pairs (reference: Devito of their own map) | 64 | 0.3 (0.6) | - | 0.8 (1.6) | 2 (4) |" in text
    assert "| floor: autoencoder on held-out test pairs (reference: the true map's record; older, not like for " \
           "like) | 24 | 0.25 (0.5) | - |" in text
    assert "Generated median / floor median: whole record **1.2**." in text
    assert "![distribution of physics errors](physics_errors.png)" in text
    assert "| velocity | 1.5 | 0.2 | 0.900 | 0.500 |" in text
    assert "| (b) real + generated | 10 | 0.08 | 0.02 | 0.7 |" in text
    assert "MAE of (b) vs (a): 20.0 % lower (one seed: no spread measured)." in text
    assert "not comparable with inception fid" in text.lower()


def test_report_shows_the_trivial_row_the_like_for_like_floor_and_every_arm(tmp_path):
    run = tmp_path / "run"
    (run / "evaluation").mkdir(parents=True)
    validation = {"store": "gen.zarr", "origin": "generated", "n_pairs": 64,
                  "physics_rel_l2": _stats(0.09), "scattered_rel_l2": _stats(0.4),
                  "trivial": {"physics_rel_l2": _stats(0.11), "scattered_rel_l2": _stats(1.0)},
                  "floor": {"n_pairs": 24, "reference": "Devito on the decoded velocity map",
                            "physics_rel_l2": _stats(0.12), "scattered_rel_l2": _stats(0.5),
                            "trivial": {"physics_rel_l2": _stats(0.13), "scattered_rel_l2": _stats(1.0)},
                            "reconstruction": {"physics_rel_l2": _stats(0.14)}},
                  "median_physics_rel_l2_over_floor": 0.75, "median_scattered_rel_l2_over_floor": 0.8}
    (run / "validation.json").write_text(json.dumps(validation))

    def arm(label: str, mae: float, std: float) -> dict:
        return {"label": label, "n_train": 20, "mae": mae, "mae_std": std, "mse": 0.02, "ssim": 0.7,
                "per_seed": []}

    evaluation = {"test": {"n": 24, "split": "pairs.test"},
                  "inversionnet": {"settings": {"steps": 10, "lr": 1e-4, "weight_decay": 1e-4, "batch_size": 8,
                                                "width": 8, "device": "cpu", "seeds": [0, 1, 2]}},
                  "arms": {"a": arm("(a) real only", 0.2, 0.01), "b": arm("(b) real + generated", 0.15, 0.01),
                           "b0": arm("(b0) real + generated maps, direct-wave records", 0.155, 0.01),
                           "p": {"label": "(p) real + paired-only generator", "skipped": "no run given"},
                           "c": arm("(c) real + simulated (upper bound)", 0.1, 0.005)},
                  "comparisons": {"b_vs_a": {"mae_gain": 0.25, "mae_difference": 0.05, "spread": 0.01,
                                             "beyond_spread": True},
                                  "b_vs_b0": {"mae_gain": 0.032, "mae_difference": 0.005, "spread": 0.01,
                                              "beyond_spread": False}}}
    (run / "evaluation" / "evaluation.json").write_text(json.dumps(evaluation))
    text = write_report(run).read_text()
    assert "| trivial: direct wave alone, same maps | 64 | 0.11 (0.22) | 1 (2) |" in text
    assert "| floor: autoencoder on held-out test pairs (reference: Devito of the decoded map) | 24 | 0.12 (0.24) | " \
           "0.5 (1) |" in text
    assert "| reconstruction: decoded record vs the true map's record (not a floor) | 24 | 0.14 (0.28) | - |" in text
    assert "The scattered part is the record minus its direct-wave record" in text
    assert "Generated median / floor median: whole record **0.75**; scattered part **0.8**." in text
    assert "| (b0) real + generated maps, direct-wave records | 20 | 0.155 ± 0.01 |" in text
    assert "| (p) real + paired-only generator | - | not run: no run given | | |" in text
    assert "MAE of (b) vs (a): 25.0 % lower; difference 0.05, more than the seeds' spread 0.01." in text
    assert "MAE of (b) vs (b0): 3.2 % lower; difference 0.005, not more than the seeds' spread 0.01." in text


def test_report_without_results_says_what_to_run(tmp_path):
    text = write_report(tmp_path).read_text()
    assert "geogen validate" in text


def test_typed_evaluation_results_write_back_what_they_read():
    """evaluation.json and the evaluate stage's marker, read into typed results: the same JSON comes back (nulls,
    key order and unknown keys kept); the first a/b/c layout still reads; arm keys are those of ARMS."""
    from geogen.evaluation.config import ARMS, COMPARISONS, comparison_name
    from geogen.evaluation.results import Evaluation
    from geogen.run.rundir import RunDir
    from geogen.workflow.results import EvaluateResult, result_of

    seed = {"seed": 0, "mae": 0.2, "mse": 0.05, "ssim": 0.7, "best_step": 4, "validation_mae": None,
            "final_train_l1": 0.3, "train_s": 1.5}
    trained = {"label": ARMS["a"].label, "extra": "nothing", "source": None, "n_train": 6, "n_extra": 0,
               "mae": 0.2, "mae_std": None, "mse": 0.05, "mse_std": None, "ssim": 0.7, "ssim_std": None,
               "best_step": [4], "final_train_l1": 0.3, "train_s": 1.5, "per_seed": [seed]}
    summary = {"run_dir": "run", "generated_store": "run/generated.zarr", "test": {"n": 2},
               "inversionnet": {"selection": "last", "settings": {"seeds": [0]}},
               "arms": {"a": trained, "p": {"label": ARMS["p"].label, "skipped": "not asked for (arms setting)"}},
               "comparisons": {"b_vs_a": {"mae_gain": 0.1, "mae_difference": 0.02, "spread": None,
                                          "beyond_spread": None, "mae_gain_per_seed": [0.1]}},
               "a_later_key": {"kept": True}}
    evaluation = Evaluation.from_json(summary)
    assert json.dumps(evaluation.to_json()) == json.dumps(summary)
    assert evaluation.arms["a"].trained and evaluation.arms["a"].per_seed[0].validation_mae is None
    assert not evaluation.arms["p"].trained and evaluation.comparisons["b_vs_a"].spread is None
    compact = evaluation.arms["a"].without_seeds().to_json()
    assert compact == {k: v for k, v in trained.items() if k != "per_seed"}

    marker = {"report": "evaluation/evaluation.json", "markdown": "evaluation/report.md", "test_pairs": 2,
              "selection": "last", "seeds": [0], "steps": 4, "arms": {"a": compact, "p": summary["arms"]["p"]},
              "comparisons": summary["comparisons"]}
    result = result_of("evaluate", marker)
    assert isinstance(result, EvaluateResult) and result.arms["a"].mae == 0.2
    assert result.to_json() == marker  # the nulls inside an arm stay

    old = Evaluation.from_json({"inversionnet": {"a_real": {"n_train": 4, "mae": 0.3}, "b_vs_a_mae_gain": 0.2}})
    assert old.arms["a"].label == ARMS["a"].label and old.arms["a"].n_train == 4
    assert old.comparisons["b_vs_a"].mae_gain == 0.2

    assert set(RunDir.EVALUATION_CACHES) <= set(ARMS)  # the run layer cannot import ARMS; it must agree with it
    assert {comparison_name(x, y) for x, y in COMPARISONS} == {"b_vs_a", "b_vs_b0", "b_vs_p", "c_vs_b"}
