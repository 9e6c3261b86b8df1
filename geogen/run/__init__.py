"""Run artifacts: the one owner of what a run directory holds and how it is written.

* :mod:`geogen.run.atomic`: writing a file or a folder so that a crash never leaves half of it
  (:func:`atomic_path`, :func:`atomic_write`, :func:`atomic_write_json`), and :func:`jsonable`.
* :mod:`geogen.run.rundir`: :class:`RunDir`, every path in a run directory, and the stage markers.
* :mod:`geogen.run.checkpoint`: the checkpoint format (its keys, saving, loading with ``weights_only=True``).

This package sits below data, physics, models, training, evaluation and workflow, and imports
nothing from them (only :mod:`geogen.errors`); no other module spells a run directory's file names.
"""

from __future__ import annotations

from geogen.run.atomic import atomic_path, atomic_write, atomic_write_json, jsonable
from geogen.run.rundir import RunDir, StageMarker

__all__ = ["RunDir", "StageMarker", "atomic_path", "atomic_write", "atomic_write_json", "jsonable"]
