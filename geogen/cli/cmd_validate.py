"""``geogen validate STORE``: check every pair against Devito modelling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import given, json_flag, option, out_option, scheduler_option, workers_option


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _median(figure: dict[str, Any] | None, scale: float = 1.0) -> str:
    value = (figure or {}).get("median")
    return "-" if value is None else f"{value * scale:.4g}"


def format_validation(summary: dict[str, Any]) -> str:
    """The summary as a small table of medians: the store, the trivial row and the floor (see report.physics_rows)."""
    from geogen.evaluation.report import SCATTERED_SENTENCE, physics_rows

    lines = [f"{summary['store']}: {summary['n_pairs']} {summary.get('origin') or ''} pairs checked against Devito "
             "(medians)", f"  {'':<80} {'rel L2':>8} {'scattered':>9} {'SSIM':>7} {'1st arr. ms':>11}"]
    for label, _, fig in physics_rows(summary):
        lines.append(f"  {label:<80} {_median(fig.get('physics_rel_l2')):>8} {_median(fig.get('scattered_rel_l2')):>9} "
                     f"{_median(fig.get('physics_ssim')):>7} {_median(fig.get('first_arrival_error_s'), 1e3):>11}")
    for key, label in (("median_physics_rel_l2_over_floor", "whole record"),
                       ("median_scattered_rel_l2_over_floor", "scattered part")):
        if key in summary:
            lines.append(f"  median / floor, {label}: {_num(summary[key])}")
    lines.append("  " + SCATTERED_SENTENCE.split(":")[0] + ".")
    if "filter" in summary:
        f = summary["filter"]
        lines.append(f"  kept {f['kept']} of {f['kept'] + f['dropped']} pairs with rel L2 <= {f['threshold_rel_l2']:g}"
                     + (f" -> {f['out']}" if f["out"] else f": {f['note']}"))
    return "\n".join(lines)


@app.command()
def validate(
    store: Path = typer.Argument(..., help="A pairs store (generated, simulated or recorded)."),
    run: Optional[Path] = option("Training run: add the like-for-like autoencoder floor, save validation.json there."),
    workers: Optional[int] = workers_option(),
    scheduler: Optional[str] = scheduler_option(),
    filter_threshold: Optional[float] = option("Keep pairs with relative L2 <= THRESHOLD (needs --out).", "--filter"),
    out: Optional[Path] = out_option("Store for the pairs that pass --filter."),
    no_write: bool = typer.Option(False, "--no-write", help="Do not add the per-pair figures to STORE."),
    json_out: bool = json_flag(),
) -> None:
    """Model each pair's velocity and its direct wave with Devito; score record, scattered part, SSIM, arrivals."""
    from geogen.evaluation.config import ValidationConfig
    from geogen.evaluation.physics_check import validate as run_validate

    config = ValidationConfig(**given(workers=workers, scheduler=scheduler, filter=filter_threshold))
    summary = run_validate(store, config, run_dir=run, filter_out=out, write=not no_write)
    if json_out:
        print(json.dumps(summary, indent=2))
    else:
        typer.echo(format_validation(summary))
