"""``geogen synth``: make an unbalanced synthetic set (velocity maps + a few pairs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import given, json_flag, option, out_option, scheduler_option, workers_option


@app.command()
def synth(
    out: Optional[Path] = out_option("Output directory (gets velocity.zarr and pairs.zarr)."),
    family: Optional[str] = option("flat|curve|flatfault|curvefault (default curvefault; with --wells: all four, "
                                   "or a comma-separated list)."),
    n_velocity: Optional[int] = option("Number of velocity maps (all go to velocity.zarr)."),
    n_paired: Optional[int] = option("How many of the first maps get modelled seismic (pairs.zarr)."),
    wells: Optional[Path] = option("A wells store (geogen ingest *.las): make N-VELOCITY maps honouring the logs "
                                   "instead (velocity.zarr only)."),
    line: Optional[Path] = option("Write the demo 2-D line for workflows/field_adapt.yaml into this directory "
                                  "(SEG-Y shots and section, LAS wells, unpaired maps)."),
    preset: str = typer.Option("small", "--preset", help="Acquisition preset: openfwi|small."),
    seed: int = typer.Option(0, "--seed", help="Seed of the set; the same seed gives the same data."),
    workers: Optional[int] = workers_option(),
    scheduler: Optional[str] = scheduler_option(),
    json_out: bool = json_flag(),
) -> None:
    """Generate seeded velocity maps and model the first N-PAIRED of them with Devito.

    Re-running the same command after an interruption finishes the set instead of
    starting over.  With --wells, the maps come from well logs (each map's column at its
    well equals the blocked log) and no pairs are modelled.
    """
    from geogen.errors import InputError
    from geogen.physics.synth import synth as run_synth

    if line is not None:
        _demo_line(line, out, wells, n_paired, n_velocity, seed, workers, json_out)
        return
    if out is None:
        raise InputError("--out DIR is required")
    if n_velocity is None:
        raise InputError("--n-velocity N is required")
    if wells is not None:
        _maps_from_wells(wells, out, family, n_velocity, n_paired, preset, seed, json_out)
        return
    if n_paired is None:
        raise InputError("--n-paired M is required (or --wells STORE for maps from well logs)")
    family = family or "curvefault"

    result = run_synth(out, family=family, n_velocity=n_velocity, n_paired=n_paired, preset=preset,
                       seed=seed, **given(workers=workers, scheduler=scheduler))
    summary = {"velocity_store": str(result.velocity_store), "pairs_store": str(result.pairs_store),
               "n_velocity": result.n_velocity, "n_paired": result.n_paired,
               "blocks_computed": result.blocks_computed, "blocks_resumed": result.blocks_resumed}
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    note = f" (resumed {result.blocks_resumed} finished blocks)" if result.blocks_resumed else ""
    typer.echo(f"wrote {result.velocity_store} ({result.n_velocity} maps) and "
               f"{result.pairs_store} ({result.n_paired} pairs){note}")


def _maps_from_wells(wells: Path, out: Path, family: Optional[str], n_velocity: int, n_paired: Optional[int],
                     preset: str, seed: int, json_out: bool) -> None:
    """``geogen synth --wells``: N velocity maps on the preset's grid, each honouring one well."""
    import time

    from geogen.errors import InputError
    from geogen.physics.families import FAMILIES
    from geogen.physics.wells import synth_from_wells

    if n_paired:
        raise InputError("--n-paired does not apply with --wells (maps from logs have no seismic); "
                         "model pairs with a separate geogen synth")
    families = tuple(f.strip() for f in family.split(",")) if family else FAMILIES
    t0 = time.perf_counter()
    target = synth_from_wells(wells, out, n_velocity=n_velocity, preset=preset, seed=seed, families=families)
    summary = {"velocity_store": str(target), "n_velocity": n_velocity, "wells_store": str(wells),
               "families": list(families), "seconds": round(time.perf_counter() - t0, 2)}
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    typer.echo(f"wrote {target} ({n_velocity} maps from the logs in {wells})")


def _demo_line(line: Path, out: Optional[Path], wells: Optional[Path], n_paired: Optional[int],
               n_velocity: Optional[int], seed: int, workers: Optional[int], json_out: bool) -> None:
    """``geogen synth --line DIR``: the demo line that workflows/field_adapt.yaml reads."""
    import time

    from geogen.errors import InputError
    from geogen.physics.line import demo_line

    if out is not None or wells is not None or n_paired is not None:
        raise InputError("--line DIR writes the demo line on its own; --out, --wells and --n-paired do not apply")
    t0 = time.perf_counter()
    result = demo_line(line, n_maps=n_velocity or 2000, seed=seed, **given(workers=workers))
    summary = {"directory": str(result.directory), "shots": str(result.shots), "velocity": str(result.velocity),
               "wells": [str(p) for p in result.wells], "positions": str(result.positions),
               "velocity_maps": str(result.velocity_maps), "n_shots": result.n_shots, "n_traces": result.n_traces,
               "seconds": round(time.perf_counter() - t0, 1)}
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    typer.echo(f"wrote the demo line into {result.directory}: {result.shots.name} ({result.n_shots} shots, "
               f"{result.n_traces} traces), {result.velocity.name}, {len(result.wells)} LAS wells, "
               f"{result.velocity_maps.name}; now run: geogen train workflows/field_adapt.yaml")
