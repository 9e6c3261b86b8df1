"""What several commands share: their common options, declared once, and the step from given options to a
configuration.

``--out``, ``--json``, ``--workers`` and ``--scheduler`` mean the same in every command that has them; a
command passes its own help text where the option does something particular there.  Options that have a
default in a configuration model (or a function's signature) default to ``None`` here: not given, so that
default holds (:func:`given`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer


def given(**options: Any) -> dict[str, Any]:
    """The options the user set (None: not given, so the configuration's default holds)."""
    return {k: v for k, v in options.items() if v is not None}


def option(help: str, *flags: str) -> Any:
    """An option that is ``None`` when not given, so that the default of the configuration (or the function) holds.

    Its flag is the parameter's name (``n_velocity``: ``--n-velocity``) unless ``flags`` are given.
    """
    return typer.Option(None, *flags, help=help)


def json_flag(help: str = "Print only the JSON summary on stdout.") -> Any:
    """``--json``: machine-readable output, and nothing else on stdout."""
    return typer.Option(False, "--json", help=help)


def out_option(help: str, *, required: bool = False) -> Any:
    """``--out``/``-o``: where the command writes."""
    return typer.Option(... if required else None, "--out", "-o", help=help)


def workers_option(help: str = "Dask worker processes for the Devito modelling (1: no cluster).") -> Any:
    """``--workers``: local dask worker processes."""
    return option(help, "--workers")


def scheduler_option(help: str = "Address of a running dask scheduler to use instead.") -> Any:
    """``--scheduler``: a running dask scheduler instead of local workers."""
    return option(help, "--scheduler")


class _ProgressLines(logging.Handler):
    """Log records as plain ``geogen: ...`` lines on stderr, so stdout keeps only the command's answer."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"geogen: {record.getMessage()}", file=sys.stderr, flush=True)


@contextmanager
def progress_lines(*loggers: str, enabled: bool = True) -> Iterator[None]:
    """While the block runs, the INFO records of ``loggers`` (stages, finished trainings) go to stderr as lines.

    Long commands say what they have finished, so a stopped or piped run can still be read;
    library callers stay quiet unless they configure logging themselves.
    """
    if not enabled:
        yield
        return
    handler = _ProgressLines()
    chosen = [logging.getLogger(name) for name in loggers]
    levels = [logger.level for logger in chosen]
    for logger in chosen:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(chosen, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)
