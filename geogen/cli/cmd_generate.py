"""``geogen generate``: new pairs from a trained UB-Diff run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import json_flag, option, out_option


@app.command()
def generate(
    run_dir: Path = typer.Argument(..., help="Run directory of `geogen train` (or a diffusion .pt checkpoint)."),
    n: int = typer.Option(..., "--n", help="Number of pairs to generate."),
    out: Path = out_option("Target pairs store (Zarr).", required=True),
    steps: Optional[int] = option("Sampling steps (default 50; DDIM: 50 is plenty; ancestral: up to T)."),
    sampler: Optional[str] = option("ddim (default) or ancestral."),
    seed: Optional[int] = option("Seed (default 0): the same seed gives the same pairs."),
    batch_size: Optional[int] = option("Pairs sampled at once (default 64)."),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda."),
    json_out: bool = json_flag(),
) -> None:
    """Sample N velocity/seismic pairs (EMA weights) into a `pairs` store in physical units."""
    from geogen.generation import generate as run_generate
    from geogen.generation import sampling_config

    cfg = sampling_config(steps=steps, sampler=sampler, seed=seed, batch_size=batch_size)
    ds = run_generate(run_dir, n, out, cfg, device=None if device == "auto" else device)
    sampler, steps, seed = cfg.sampler, cfg.steps, cfg.seed
    velocity = ds.velocity.to_numpy() if ds.velocity.chunks is None else ds.velocity.data.compute(
        scheduler="synchronous")  # a few MB: not worth starting threads, nor importing dask.distributed (0.2 s)
    summary = {"store": str(out), "n": int(ds.sizes["sample"]), "sampler": sampler, "steps": steps, "seed": seed,
               "checkpoint": ds.attrs["checkpoint"],
               "velocity_range_mps": [float(velocity.min()), float(velocity.max())]}
    if json_out:
        print(json.dumps(summary))
    else:
        typer.echo(f"wrote {summary['n']} generated pairs to {out} ({sampler}, {steps} steps, seed {seed})")
