"""``geogen evaluate RUN_DIR``: distribution quality and the InversionNet payoff of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from geogen.cli.app import app


def _spread(result: dict[str, Any], key: str) -> str:
    std = result.get(f"{key}_std")
    return f"{result[key]:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def format_evaluation(summary: dict[str, Any]) -> str:
    inv = summary["inversionnet"]
    lines = [f"{summary['run_dir']}: InversionNet tested on {summary['test']['n']} held-out real pairs"]
    for key, label in (("a_real", "(a) real only"), ("b_real+generated", "(b) real + generated"),
                       ("c_real+simulated", "(c) real + simulated")):
        r = inv[key]
        lines.append(f"  {label:<22} n={r['n_train']:<5} MAE {_spread(r, 'mae')}  MSE {_spread(r, 'mse')}  "
                     f"SSIM {_spread(r, 'ssim')}")
    gain = inv.get("b_vs_a_mae_gain")
    lines.append("  MAE gain of (b) over (a): " + (f"{100 * gain:.1f} %" if gain is not None else "n/a"))
    if "selection" in inv:
        n_seeds = len(inv["settings"].get("seeds", [0]))
        lines.append(f"  weights scored: {inv['selection']}; {n_seeds} seed(s)"
                     + (" (mean ± sample std)" if n_seeds > 1 else ""))
    dist = summary.get("distribution")
    if dist:
        for m in ("velocity", "seismic"):
            e = dist.get(m, {})
            if "frechet_generated_vs_real" in e:
                ref = e.get("frechet_real_heldout_vs_real")
                lines.append(f"  {m}: Fréchet feature distance {e['frechet_generated_vs_real']:.4g}"
                             + (f" (held-out real: {ref:.4g})" if ref is not None else "")
                             + f", precision {e['precision']:.3f}, recall {e['recall']:.3f}")
    if "report" in summary:
        lines.append(f"  report: {summary['report']}")
    return "\n".join(lines)


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A training run directory (with splits.json and checkpoints)."),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON summary on stdout."),
    generated: Optional[Path] = typer.Option(None, "--generated", help="Generated pairs store (default RUN_DIR/generated.zarr)."),
    n_extra: Optional[int] = typer.Option(None, "--n-extra", help="Use at most N generated (and N simulated) pairs."),
    steps: int = typer.Option(600, "--steps", help="InversionNet optimiser steps per training set."),
    batch_size: int = typer.Option(32, "--batch-size", help="InversionNet batch size."),
    width: int = typer.Option(8, "--width", help="InversionNet base width (OpenFWI: 32)."),
    lr: float = typer.Option(1e-4, "--lr", help="InversionNet AdamW learning rate (OpenFWI: 1e-4)."),
    seed: int = typer.Option(0, "--seed", help="First seed of InversionNet's initialisation and batch order."),
    seeds: int = typer.Option(1, "--seeds", help="Train each set with seeds SEED..SEED+N-1; report mean and std."),
    eval_every: Optional[int] = typer.Option(
        None, "--eval-every", help="Steps between validation-MAE checks for model selection (default steps/20)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: CUDA when present)."),
    workers: int = typer.Option(1, "--workers", help="Dask worker processes for the simulated set (c)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running dask scheduler."),
    feature_epochs: int = typer.Option(40, "--feature-epochs", help="Epochs of each feature autoencoder."),
    no_distribution: bool = typer.Option(False, "--no-distribution", help="Skip the Fréchet/precision/recall figures."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
) -> None:
    """Train InversionNet on (a) real, (b) real + generated, (c) real + simulated pairs; test on held-out real pairs."""
    from geogen.evaluation.downstream import evaluate as run_evaluate

    summary = run_evaluate(run_dir, generated=generated, n_extra=n_extra, steps=steps, batch_size=batch_size,
                           width=width, lr=lr, seed=seed, seeds=seeds, eval_every=eval_every, device=device,
                           workers=workers, scheduler=scheduler, feature_epochs=feature_epochs,
                           distribution=not no_distribution, threads=threads)
    if json_out:
        print(json.dumps(summary, indent=2))
    else:
        typer.echo(format_evaluation(summary))
