"""Settings of the downstream evaluation, written once: the CLI, the workflow and the function all use this."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ArmKey = Literal["a", "b", "b0", "p", "c"]
ARM_KEYS: tuple[str, ...] = ("a", "b", "b0", "p", "c")


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
    seed: int = Field(0, description="first seed of InversionNet's initialisation and batch order")
    seeds: int = Field(1, gt=0, description="seeds per arm; figures are the mean and sample std over seeds")
    eval_every: int | None = Field(None, gt=0, description="steps between validation-MAE checks (default: steps / 20)")
    n_extra: int | None = Field(
        None, gt=0, description="extra pairs added in (b), (b0), (p) and (c) (default: all generated pairs)")
    arms: list[ArmKey] = Field(
        default_factory=lambda: list(ARM_KEYS),
        min_length=1,
        description="arms to train: a, b, b0, p, c ((a) is always trained: the gains refer to it)",
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
        if "a" not in self.arms:
            self.arms = ["a", *self.arms]
        self.arms = [k for k in ARM_KEYS if k in self.arms]  # one order, no repeats
        return self

    @property
    def check_every(self) -> int:
        """Steps between validation checks: ``eval_every`` or a twentieth of the steps."""
        return self.eval_every if self.eval_every is not None else max(1, self.steps // 20)
