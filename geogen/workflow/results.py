"""What each workflow stage records: typed results with a JSON form.

A stage returns one of these; the runner stores its JSON form (``to_json``) in the stage's
marker (``stages/NAME.json``, see :class:`geogen.run.rundir.StageMarker`) and rebuilds it with
:func:`result_of` when a rerun skips the stage.  Extra keys are kept, so markers written by an
older geogen still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from geogen.evaluation.results import ArmResult, Comparison


class StageResult(BaseModel):
    """The outputs of one stage (paths as strings, as recorded)."""

    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class SynthResult(StageResult):
    velocity_store: str
    pairs_store: str


class IngestResult(StageResult):
    stores: dict[str, str] = Field(default_factory=dict, description="YAML path of a source -> its ingested store")


class WindowsResult(StageResult):
    pairs_store: str
    windows: dict[str, Any] = Field(default_factory=dict, description="the window report (and the block split)")

    @property
    def held_out_extents_m(self) -> list[tuple[float, float]]:
        """Extents along the line of the validation and test windows of a block split."""
        return [tuple(e) for e in self.windows.get("blocks", {}).get("held_out_extents_m", [])]


class WellsResult(StageResult):
    velocity_store: str
    n: int
    windows_per_well: Any = None
    excluded_wells: list[str] = Field(default_factory=list)
    top: Any = None


class AssembleResult(StageResult):
    velocity_store: str
    pairs_store: str
    n_velocity: int
    n_pairs: int
    acquisition: str = Field(description="the acquisition, as JSON")


class TrainResult(StageResult):
    checkpoints: list[str] = Field(default_factory=list, description="checkpoint files, relative to the run")


class GenerateResult(StageResult):
    store: str
    n: int


class ValidateResult(StageResult):
    summary: dict[str, Any]
    report: str = Field(description="the full report, relative to the run")
    filtered_store: str | None = None


class ExportResult(StageResult):
    files: dict[str, str] = Field(default_factory=dict, description="format -> exported file or folder")
    x_origin_m: float = 0.0


class EvaluateResult(StageResult):
    report: str
    markdown: str
    test_pairs: int
    selection: Any = None
    seeds: Any = Field(description="the seeds each arm was trained with")
    steps: int
    arms: dict[str, ArmResult] = Field(default_factory=dict, description="per arm: figures without per-seed lists")
    comparisons: dict[str, Comparison] | None = None
    distribution: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """As every result, but arms and comparisons keep their own JSON form (a figure measured as None stays)."""
        out = super().to_json()
        out["arms"] = {key: arm.to_json() for key, arm in self.arms.items()}
        if self.comparisons is not None:
            out["comparisons"] = {name: c.to_json() for name, c in self.comparisons.items()}
        return out


class ReportResult(StageResult):
    summary: str


RESULTS: dict[str, type[StageResult]] = {
    "synth": SynthResult, "ingest": IngestResult, "windows": WindowsResult, "wells": WellsResult,
    "assemble": AssembleResult, "train": TrainResult, "generate": GenerateResult, "validate": ValidateResult,
    "export": ExportResult, "evaluate": EvaluateResult, "report": ReportResult,
}


def result_of(stage: str, outputs: dict[str, Any]) -> StageResult:
    """A stage's result from its marker's JSON."""
    return RESULTS[stage].model_validate(outputs)
