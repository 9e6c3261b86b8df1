"""``geogen validate STORE``: check every pair against Devito modelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from geogen.cli.app import app


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def format_validation(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines (median and 90th percentile, floor beside)."""
    lines = [f"{summary['store']}: {summary['n_pairs']} {summary.get('origin') or ''} pairs checked against Devito"]
    floor = summary.get("floor", {})
    for key, label in (("physics_rel_l2", "relative L2"), ("physics_ssim", "SSIM"),
                       ("first_arrival_error_s", "first-arrival error (s)")):
        s = summary[key]
        line = f"  {label:<26} median {_num(s['median'])}  p90 {_num(s['p90'])}"
        if key in floor:
            line += f"   floor median {_num(floor[key]['median'])}  p90 {_num(floor[key]['p90'])}"
        lines.append(line)
    if "median_rel_l2_over_floor" in summary:
        lines.append(f"  median relative L2 / autoencoder floor: {_num(summary['median_rel_l2_over_floor'])}")
    if "filter" in summary:
        f = summary["filter"]
        lines.append(f"  kept {f['kept']} of {f['kept'] + f['dropped']} pairs with rel L2 <= {f['threshold_rel_l2']:g}"
                     + (f" -> {f['out']}" if f["out"] else f": {f['note']}"))
    return "\n".join(lines)


@app.command()
def validate(
    store: Path = typer.Argument(..., help="A pairs store (generated, simulated or recorded)."),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON summary on stdout."),
    run: Optional[Path] = typer.Option(None, "--run", help="Training run: add the autoencoder floor, save validation.json there."),
    workers: int = typer.Option(1, "--workers", help="Dask worker processes for the modelling."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of a running dask scheduler."),
    filter_threshold: Optional[float] = typer.Option(None, "--filter", help="Keep pairs with relative L2 <= THRESHOLD (needs --out)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Store for the pairs that pass --filter."),
    no_write: bool = typer.Option(False, "--no-write", help="Do not add the per-pair figures to STORE."),
) -> None:
    """Model each pair's velocity with Devito and compare with its seismic (rel L2, SSIM, first arrivals)."""
    from geogen.evaluation.physics_check import validate as run_validate

    summary = run_validate(store, run_dir=run, workers=workers, scheduler=scheduler, filter=filter_threshold,
                           filter_out=out, write=not no_write)
    if json_out:
        print(json.dumps(summary, indent=2))
    else:
        typer.echo(format_validation(summary))
