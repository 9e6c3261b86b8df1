"""``geogen train WORKFLOW.yaml [--set key.path=value ...] [--force]``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import option


class _StageLines(logging.Handler):
    """Stage progress as plain lines on stderr, so stdout keeps only the run directory."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"geogen: {record.getMessage()}", file=sys.stderr, flush=True)


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

    loggers = [logging.getLogger(name) for name in ("geogen.workflow", "geogen.training")]
    handler = _StageLines()
    if not quiet:
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
    try:
        run_dir = Workflow.from_yaml(workflow, overrides=set_).run(force=force, until=until)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    typer.echo(str(run_dir))
