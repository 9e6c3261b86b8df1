"""The typer application that every ``cmd_*`` module adds its command to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="geogen",
    help="Unbalanced paired seismic data generation (UB-Diff) with Devito physics checks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show a full traceback on errors."),
) -> None:
    """geogen: ingest, synthesise, train, generate, validate and export seismic pairs."""
