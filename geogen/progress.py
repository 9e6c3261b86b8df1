"""Progress reporting: a rich bar on a terminal, silence in a pipe or under ``--json``.

Library code calls :func:`track` around long loops; whether anything is drawn is
decided here once, so that the Python API stays quiet inside other people's scripts
unless they opt in with :func:`set_enabled`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_enabled: bool | None = None  # None: decide from whether stderr is a terminal


def set_enabled(flag: bool | None) -> None:
    """Force progress bars on (True), off (False) or back to automatic (None)."""
    global _enabled
    _enabled = flag


def enabled() -> bool:
    if _enabled is not None:
        return _enabled
    return sys.stderr.isatty()


def track(items: Iterable[T], *, total: int | None = None, description: str = "working") -> Iterator[T]:
    """Iterate over ``items``, drawing a progress bar on stderr when enabled."""
    if not enabled():
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total if total is not None else _len(items))
        for item in items:
            yield item
            bar.advance(task)


def _len(items: Iterable[object]) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None
