"""Atomic writes: build beside the target, then rename into place.

Everything geogen writes (stores, checkpoints, JSON reports, figures, markers) goes through
here: the new content is written to a hidden sibling on the same file system and moved onto
the target with :func:`os.replace` only when complete, so an interrupted or failed write
leaves the previous target (or none) and no half file.  A staging sibling is named
``.NAME.partial-PID-XXXXXXXX``; one left by a process that was killed outright (its PID no
longer runs on this machine) is removed by the next :func:`atomic_path` of the same target.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from geogen.errors import InputError

PathLike = str | os.PathLike[str]


def temporary_sibling(target: Path) -> Path:
    """A hidden path next to ``target`` on the same file system (so the rename is atomic), named with this
    process's PID."""
    return target.parent / f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stale_siblings(target: Path) -> list[Path]:
    """Staging siblings of ``target`` whose writer no longer runs (killed mid-write); a sibling of a running
    process (another write of the same target) is left alone."""
    if not target.parent.is_dir():
        return []
    stale = []
    for path in target.parent.glob(f".{target.name}.partial-*"):
        pid = path.name.rsplit(".partial-", 1)[1].split("-")[0]
        if not (pid.isdigit() and _running(int(pid))):
            stale.append(path)
    return sorted(stale)


def remove(path: Path) -> None:
    """Remove a file or a folder; nothing if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def swap_into_place(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target``; an existing target is swapped out first, then removed."""
    if target.exists():
        old = temporary_sibling(target)
        os.replace(target, old)
        try:
            os.replace(source, target)
        except BaseException:
            os.replace(old, target)
            raise
        remove(old)
    else:
        os.replace(source, target)


@contextlib.contextmanager
def atomic_path(target: PathLike, *, overwrite: bool = True,
                finish: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path to build ``target`` in (a file or a folder); move it into place on success.

    On any exception the temporary is removed and ``target`` is left as it was.  With
    ``overwrite=False`` an existing target is an :class:`InputError` before any work.
    ``finish(tmp)`` runs on the complete temporary just before the rename (e.g. consolidating
    a Zarr store).  Staging siblings of earlier, killed writes of the same target are removed.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise InputError("already exists; remove it or pass --overwrite", path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_siblings(target):
        remove(stale)
    tmp = temporary_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to {tmp}")
        if finish is not None:
            finish(tmp)
        swap_into_place(tmp, target)
    finally:
        remove(tmp)


def atomic_write(target: PathLike, data: bytes | str, *, sync: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``target`` atomically; ``sync`` flushes it to disk before the rename."""
    target = Path(target)
    raw = data.encode() if isinstance(data, str) else data
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        fh.write(raw)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())
    return target


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, paths, tuples, dataclasses and pydantic models
    converted; mappings and sequences converted item by item; anything else as its string."""
    import dataclasses

    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return jsonable(value.tolist())
    return str(value)


def atomic_write_json(target: PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """``obj`` (see :func:`jsonable`) as JSON in ``target``, atomically."""
    return atomic_write(target, json.dumps(jsonable(obj), indent=indent) + "\n")
