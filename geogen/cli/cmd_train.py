"""``geogen train WORKFLOW.yaml [--set key.path=value ...] [--force]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import option, progress_lines


@app.command()
def train(
    workflow: Path = typer.Argument(..., help="Workflow file (YAML), e.g. workflows/quickstart.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override a setting, KEY.PATH=VALUE (YAML value); repeatable."),
    force: bool = typer.Option(False, "--force", help="Replace a run directory that holds another workflow's run."),
    until: Optional[str] = option("Stop after this stage (synth, ingest, windows, assemble, train, generate, "
                                  "validate, export)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the run directory."),
) -> None:
    """Run a workflow: data, training (3 steps), generation, physics check, export, summary."""
    from geogen.workflow.runner import Workflow

    with progress_lines("geogen.workflow", "geogen.training", "geogen.evaluation", enabled=not quiet):
        run_dir = Workflow.from_yaml(workflow, overrides=set_).run(force=force, until=until)
    typer.echo(str(run_dir))
