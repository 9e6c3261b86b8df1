"""Settings of the physics check and of the downstream evaluation, each written once: the CLI, the workflow
and the functions all use these models.

Also the one definition of the InversionNet arms (:data:`ARMS`) and of the comparisons
reported between them (:data:`COMPARISONS`): every other module takes arm keys from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class Arm:
    """One InversionNet training set: the real training pairs plus ``extra``."""

    key: str
    label: str
    extra: str


REAL_ONLY = Arm("a", "(a) real only", "nothing")
GENERATED = Arm("b", "(b) real + generated", "the generated pairs")
DIRECT_WAVE = Arm("b0", "(b0) real + generated maps, direct-wave records",
                  "the generated velocity maps, each with its direct-wave record only "
                  "(does the record add anything?)")
PAIRED_ONLY = Arm("p", "(p) real + paired-only generator",
                  "pairs of the same UB-Diff trained without the unpaired maps (what the unpaired maps buy)")
SIMULATED = Arm("c", "(c) real + simulated (upper bound)", "Devito-modelled pairs of unpaired velocity maps")

#: The arms in the order they are trained and reported, by key.
ARMS: dict[str, Arm] = {arm.key: arm for arm in (REAL_ONLY, GENERATED, DIRECT_WAVE, PAIRED_ONLY, SIMULATED)}
ARM_KEYS: tuple[str, ...] = tuple(ARMS)
ArmKey = Literal[ARM_KEYS]  # type: ignore[valid-type]  # Literal["a", "b", "b0", "p", "c"], from ARMS
#: Comparisons reported with every evaluation: (better arm, other arm), named ``<better>_vs_<other>``.
COMPARISONS: tuple[tuple[Arm, Arm], ...] = (
    (GENERATED, REAL_ONLY), (GENERATED, DIRECT_WAVE), (GENERATED, PAIRED_ONLY), (SIMULATED, GENERATED))


def comparison_name(better: Arm, other: Arm) -> str:
    """The key of a comparison in the evaluation's JSON: ``b_vs_a``."""
    return f"{better.key}_vs_{other.key}"


class ValidationConfig(BaseModel):
    """The physics check (``geogen validate``): every pair's map modelled with Devito and compared with its record.

    The workflow's ``validation:`` section is this model plus ``enabled``.
    """

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, gt=0, description="dask worker processes that run Devito in parallel")
    scheduler: str | None = Field(None, description="address of a running dask scheduler for the modelling")
    filter: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="keep only the pairs whose physics relative L2 is at most this (geogen validate: into --out; "
                    "a workflow: filtered.zarr)")


class EvaluationConfig(BaseModel):
    """InversionNet arms trained on real pairs plus one kind of extra pairs each, tested on held-out real pairs.

    (a) real only; (b) + generated pairs; (b0) + the generated velocity maps with their
    direct-wave records only; (p) + pairs of a paired-only generator; (c) + Devito-modelled
    pairs of unpaired maps.  Each arm trains ``seeds`` times; with validation pairs each
    network keeps its weights of lowest validation MAE, else its last.
    """

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(600, gt=0, description="InversionNet optimiser steps per arm and seed")
    batch_size: int = Field(32, gt=0, description="InversionNet batch size")
    width: int = Field(8, gt=0, description="InversionNet base width (OpenFWI: 32)")
    lr: float = Field(1e-4, gt=0, description="InversionNet AdamW learning rate (OpenFWI: 1e-4)")
    weight_decay: float = Field(1e-4, ge=0, description="InversionNet AdamW weight decay (OpenFWI: 1e-4)")
    ema_decay: float = Field(
        0.995, ge=0, lt=1,
        description="check and keep an exponential moving average of InversionNet's weights with this decay "
                    "(0: the trained weights themselves)")
    bn_statistics: Literal["batches", "real"] = Field(
        "real", description="BatchNorm statistics of the checked network: 'real' measures them on the real "
                            "training records, 'batches' keeps the running averages of the training batches")
    seed: int = Field(0, description="first seed of InversionNet's initialisation and batch order")
    seeds: int = Field(1, gt=0, description="seeds per arm; figures are the mean and sample std over seeds")
    eval_every: int | None = Field(None, gt=0, description="steps between validation-MAE checks (default: steps / 20)")
    n_extra: int | None = Field(
        None, gt=0, description="extra pairs added in (b), (b0), (p) and (c) (default: all generated pairs)")
    arms: list[ArmKey] = Field(
        default_factory=lambda: list(ARM_KEYS),
        min_length=1,
        description=f"arms to train: {', '.join(ARM_KEYS)} (({REAL_ONLY.key}) is always trained: "
                    "the gains refer to it)",
    )
    paired_only: str | None = Field(
        None, description="(p): a run trained with training.velocity_maps: paired (its pairs are generated here, "
                          "as many and with the sampler of the generated store), or a pairs store it generated")
    threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present")
    workers: int = Field(1, gt=0, description="dask worker processes for the Devito modelling of (b0) and (c)")
    scheduler: str | None = Field(None, description="address of a running dask scheduler for that modelling")
    distribution: bool = Field(True, description="also measure the Fréchet feature distance and precision/recall")
    feature_epochs: int = Field(40, gt=0, description="epochs of each feature autoencoder (distribution figures)")
    pictures: bool = Field(True, description="draw the report's pictures")

    @model_validator(mode="after")
    def _consistent(self) -> "EvaluationConfig":
        if self.eval_every is not None and self.eval_every > self.steps:
            raise ValueError(f"eval_every ({self.eval_every}) must not exceed steps ({self.steps})")
        if REAL_ONLY.key not in self.arms:
            self.arms = [REAL_ONLY.key, *self.arms]
        self.arms = [k for k in ARM_KEYS if k in self.arms]  # one order, no repeats
        return self

    @property
    def scored_network(self) -> str:
        """Which network a check measures and the arm is scored with, in words (the report's and the JSON's)."""
        weights = f"moving average of the weights (decay {self.ema_decay:g})" if self.ema_decay > 0 else \
            "the trained weights"
        statistics = "BatchNorm statistics of the real training records" if self.bn_statistics == "real" else \
            "BatchNorm running averages of the training batches"
        return f"{weights}, {statistics}"

    @property
    def check_every(self) -> int:
        """Steps between validation checks: ``eval_every`` or a twentieth of the steps."""
        return self.eval_every if self.eval_every is not None else max(1, self.steps // 20)
