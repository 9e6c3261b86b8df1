"""What several commands share: their common options, declared once, and the step from given options to a
configuration.

``--out``, ``--json``, ``--workers`` and ``--scheduler`` mean the same in every command that has them; a
command passes its own help text where the option does something particular there.  Options that have a
default in a configuration model (or a function's signature) default to ``None`` here: not given, so that
default holds (:func:`given`).
"""

from __future__ import annotations

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
