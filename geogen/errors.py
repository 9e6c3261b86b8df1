"""Errors that the command line turns into one line on stderr and an exit status.

Every user-facing failure is a :class:`GeogenError`.  Bad input (a broken file, a
typo in a workflow, a velocity in km/s) raises :class:`InputError`, exit status 2;
anything else that geogen detects raises :class:`GeogenError`, exit status 1.  The
message names the file, what is wrong and what to do, so that it stands alone.
"""

from __future__ import annotations

from os import PathLike


class GeogenError(Exception):
    """A failure geogen understands; the CLI prints ``error: <message>``."""

    exit_code: int = 1

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, setting: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.detail = message
        #: the setting (option or configuration key, e.g. ``n_extra``) the error concerns, where one does;
        #: the workflow runner turns it into the YAML path
        self.setting = setting
        super().__init__(f"{self.path}: {message}" if self.path else message)


class InputError(GeogenError, ValueError):
    """The user's input is wrong (file, option, configuration): exit status 2."""

    exit_code = 2


class StoreKindError(InputError):
    """A store exists but is of another ``geogen_kind`` than the caller needs."""
