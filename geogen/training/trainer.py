"""``train()``: the three UB-Diff steps into one run directory, resumable.

What the run directory holds (config, splits, normalisation, latents, checkpoints, metrics) is
listed in :mod:`geogen.run.rundir`.  A finished step is skipped; an unfinished one resumes from
its last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geogen.data.loader import ChunkStream, scan_ranges
from geogen.data.normalize import Normalizer
from geogen.errors import InputError
from geogen.models.config import upgrade_model_config
from geogen.run.atomic import atomic_write_json
from geogen.run.checkpoint import RunMeta, load_checkpoint
from geogen.run.rundir import TRAINING_STEPS, RunDir
from geogen.training.config import ModelConfig, SplitConfig, Step1Config, TrainingConfig
from geogen.training.context import DeviceContext, make_context
from geogen.training.inputs import TrainingInputs, check_inputs
from geogen.training.splits import load_or_make_splits

if TYPE_CHECKING:
    import torch

def _check_config(run: RunDir, model: ModelConfig, inputs: TrainingInputs, ctx: DeviceContext) -> None:
    """A run directory belongs to one model design: refuse to resume it with another."""
    path = run.config
    if path.is_file():
        saved = json.loads(path.read_text())
        current = model.model_dump()
        if {**current, **upgrade_model_config(saved.get("model") or {})} != current:
            raise InputError("was trained with another model configuration; use a new run directory "
                             "or the same model settings", path=path)
        return
    if ctx.is_main:
        atomic_write_json(path, {"model": model.model_dump(), "velocity_store": str(inputs.velocity_store),
                                 "pairs_store": str(inputs.pairs_store),
                                 "acquisition": json.loads(inputs.acquisition.to_json())}, indent=1)


@dataclass(frozen=True)
class VelocitySource:
    """Where steps 1 and 3 read their maps: the velocity store (UB-Diff), or the pairs' maps alone (paired-only)."""

    store: Path
    train: list[int]
    validation: list[int]

    @classmethod
    def of(cls, inputs: TrainingInputs, splits: dict[str, Any], which: str) -> "VelocitySource":
        part = splits["pairs"] if which == "paired" else splits["velocity"]
        store = inputs.pairs_store if which == "paired" else inputs.velocity_store
        return cls(store, list(part["train"]), list(part["validation"]))


def _step1_budget(cfg: Step1Config, source: VelocitySource, splits: dict[str, Any]) -> Step1Config:
    """Paired-only step 1 keeps UB-Diff's number of optimiser steps: the epochs scaled by all maps / paired maps."""
    n_all = len(splits["velocity"]["train"])
    if len(source.train) >= n_all:
        return cfg
    return cfg.model_copy(update={"epochs": int(math.ceil(cfg.epochs * n_all / max(1, len(source.train))))})


def _normalization(run: RunDir, inputs: TrainingInputs, splits: dict[str, Any], source: VelocitySource,
                   ctx: DeviceContext) -> Normalizer:
    path = run.normalization
    if not path.is_file():
        if ctx.is_main:
            v = scan_ranges(source.store, "velocity", np.asarray(source.train))
            s = scan_ranges(inputs.pairs_store, "seismic", np.asarray(splits["pairs"]["train"]))
            atomic_write_json(path, Normalizer.from_ranges(v, s).to_dict(), indent=1)
        ctx.barrier()
    return Normalizer.from_dict(json.loads(path.read_text()))


def _stream(store: Path, names: Sequence[str], indices: Sequence[int], norm: Normalizer, *, shuffle: bool,
            seed: int, shard: bool = True) -> ChunkStream | None:
    if len(indices) == 0:
        return None
    tf = {"velocity": norm.velocity, "seismic": norm.seismic}
    return ChunkStream(store, names, indices, transforms=[tf[n] for n in names], shuffle=shuffle, seed=seed,
                       shard=shard)


def mean_record(stream: ChunkStream) -> torch.Tensor:
    """The mean normalised record over a stream, accumulated in float64 one sample at a time."""
    import torch

    total, count = None, 0
    for _, record in stream:
        if not bool(torch.isfinite(record).all()):
            continue  # the training loop stops at this sample with its step and index
        total = record.double() if total is None else total + record.double()
        count += 1
    if total is None:
        raise InputError("no paired training record is finite; check the pairs store")
    return (total / count).float()


def train(
    velocity_store: str | os.PathLike[str],
    pairs_store: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    model: ModelConfig | None = None,
    training: TrainingConfig | None = None,
    splits: SplitConfig | None = None,
    stages: Sequence[str] = TRAINING_STEPS,
) -> Path:
    """Train UB-Diff (step 1, step 2, diffusion) into ``run_dir``; skip finished stages, resume the rest."""
    import torch

    from geogen.models.ubdiff import UBDiffNet
    from geogen.training.loops import cached_latents, run_diffusion, run_supervised, step1_stage, step2_stage

    model = model or ModelConfig()
    training = training or TrainingConfig()
    splits_cfg = splits or SplitConfig()
    unknown = [s for s in stages if s not in TRAINING_STEPS]
    if unknown:
        raise InputError(f"unknown stage(s) {unknown}; choose from {list(TRAINING_STEPS)}")
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    inputs = check_inputs(velocity_store, pairs_store)
    ctx = make_context(training)
    if ctx.is_main:
        run.checkpoints.mkdir(parents=True, exist_ok=True)
    _check_config(run, model, inputs, ctx)
    if ctx.is_main:
        load_or_make_splits(run_dir, inputs.velocity_store, inputs.pairs_store, splits_cfg,
                            inputs.n_velocity, inputs.n_pairs)
    ctx.barrier()
    split = run.read_splits()
    source = VelocitySource.of(inputs, split, training.velocity_maps)
    norm = _normalization(run, inputs, split, source, ctx)
    torch.manual_seed(training.seed)
    net = UBDiffNet(model, inputs.acquisition).to(ctx.device)
    net.set_normalization(norm)
    meta = RunMeta(model_config=model.model_dump(), training_config=training.model_dump(),
                   acquisition=inputs.acquisition.to_json(), normalization=norm.to_dict())
    vtrain, vval = source.train, source.validation
    ptrain, pval = split["pairs"]["train"], split["pairs"]["validation"]
    seed = training.seed
    paths = {s: run.checkpoint(s) for s in TRAINING_STEPS}

    def need(prev: str, stage: str) -> None:
        state = load_checkpoint(paths[prev]) if paths[prev].exists() else None
        if state is None or not state.finished:
            raise InputError(f"stage {stage} needs a finished {prev}; run it first (stages={list(TRAINING_STEPS)})",
                             path=paths[prev])
        net.load_state_dict(state.best_net)

    if "step1" in stages:
        stage = step1_stage(net, _step1_budget(training.step1, source, split),
                            _stream(source.store, ("velocity",), vtrain, norm, shuffle=True, seed=seed),
                            _stream(source.store, ("velocity",), vval, norm, shuffle=False, seed=seed),
                            paths["step1"], ctx, meta)
        run_supervised(stage, net, run, ctx, source.store)
    if "step2" in stages:
        if not paths["step2"].exists():
            need("step1", "step2")
        pair_names = ("velocity", "seismic")
        if not paths["step2"].exists():
            mean = mean_record(_stream(inputs.pairs_store, ("seismic",), ptrain, norm, shuffle=False, seed=seed,
                                       shard=False))
            net.start_seismic_decoder(mean.to(ctx.device))
        stage = step2_stage(net, training.step2,
                            _stream(inputs.pairs_store, pair_names, ptrain, norm, shuffle=True, seed=seed + 1),
                            _stream(inputs.pairs_store, pair_names, pval, norm, shuffle=False, seed=seed + 1),
                            paths["step2"], ctx, meta, normalizer=norm)
        with net.prior_cache(enabled=training.step2.freeze):
            run_supervised(stage, net, run, ctx, inputs.pairs_store)
    if "diffusion" in stages:
        if not paths["diffusion"].exists() or "step2" not in stages:
            need("step2", "diffusion")
        for p in net.parameters():
            p.requires_grad_(False)
        # Rank 0 encodes every map (no sharding); the others read the cache it writes.
        streams = {"train": _stream(source.store, ("velocity",), vtrain, norm, shuffle=False, seed=seed, shard=False),
                   "validation": _stream(source.store, ("velocity",), vval, norm, shuffle=False, seed=seed,
                                         shard=False)}
        latents = cached_latents(run, net, streams, training.step1.batch_size, ctx)
        run_diffusion(net, model, training.diffusion, latents, run, paths["diffusion"], ctx, meta, seed)
    return run_dir
