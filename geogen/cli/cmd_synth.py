"""``geogen synth``: make an unbalanced synthetic set (velocity maps + a few pairs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (gets velocity.zarr and pairs.zarr)."),
    family: str = typer.Option("curvefault", "--family", help="flat|curve|flatfault|curvefault"),
    n_velocity: int = typer.Option(..., "--n-velocity", help="Number of velocity maps (all go to velocity.zarr)."),
    n_paired: int = typer.Option(..., "--n-paired", help="How many of the first maps get modelled seismic (pairs.zarr)."),
    preset: str = typer.Option("small", "--preset", help="Acquisition preset: openfwi|small."),
    seed: int = typer.Option(0, "--seed", help="Seed of the set; the same seed gives the same data."),
    workers: int = typer.Option(1, "--workers", help="Dask worker processes for modelling (1: no cluster)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running dask scheduler to use instead."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Generate seeded velocity maps and model the first N-PAIRED of them with Devito.

    Re-running the same command after an interruption finishes the set instead of
    starting over.
    """
    from geogen.physics.synth import synth as run_synth

    result = run_synth(out, family=family, n_velocity=n_velocity, n_paired=n_paired, preset=preset,
                       seed=seed, workers=workers, scheduler=scheduler)
    summary = {"velocity_store": str(result.velocity_store), "pairs_store": str(result.pairs_store),
               "n_velocity": result.n_velocity, "n_paired": result.n_paired,
               "blocks_computed": result.blocks_computed, "blocks_resumed": result.blocks_resumed}
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    note = f" (resumed {result.blocks_resumed} finished blocks)" if result.blocks_resumed else ""
    typer.echo(f"wrote {result.velocity_store} ({result.n_velocity} maps) and "
               f"{result.pairs_store} ({result.n_paired} pairs){note}")
