"""The workflow file, as pydantic models: one section per stage of ``geogen train``.

A workflow says where the data is (stores, files to ingest, a recorded line, or
parameters to synthesise it), the acquisition, the model, each training step, and
what to generate, validate, export and evaluate.  Every model forbids unknown keys, so that a
typo is reported with its YAML path before any work starts.  The model and training
sections are geogen.models.config's and geogen.training.config's own models, not copies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model, model_validator

from geogen.acquisition import PRESETS, Acquisition
from geogen.evaluation.config import EvaluationConfig as InversionNetArms
from geogen.evaluation.config import ValidationConfig as PhysicsCheck
from geogen.generation import SamplingConfig
from geogen.models.config import ModelConfig, StrictConfig
from geogen.training.config import SplitConfig, TrainingConfig

#: A data source: one path (a geogen store used as it is, or a file that is ingested),
#: or a list of files ingested together into one store (OpenFWI model*.npy + data*.npy).
Source = str | list[str]


class SynthConfig(StrictConfig):
    """Synthesise an unbalanced set with Devito: many velocity maps, few modelled pairs."""

    family: Literal["flat", "curve", "flatfault", "curvefault"] = Field(
        "curvefault", description="velocity-map family")
    n_velocity: int = Field(2000, gt=0, description="velocity maps (unpaired) to draw")
    n_paired: int = Field(200, gt=0, description="maps to model with Devito into pairs")
    seed: int = Field(0, description="seed of the velocity maps")
    workers: int = Field(1, gt=0, description="processes that run Devito in parallel")

    @model_validator(mode="after")
    def _pairs_are_some_maps(self) -> "SynthConfig":
        if self.n_paired > self.n_velocity:
            raise ValueError(f"n_paired ({self.n_paired}) must not exceed n_velocity ({self.n_velocity}): "
                             "the pairs are the first maps, modelled")
        return self


class FieldConfig(StrictConfig):
    """A recorded 2-D line cut into windows; each window with enough live traces is one pair.

    The windows' velocity patches also join the velocity maps of steps 1 and 3, so that
    the encoder and the diffusion prior see the line's own geology.
    """

    survey: str = Field(description="shot gathers of the line: a survey store or a SEG-Y file to ingest")
    velocity: str = Field(description="velocity section of the same line: a velocity store or a SEG-Y file")
    stride_m: float | None = Field(None, gt=0, description="window step along the line, m (default: the window width)")
    min_live_fraction: float = Field(0.8, gt=0, le=1, description="skip windows with fewer live traces than this")
    split: Literal["blocks", "random"] = Field(
        "blocks", description="blocks: the line's windows are split in blocks along the line and training windows "
        "that overlap a held-out window are dropped (no test or validation window shares ground with training); "
        "random: windows drawn at random like any pairs (overlapping windows leak)")
    blocks: int = Field(5, ge=2, description="blocks the line is cut into for split: blocks (data.splits fractions "
                                             "of them, at least one each, are held out)")


class WellsConfig(StrictConfig):
    """Velocity maps from well logs: each map is a depth window of one blocked log, spread laterally
    with the families' structures (geogen.physics.wells); its column at the well equals the log.

    Maps are windows inside the logged interval: nothing above a log's first sample is filled in.
    """

    logs: Source = Field(description="a wells store, a folder of LAS files, a LAS file or a list of LAS files")
    positions: dict[str, float] | str | None = Field(
        None, description="well positions along the line, m: a mapping NAME: X, or a CSV file (name,x); "
                          "wells on one line are interpolated between")
    curve: str | None = Field(None, description="LAS curve to read (default: the first sonic of DTCO, DTC, DT, ...)")
    n_velocity: int = Field(2000, gt=0, description="maps to make from the logs")
    families: list[Literal["flat", "curve", "flatfault", "curvefault"]] = Field(
        default_factory=lambda: ["flat", "curve", "flatfault", "curvefault"], min_length=1,
        description="lateral structures to spread the logs with")
    seed: int = Field(0, ge=0, description="seed of the maps")


class DataConfig(StrictConfig):
    """Where the velocity maps and the pairs come from; all sources are combined."""

    synth: SynthConfig | None = Field(None, description="synthesise velocity maps and pairs with Devito")
    velocity: list[Source] = Field(
        default_factory=list,
        description="velocity maps: velocity stores, or files to ingest (relative paths: from the current directory)")
    paired: list[Source] = Field(
        default_factory=list, description="paired samples: pairs stores, or files to ingest (OpenFWI model + data .npy)"
    )
    field: FieldConfig | None = Field(None, description="a recorded line to cut into pairs")
    wells: WellsConfig | None = Field(None, description="velocity maps made from well logs (unpaired: steps 1 and 3)")
    splits: SplitConfig = Field(default_factory=SplitConfig, description="held-out fractions, drawn once per run")

    @model_validator(mode="after")
    def _has_data(self) -> "DataConfig":
        if self.synth is None and not self.velocity and not self.paired and self.field is None and self.wells is None:
            raise ValueError("no data: give synth, velocity, wells, paired or field")
        if self.synth is None and not self.paired and self.field is None:
            raise ValueError("no paired data: give synth, paired or field (step 2 needs pairs)")
        return self


def _acquisition_overrides() -> type[BaseModel]:
    """Every Acquisition field as an optional override next to a preset name (kept in sync)."""
    fields: dict[str, Any] = {
        "preset": (Literal[tuple(sorted(PRESETS))] | None, Field(  # type: ignore[misc]
            None, description="named acquisition to start from; none: take it from the paired store")),
    }
    for name, info in Acquisition.model_fields.items():
        fields[name] = (info.annotation | None, Field(None, description=info.description))
    return create_model("AcquisitionConfig", __base__=StrictConfig, __doc__=(
        "The model's acquisition: a preset plus overrides, or (no preset) the paired store's own."), **fields)


AcquisitionConfig = _acquisition_overrides()


class GenerationConfig(SamplingConfig):
    """New pairs drawn from the trained model."""

    n: int = Field(64, gt=0, description="pairs to generate")


class ValidationConfig(PhysicsCheck):
    """Model every generated velocity map with Devito and compare with the generated record.

    The other settings are those of ``geogen validate`` (geogen.evaluation.config).
    """

    enabled: bool = Field(True, description="run the physics check")


class EvaluationConfig(InversionNetArms):
    """The downstream evaluation as a workflow stage: InversionNet arms (a), (b), (b0), (p), (c).

    Writes RUN_DIR/evaluation/ (evaluation.json, report.md, pictures).  Needs held-out
    test pairs (data.splits.test > 0); costs (arms x seeds) trainings.  The other
    settings are those of ``geogen evaluate`` (geogen.evaluation.config).
    """

    enabled: bool = Field(False, description="run the downstream evaluation after the other stages")


class ExportConfig(StrictConfig):
    """Formats to write the generated (or filtered) pairs in, under RUN_DIR/export/."""

    formats: list[Literal["segy", "netcdf", "zarr"]] = Field(default_factory=lambda: ["segy"])
    source: Literal["generated", "filtered"] = Field(
        "generated", description="which store to export (filtered needs validation.filter)")
    x_origin_m: float | None = Field(
        None, description="x of the model grid's left edge in the exported files, m "
        "(default: 0; with data.field, the start of the line, so the files sit in the line's frame)")


class RunConfig(StrictConfig):
    """Where the run goes."""

    dir: str | None = Field(None, description="run directory (default: runs/<name>)")


class WorkflowConfig(StrictConfig):
    """A geogen workflow: data -> training (3 steps) -> generation -> validation -> export -> evaluation."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description="workflow name (default: the file's stem)")
    run: RunConfig = Field(default_factory=RunConfig)
    data: DataConfig
    acquisition: AcquisitionConfig = Field(  # type: ignore[valid-type]
        default_factory=AcquisitionConfig, description="preset + overrides, or none to read it from the paired store")
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "WorkflowConfig":
        if self.export.source == "filtered" and (self.validation.filter is None or not self.validation.enabled):
            raise ValueError("export.source: 'filtered' needs validation.enabled and validation.filter")
        if self.evaluation.enabled and self.data.splits.test <= 0:
            raise ValueError("evaluation.enabled: InversionNet is tested on held-out real pairs; "
                             "set data.splits.test above 0 (e.g. 0.1)")
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file (what ``geogen schema`` prints)."""
    schema = WorkflowConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "geogen workflow"
    return schema
