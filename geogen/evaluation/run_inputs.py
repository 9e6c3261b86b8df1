"""What evaluation reads from a training run directory.

Training writes the run's splits (:attr:`geogen.run.RunDir.splits`) with the paths of its two
stores and the train / validation / test indices of each; the workflow writes the generated
pairs beside them.  Evaluation only ever tests on the run's held-out real
pairs (``pairs.test``), so no number it reports was seen in training.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geogen.errors import InputError
from geogen.run.rundir import RunDir

PathLike = str | os.PathLike[str]


def _resolve(recorded: str, run_dir: Path) -> Path:
    """A store path as recorded at training time: absolute, relative to here, or to the run."""
    p = Path(recorded)
    for candidate in (p, run_dir / p, run_dir.parent / p):
        if candidate.exists():
            return candidate
    return p


@dataclass(frozen=True)
class RunInputs:
    """The stores and splits of one run."""

    run_dir: Path
    velocity_store: Path
    pairs_store: Path
    splits: dict[str, Any]

    @classmethod
    def locate(cls, run_dir: PathLike) -> "RunInputs":
        run = Path(run_dir)
        if not run.is_dir():
            raise InputError("no such run directory; train first (geogen train WORKFLOW.yaml)", path=run)
        path = RunDir(run).splits
        if not path.is_file():
            raise InputError("has no splits.json; it is not a finished geogen training run", path=run)
        try:
            splits = json.loads(path.read_text())
            vstore, pstore = splits["velocity_store"], splits["pairs_store"]
            splits["pairs"]["test"], splits["velocity"]["train"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"is not a geogen splits file ({exc.__class__.__name__}: {exc})", path=path) from None
        inputs = cls(run, _resolve(vstore, run), _resolve(pstore, run), splits)
        for p in (inputs.velocity_store, inputs.pairs_store):
            if not p.exists():
                raise InputError(f"the run's store {p} is gone; restore it or retrain", path=path)
        return inputs

    def part(self, store: str, name: str) -> np.ndarray:
        """Indices of one split (``store``: velocity or pairs; ``name``: train, validation, test)."""
        return np.asarray(self.splits[store].get(name, []), dtype=np.int64)

    @property
    def test_pairs(self) -> np.ndarray:
        return self.part("pairs", "test")

    def velocity_outside_pairs_test(self) -> np.ndarray:
        """Velocity-store indices that are not the map of any held-out test pair."""
        held = {int(self.splits.get("pair_to_velocity", {}).get(str(p), -1)) for p in self.test_pairs}
        every = np.arange(int(self.splits.get("n_velocity", 0)))
        if every.size == 0:
            every = np.concatenate([self.part("velocity", k) for k in ("train", "validation", "test")])
        return np.asarray([i for i in every if int(i) not in held], dtype=np.int64)


def load_model(run_dir: PathLike, device: str | None = None) -> Any:
    """The run's trained UB-Diff (latest finished checkpoint)."""
    from geogen.models.ubdiff import UBDiff

    return UBDiff.load(run_dir, device=device)
