"""Command line entry point: error handling and exit status around the typer app.

Exit status 0 on success, 2 for bad input or usage, 1 for any other failure.  Errors
print as one ``error: ...`` line on stderr; ``--debug`` shows the traceback instead.
Commands live in ``geogen/cli/cmd_*.py`` modules, discovered at import time.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

import typer

try:  # typer >= 0.22 vendors its own copy of click
    from typer import _click as click  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older typer uses click itself
    import click  # type: ignore[no-redef]

from geogen.cli.app import app
from geogen.errors import GeogenError

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _module.name.startswith("cmd_"):
        importlib.import_module(f"{__name__}.{_module.name}")


def _is_validation_error(exc: BaseException) -> bool:
    """A pydantic ValidationError, without importing pydantic (slow) for commands that never load it."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


def describe_validation_error(exc: Any) -> str:
    """One line from a pydantic error: ``Acquisition.receiver_x: ...`` (see geogen.workflow.errors)."""
    from geogen.workflow.errors import describe_validation_error as describe

    return describe(exc)


def fail(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; ``argv`` defaults to ``sys.argv[1:]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="geogen", standalone_mode=False)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        fail("aborted", 1)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare command: help already shown
        raise SystemExit(2) from exc
    except click.exceptions.ClickException as exc:  # usage errors: unknown option, missing argument
        if debug:
            raise
        fail(exc.format_message(), 2)
    except GeogenError as exc:
        if debug:
            raise
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; nothing was left half written", 130)
    except Exception as exc:  # noqa: BLE001 - the contract is one line, not a traceback
        if debug:
            raise
        if _is_validation_error(exc):  # a pydantic model built from user values (e.g. an Acquisition)
            fail(describe_validation_error(exc), 2)
        fail(f"{exc.__class__.__name__}: {exc} (rerun with --debug for the traceback)", 1)
    raise SystemExit(result if isinstance(result, int) else 0)
