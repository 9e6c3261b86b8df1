"""``geogen generate``: new pairs from a trained UB-Diff run."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from geogen.cli.app import app


@app.command()
def generate(
    run_dir: Path = typer.Argument(..., help="Run directory of `geogen train` (or a diffusion .pt checkpoint)."),
    n: int = typer.Option(..., "--n", help="Number of pairs to generate."),
    out: Path = typer.Option(..., "--out", "-o", help="Target pairs store (Zarr)."),
    steps: int = typer.Option(50, "--steps", help="Sampling steps (DDIM: 50 is plenty; ancestral: up to T)."),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim|ancestral."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same pairs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Pairs sampled at once."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary only."),
) -> None:
    """Sample N velocity/seismic pairs (EMA weights) into a `pairs` store in physical units."""
    from geogen.generation import generate as run_generate

    ds = run_generate(run_dir, n, out, steps=steps, sampler=sampler, seed=seed, batch_size=batch_size,
                      device=None if device == "auto" else device)
    summary = {"store": str(out), "n": int(ds.sizes["sample"]), "sampler": sampler, "steps": steps, "seed": seed,
               "checkpoint": ds.attrs["checkpoint"],
               "velocity_range_mps": [float(ds.velocity.min()), float(ds.velocity.max())]}
    if json_out:
        print(json.dumps(summary))
    else:
        typer.echo(f"wrote {summary['n']} generated pairs to {out} ({sampler}, {steps} steps, seed {seed})")
