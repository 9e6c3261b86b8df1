"""Configuration of the model and of each training step (pydantic, shared with the workflow schema).

The workflow file's ``model`` and ``training`` sections are exactly these models, so
that a typo in YAML is caught with its path before anything runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from geogen.models.config import ModelConfig, StrictConfig

__all__ = ["DiffusionConfig", "ModelConfig", "SplitConfig", "Step1Config", "Step2Config", "StepConfig",
           "TrainingConfig"]


class StepConfig(StrictConfig):
    """Common settings of one training step."""

    epochs: int = Field(10, gt=0, description="passes over the step's training set")
    batch_size: int = Field(32, gt=0)
    lr: float = Field(1e-3, gt=0, description="Adam(W) learning rate")
    weight_decay: float = Field(0.0, ge=0)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    steps_per_epoch: int | None = Field(
        None, gt=0, description="cap on optimiser steps per epoch (None: the whole split)"
    )
    lr_schedule: Literal["cosine", "constant"] = Field(
        "cosine",
        description="cosine: linear warm-up, then cosine decay to zero over the stage; constant: lr throughout",
    )
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of the stage's steps spent warming up (cosine)")


class Step1Config(StepConfig):
    """Encoder + velocity decoder on every velocity map (L1 + L2 on velocity)."""


class Step2Config(StepConfig):
    """Seismic decoder on the paired samples (L1 + L2 on seismic)."""

    freeze: bool = Field(True, description="keep the encoder and velocity decoder frozen (the paper's flag F)")
    prior_map: Literal["decoded", "own"] = Field(
        "decoded", description="the map whose physics the residual is learnt on top of (layered prior, frozen "
                               "velocity side): decoded: the autoencoder's map, as at generation; own: the pair's "
                               "own map, so the residual learns what physics misses of the map that made the record")
    physical_weight: float = Field(
        0.0, ge=0, description="weight of an extra loss term: squared error relative to the record's energy, "
                               "in physical units (0.3 helped the decoder alone, 0.12 -> 0.10, but not the whole "
                               "quickstart pipeline, and costs ~25 % more step-2 time; off by default)")

    @model_validator(mode="after")
    def _own_map_needs_a_frozen_velocity_side(self) -> "Step2Config":
        if self.prior_map == "own" and not self.freeze:
            raise ValueError("prior_map: own needs freeze: true (an unfrozen step 2 trains through the decoded map)")
        return self


class DiffusionConfig(StrictConfig):
    """Step 3: latent diffusion on the co-latents of every velocity map."""

    timesteps: int = Field(256, gt=1, description="T of the cosine schedule")
    objective: Literal["v", "eps"] = Field("v", description="prediction target")
    steps: int = Field(20000, gt=0, description="optimiser steps")
    batch_size: int = Field(256, gt=0)
    lr: float = Field(8e-5, gt=0)
    ema_decay: float = Field(0.995, gt=0, lt=1)
    eval_every: int = Field(1000, gt=0, description="optimiser steps between validation + checkpoint")


class TrainingConfig(StrictConfig):
    """All three steps, plus the device and precision they run with."""

    step1: Step1Config = Field(default_factory=Step1Config)
    step2: Step2Config = Field(default_factory=Step2Config)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present")
    mixed_precision: bool = Field(True, description="bf16/fp16 autocast on CUDA (ignored on CPU)")
    seed: int = Field(0, description="seed of initialisation and data order")
    threads: int | Literal["auto"] | None = Field(
        None, description="torch CPU threads: a count; auto: the cores idle when training starts (at least 1; "
                          "busy cores thrash when torch takes them too); default: torch's choice")
    velocity_maps: Literal["all", "paired"] = Field(
        "all", description="maps that steps 1 and 3 learn from: all (UB-Diff) or the paired training maps alone "
                           "(the paired-only ablation; step 1 keeps its number of optimiser steps, the epochs "
                           "scaled by the ratio of map counts)")


    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value <= 0:
            raise ValueError("threads must be a positive count, auto or null")
        return value


class SplitConfig(StrictConfig):
    """Fractions of the held-out sets; drawn once per run and saved with it."""

    validation: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)
    seed: int = 0
