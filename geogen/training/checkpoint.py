"""Checkpoints: atomic writes and safe loads.

A checkpoint is written to a temporary file beside its target, flushed to disk and
moved into place with ``os.replace``: a crash or a full disk mid-write leaves the
previous checkpoint untouched.  Contents are tensors and plain Python types only
(configs as dicts, the acquisition as JSON), so they load with
``torch.load(weights_only=True)`` and loading never executes pickled code.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import torch

from geogen.errors import InputError

FORMAT = "geogen-ubdiff-1"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` to ``path`` atomically (tmp + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "wb") as fh:
            torch.save({"format": FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a bad file is one InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such checkpoint; train first (geogen train) or check the run directory", path=path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(f"cannot load as a geogen checkpoint ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
                         path=path) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(
            f"is not a geogen checkpoint (format {state.get('format') if isinstance(state, dict) else None!r})",
            path=path,
        )
    return state
