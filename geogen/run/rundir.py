"""Every path in a run directory, and the stage markers.

A run directory (made by ``geogen train`` or :func:`geogen.training.train`) holds::

    workflow.yaml, workflow.json   the resolved workflow and its hashes (workflow runs)
    stages/NAME.json               one marker per finished workflow stage (StageMarker)
    config.json                    model settings, the two stores and the acquisition (training)
    splits.json                    train/validation/test indices of both stores (drawn once)
    normalization.json             the OpenFWI bounds of the training split
    latents.npz                    co-latents of the velocity splits (the diffusion's data)
    checkpoints/STEP.pt            step1, step2, diffusion (geogen.run.checkpoint)
    metrics.jsonl                  one line per epoch or diffusion evaluation
    data/                          what the workflow's data stages write
    generated.zarr, filtered.zarr  generated pairs, and those that passed the physics filter
    validation.json                the physics check
    plots/, export/                figures; exported files
    evaluation/                    evaluation.json, report.md, figures, feature spaces,
                                   fits/ (each InversionNet training's figures, by input hash)
    summary.json, summary.md       the run's summary

:class:`RunDir` is the only place these names are spelled.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geogen.errors import InputError
from geogen.run.atomic import atomic_write_json

PathLike = str | os.PathLike[str]

#: The training steps, in order; the last finished one is the model a run directory stands for.
TRAINING_STEPS = ("step1", "step2", "diffusion")


@dataclass(frozen=True)
class StageMarker:
    """What a finished workflow stage leaves in ``stages/NAME.json``: the hash of the settings it depended on,
    how long it took, when it finished, and its outputs (JSON)."""

    stage: str
    hash: str
    seconds: float
    outputs: dict[str, Any]
    finished: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageMarker:
        return cls(stage=str(data.get("stage", "")), hash=str(data.get("hash", "")),
                   seconds=float(data.get("seconds", 0.0)), outputs=dict(data.get("outputs") or {}),
                   finished=str(data.get("finished", "")))


class RunDir:
    """A run directory and every path in it (nothing is created until something is written)."""

    def __init__(self, root: PathLike | RunDir) -> None:
        self.root = root.root if isinstance(root, RunDir) else Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def relative(self, path: PathLike) -> str:
        """``path`` relative to the run directory (as recorded in markers and summaries)."""
        return str(Path(path).relative_to(self.root))

    # ------------------------------------------------------------------ training
    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def normalization(self) -> Path:
        return self.root / "normalization.json"

    @property
    def latents(self) -> Path:
        return self.root / "latents.npz"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, step: str) -> Path:
        """``checkpoints/STEP.pt`` of a training step (step1, step2, diffusion)."""
        if step not in TRAINING_STEPS:
            raise ValueError(f"unknown training step {step!r}")
        return self.checkpoints / f"{step}.pt"

    def checkpoint_files(self) -> list[Path]:
        return sorted(self.checkpoints.glob("*.pt"))

    def latest_checkpoint(self) -> Path:
        """The checkpoint of the last training step that wrote one (diffusion, else step2, else step1)."""
        for step in reversed(TRAINING_STEPS):
            if self.checkpoint(step).is_file():
                return self.checkpoint(step)
        names = ",".join(TRAINING_STEPS[::-1])
        raise InputError(f"holds no checkpoints/{{{names}}}.pt; train first", path=self.root)

    def is_training_run(self) -> bool:
        return self.splits.is_file()

    def read_splits(self) -> dict[str, Any]:
        return json.loads(self.splits.read_text())

    def append_metrics(self, row: dict[str, Any]) -> None:
        """One line of ``metrics.jsonl`` (appended: a line is small and written whole)."""
        with open(self.metrics, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl`` (a damaged line is skipped)."""
        rows = []
        if self.metrics.exists():
            for line in self.metrics.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return rows

    # ---------------------------------------------------------------- workflow
    @property
    def workflow_yaml(self) -> Path:
        return self.root / "workflow.yaml"

    @property
    def workflow_json(self) -> Path:
        return self.root / "workflow.json"

    @property
    def stages(self) -> Path:
        return self.root / "stages"

    def marker(self, stage: str) -> Path:
        return self.stages / f"{stage}.json"

    def read_marker(self, stage: str) -> StageMarker | None:
        """The stage's marker, or None when it is missing or damaged (the stage then runs again)."""
        try:
            data = json.loads(self.marker(stage).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return StageMarker.from_json(data) if isinstance(data, dict) else None

    def write_marker(self, marker: StageMarker) -> None:
        """Written atomically, after the stage's outputs."""
        atomic_write_json(self.marker(marker.stage), marker.to_json())

    def clear_marker(self, stage: str) -> None:
        self.marker(stage).unlink(missing_ok=True)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def synth(self) -> Path:
        return self.data / "synth"

    def ingested(self, yaml_path: str) -> Path:
        """The store that a workflow source (by its YAML path, e.g. ``data.paired[0]``) is ingested to."""
        return self.data / "ingested" / (yaml_path.replace(".", "_").replace("[", "_").replace("]", "") + ".zarr")

    @property
    def field_pairs(self) -> Path:
        return self.data / "field_pairs.zarr"

    @property
    def windows_report(self) -> Path:
        return self.data / "windows.json"

    @property
    def well_maps(self) -> Path:
        return self.data / "well_maps.zarr"

    @property
    def velocity_store(self) -> Path:
        """The velocity store the workflow assembles for training (when it has to concatenate sources)."""
        return self.data / "velocity.zarr"

    @property
    def pairs_store(self) -> Path:
        return self.data / "pairs.zarr"

    # -------------------------------------------------- generation and checks
    @property
    def generated(self) -> Path:
        return self.root / "generated.zarr"

    @property
    def filtered(self) -> Path:
        return self.root / "filtered.zarr"

    def pairs(self, source: str) -> Path:
        """The generated (``generated``) or the physics-filtered (``filtered``) pairs."""
        return {"generated": self.generated, "filtered": self.filtered}[source]

    @property
    def validation(self) -> Path:
        return self.root / "validation.json"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def training_curves_plot(self) -> Path:
        return self.plots / "training_curves.png"

    @property
    def physics_histogram_plot(self) -> Path:
        return self.plots / "physics_rel_l2.png"

    @property
    def pairs_sheet_plot(self) -> Path:
        return self.plots / "generated_pairs.png"

    def export(self, name: str) -> Path:
        return self.root / "export" / name

    # -------------------------------------------------------------- evaluation
    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def evaluation_json(self) -> Path:
        return self.evaluation / "evaluation.json"

    @property
    def evaluation_report(self) -> Path:
        return self.evaluation / "report.md"

    #: the extra pairs an arm computes once and keeps (arm -> store in evaluation/)
    EVALUATION_CACHES = {"b0": "direct_wave_extra.zarr", "p": "paired_only_generated.zarr",
                         "c": "simulated_extra.zarr"}
    #: the evaluation's figures (name -> file in evaluation/)
    EVALUATION_FIGURES = {"pairs_sheet": "generated_pairs.png", "physics_errors": "physics_errors.png",
                          "training_curves": "training_curves.png", "inversionnet_curves": "inversionnet_training.png"}

    def evaluation_cache(self, arm: str) -> Path:
        """The store of extra pairs that arm ``arm`` (b0, p, c) computed."""
        return self.evaluation / self.EVALUATION_CACHES[arm]

    def evaluation_figure(self, name: str) -> Path:
        return self.evaluation / self.EVALUATION_FIGURES[name]

    def evaluation_fit(self, key: str) -> Path:
        """One InversionNet training's figures, kept under the hash of everything it depends on."""
        return self.evaluation / "fits" / f"{key}.json"

    def evaluation_features(self, modality: str) -> Path:
        """The feature space (a small autoencoder) of ``velocity`` or ``seismic`` for the distribution figures."""
        return self.evaluation / f"features_{modality}.pt"

    # ----------------------------------------------------------------- summary
    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def summary_md(self) -> Path:
        return self.root / "summary.md"
