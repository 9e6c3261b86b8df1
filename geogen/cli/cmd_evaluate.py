"""``geogen evaluate RUN_DIR``: distribution quality and the InversionNet payoff of a run, arm by arm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import given, json_flag, option, progress_lines, scheduler_option, workers_option

if TYPE_CHECKING:
    from geogen.evaluation.results import Evaluation


def format_evaluation(summary: Evaluation) -> str:
    from geogen.evaluation.report import comparison_lines, spread

    inv = summary.inversionnet
    lines = [f"{summary.run_dir}: InversionNet tested on {summary.test['n']} held-out real pairs"]
    for r in summary.arms.values():
        if not r.trained:
            lines.append(f"  {r.label:<50} not run: {r.skipped}")
            continue
        mae, mse, ssim = (spread(r, key, ".4f", ".4f") for key in ("mae", "mse", "ssim"))
        lines.append(f"  {r.label:<50} n={r.n_train:<5} MAE {mae}  MSE {mse}  SSIM {ssim}")
    lines += ["  " + line for line in comparison_lines(summary.comparisons)]
    n_seeds = len(inv["settings"].get("seeds", [0]))
    reused = sum(1 for r in summary.arms.values() for s in (r.per_seed or []) if s.reused)
    lines.append(f"  weights scored: {inv['selection']}"
                 + (f" ({inv['weights']})" if "weights" in inv else "") + f"; {n_seeds} seed(s)"
                 + (" (mean ± sample std)" if n_seeds > 1 else "")
                 + (f"; {reused} training(s) reused from evaluation/fits (same inputs and settings)" if reused else ""))
    dist = summary.distribution
    if dist:
        for m in ("velocity", "seismic"):
            e = dist.get(m, {})
            if "frechet_generated_vs_real" in e:
                ref = e.get("frechet_real_heldout_vs_real")
                lines.append(f"  {m}: Fréchet feature distance {e['frechet_generated_vs_real']:.4g}"
                             + (f" (held-out real: {ref:.4g})" if ref is not None else "")
                             + f", precision {e['precision']:.3f}, recall {e['recall']:.3f}")
    if summary.report is not None:
        lines.append(f"  report: {summary.report}")
    return "\n".join(lines)


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A training run directory (with splits.json and checkpoints)."),
    generated: Optional[Path] = option("Generated pairs store (default RUN_DIR/generated.zarr)."),
    paired_only: Optional[str] = option("Arm (p): a run trained with training.velocity_maps=paired, or a store it "
                                        "wrote."),
    arms: Optional[str] = option("Comma-separated arms to train (default a,b,b0,p,c)."),
    n_extra: Optional[int] = option("Extra pairs per arm (default: all generated)."),
    steps: Optional[int] = option("InversionNet optimiser steps per arm and seed."),
    batch_size: Optional[int] = option("InversionNet batch size."),
    width: Optional[int] = option("InversionNet base width (OpenFWI: 32)."),
    lr: Optional[float] = option("InversionNet AdamW learning rate (OpenFWI: 1e-4)."),
    seed: Optional[int] = option("First seed of InversionNet's initialisation and batches."),
    seeds: Optional[int] = option("Train each arm with seeds SEED..SEED+N-1."),
    eval_every: Optional[int] = option("Steps between validation-MAE checks."),
    ema_decay: Optional[float] = option("Decay of the weight average that is checked and kept (0: none)."),
    bn_statistics: Optional[str] = option("BatchNorm statistics of the checked network: real (measured on the real "
                                          "training records) or batches (running averages)."),
    device: Optional[str] = option("auto, cpu or cuda."),
    workers: Optional[int] = workers_option("Dask worker processes for the Devito modelling of (b0) and (c)."),
    scheduler: Optional[str] = scheduler_option(),
    feature_epochs: Optional[int] = option("Epochs of each feature autoencoder."),
    no_distribution: bool = typer.Option(False, "--no-distribution", help="Skip the Fréchet/precision/recall figures."),
    threads: Optional[int] = option("torch CPU threads (default: torch's choice)."),
    json_out: bool = json_flag(),
) -> None:
    """InversionNet on (a) real, (b) + generated, (b0) + direct-wave records, (p) + paired-only, (c) + simulated."""
    from geogen.evaluation.config import EvaluationConfig
    from geogen.evaluation.downstream import evaluate_run

    config = EvaluationConfig(**given(
        paired_only=paired_only, arms=[a.strip() for a in arms.split(",") if a.strip()] if arms else None,
        n_extra=n_extra, steps=steps, batch_size=batch_size, width=width, lr=lr, seed=seed, seeds=seeds,
        eval_every=eval_every, ema_decay=ema_decay, bn_statistics=bn_statistics, device=device, workers=workers,
        scheduler=scheduler, feature_epochs=feature_epochs,
        threads=threads, distribution=False if no_distribution else None))
    with progress_lines("geogen.evaluation"):  # one stderr line per finished training: hours of work stay legible
        summary = evaluate_run(run_dir, config, generated=generated)
    if json_out:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        typer.echo(format_evaluation(summary))
