"""``train()``: the three UB-Diff stages into one run directory, resumable.

Layout of a run directory::

    run_dir/config.json          model, training and split settings of the run
    run_dir/splits.json          train/validation/test indices of both stores (drawn once)
    run_dir/normalization.json   OpenFWI bounds from the training split
    run_dir/latents.npz          co-latents of the velocity splits (step 3's data)
    run_dir/checkpoints/{step1,step2,diffusion}.pt
    run_dir/metrics.jsonl        one line per epoch (steps 1-2) or evaluation (diffusion)

A finished stage is skipped; an unfinished one resumes from its last checkpoint.
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
from geogen.data.store import atomic_path
from geogen.errors import InputError
from geogen.training.checkpoint import load_checkpoint
from geogen.training.config import ModelConfig, SplitConfig, Step1Config, TrainingConfig
from geogen.training.context import RunContext, make_context
from geogen.training.inputs import TrainingInputs, check_inputs
from geogen.training.splits import load_or_make_splits

if TYPE_CHECKING:
    import torch

STAGES = ("step1", "step2", "diffusion")


def _write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def _check_config(run_dir: Path, model: ModelConfig, inputs: TrainingInputs, ctx: RunContext) -> None:
    """A run directory belongs to one model design: refuse to resume it with another."""
    path = run_dir / "config.json"
    if path.is_file():
        from geogen.models.ubdiff import upgrade_model_config

        saved = json.loads(path.read_text())
        current = model.model_dump()
        if {**current, **upgrade_model_config(saved.get("model") or {})} != current:
            raise InputError("was trained with another model configuration; use a new run directory "
                             "or the same model settings", path=path)
        return
    if ctx.is_main:
        _write_json(
            path,
            {
                "model": model.model_dump(),
                "velocity_store": str(inputs.velocity_store),
                "pairs_store": str(inputs.pairs_store),
                "acquisition": json.loads(inputs.acquisition.to_json()),
            },
        )


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


def _normalization(run_dir: Path, inputs: TrainingInputs, splits: dict[str, Any], source: VelocitySource,
                   ctx: RunContext) -> Normalizer:
    path = run_dir / "normalization.json"
    if not path.is_file():
        if ctx.is_main:
            v = scan_ranges(source.store, "velocity", np.asarray(source.train))
            s = scan_ranges(inputs.pairs_store, "seismic", np.asarray(splits["pairs"]["train"]))
            _write_json(path, Normalizer.from_ranges(v, s).to_dict())
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
    stages: Sequence[str] = STAGES,
) -> Path:
    """Train UB-Diff (step 1, step 2, diffusion) into ``run_dir``; skip finished stages, resume the rest."""
    import torch

    from geogen.models.ubdiff import UBDiffNet
    from geogen.training.loops import cached_latents, run_diffusion, run_supervised, step1_stage, step2_stage

    model = model or ModelConfig()
    training = training or TrainingConfig()
    splits_cfg = splits or SplitConfig()
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise InputError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    run_dir = Path(run_dir)
    inputs = check_inputs(velocity_store, pairs_store)
    ctx = make_context(training)
    ckpt_dir = run_dir / "checkpoints"
    if ctx.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    _check_config(run_dir, model, inputs, ctx)
    if ctx.is_main:
        load_or_make_splits(run_dir, inputs.velocity_store, inputs.pairs_store, splits_cfg,
                            inputs.n_velocity, inputs.n_pairs)
    ctx.barrier()
    split = json.loads((run_dir / "splits.json").read_text())
    source = VelocitySource.of(inputs, split, training.velocity_maps)
    norm = _normalization(run_dir, inputs, split, source, ctx)
    torch.manual_seed(training.seed)
    net = UBDiffNet(model, inputs.acquisition).to(ctx.device)
    net.set_normalization(norm)
    meta = {"model_config": model.model_dump(), "training_config": training.model_dump(),
            "acquisition": inputs.acquisition.to_json(), "normalization": norm.to_dict()}
    vtrain, vval = source.train, source.validation
    ptrain, pval = split["pairs"]["train"], split["pairs"]["validation"]
    seed = training.seed
    paths = {s: ckpt_dir / f"{s}.pt" for s in STAGES}

    def need(prev: str, stage: str) -> None:
        state = load_checkpoint(paths[prev]) if paths[prev].exists() else None
        if state is None or not state.get("finished"):
            raise InputError(f"stage {stage} needs a finished {prev}; run it first (stages={list(STAGES)})",
                             path=paths[prev])
        net.load_state_dict(state["best_net"])

    if "step1" in stages:
        stage = step1_stage(net, _step1_budget(training.step1, source, split),
                            _stream(source.store, ("velocity",), vtrain, norm, shuffle=True, seed=seed),
                            _stream(source.store, ("velocity",), vval, norm, shuffle=False, seed=seed),
                            paths["step1"], ctx, meta)
        run_supervised(stage, net, run_dir, ctx, source.store)
    if "step2" in stages:
        if not paths["step2"].exists():
            need("step1", "step2")
        pair_names = ("velocity", "seismic")
        if not paths["step2"].exists():
            mean = mean_record(_stream(inputs.pairs_store, ("seismic",), ptrain, norm, shuffle=False, seed=seed,
                                       shard=False))
            net.start_seismic_decoder(mean.to(ctx.device))
        stage = step2_stage(net, training.step2, training.step2.freeze,
                            _stream(inputs.pairs_store, pair_names, ptrain, norm, shuffle=True, seed=seed + 1),
                            _stream(inputs.pairs_store, pair_names, pval, norm, shuffle=False, seed=seed + 1),
                            paths["step2"], ctx, meta, normalizer=norm)
        with net.prior_cache(enabled=training.step2.freeze):
            run_supervised(stage, net, run_dir, ctx, inputs.pairs_store)
    if "diffusion" in stages:
        if not paths["diffusion"].exists() or "step2" not in stages:
            need("step2", "diffusion")
        for p in net.parameters():
            p.requires_grad_(False)
        # Rank 0 encodes every map (no sharding); the others read the cache it writes.
        streams = {"train": _stream(source.store, ("velocity",), vtrain, norm, shuffle=False, seed=seed, shard=False),
                   "validation": _stream(source.store, ("velocity",), vval, norm, shuffle=False, seed=seed,
                                         shard=False)}
        latents = cached_latents(run_dir, net, streams, training.step1.batch_size, ctx)
        run_diffusion(net, model, training.diffusion, latents, run_dir, paths["diffusion"], ctx, meta, seed)
    return run_dir
