"""The three training stages of UB-Diff, each resumable from its own checkpoint.

* step 1: encoder + velocity head + velocity decoder on every training velocity map
  (L1 + L2 on the normalised velocity);
* step 2: seismic head + seismic decoder on the paired training samples (L1 + L2 on
  the normalised seismic, plus ``physical_weight`` x the squared error relative to the
  record's energy in physical units).  With ``freeze`` the encoder and velocity decoder are put
  in eval mode and get no gradient, so neither their weights nor their BatchNorm
  statistics move; without it they train too, keeping a velocity loss on the pairs
  so that the shared encoder does not forget the velocity side.  With a physics prior and
  ``prior_map: own`` (frozen only) the residual is learnt on top of the physics of the pair's
  own map, the map that made its record, rather than of the decoded map;
  both steps follow a linear warm-up then cosine decay of the learning rate
  (``lr_schedule``), a function of the step alone, so resuming repeats it exactly.
  Before its first epoch the seismic decoder's base record is set to the mean
  normalised training record (for both decoder variants alike), so the decoder starts
  from the trivial answer and learns how the record changes with the map;
* diffusion: a denoiser on the co-latents of every training velocity map, encoded
  once and cached in the run directory.

Checkpoints are written at the end of every epoch (every ``eval_every`` steps for the
diffusion) and hold the current weights, the optimiser and the best-on-validation
weights, so a killed stage restarts from its last epoch; the data order of epoch ``e``
depends only on ``(seed, e)``, so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from geogen.data.loader import ChunkStream, batches
from geogen.data.normalize import Normalizer
from geogen.errors import GeogenError, InputError
from geogen.models.denoisers import build_denoiser
from geogen.models.ema import EMA
from geogen.models.schedule import CosineSchedule, diffusion_loss
from geogen.models.ubdiff import UBDiffNet
from geogen.run.atomic import atomic_path
from geogen.run.checkpoint import RunMeta, diffusion_state, load_checkpoint, save_checkpoint, supervised_state
from geogen.run.rundir import RunDir
from geogen.training.config import DiffusionConfig, ModelConfig, Step2Config, StepConfig
from geogen.training.context import DeviceContext

log = logging.getLogger("geogen.training")

#: Called after every optimiser step with ``(stage, step)``; lets a caller stop a run
#: at a chosen step (the resume test injects an exception here).
STEP_HOOKS: list[Callable[[str, int], None]] = []

def optimise(loss: "torch.Tensor", optimizer: "torch.optim.Optimizer", scaler: Any) -> None:
    """One optimiser step from ``loss``, through the fp16 grad scaler when there is one."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()

def _hooks(stage: str, step: int) -> None:
    for hook in STEP_HOOKS:
        hook(stage, step)


def append_metrics(run: RunDir, record: dict[str, Any], ctx: DeviceContext) -> None:
    if ctx.is_main:
        run.append_metrics(record)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred = pred.float()
    return F.l1_loss(pred, target) + F.mse_loss(pred, target)


def check_finite(stage: str, step: int, index: torch.Tensor, tensors: Sequence[torch.Tensor], names: Sequence[str],
                 store: Path, checkpoint: Path) -> None:
    """Stop with the step and the store's sample index at the first non-finite input."""
    for name, t in zip(names, tensors):
        bad = ~torch.isfinite(t).flatten(1).all(dim=1)
        if bool(bad.any()):
            sample = int(index[int(bad.nonzero()[0, 0])])
            kept = (f"the last good checkpoint {checkpoint} is kept" if checkpoint.exists()
                    else "no checkpoint of this stage was written yet")
            raise InputError(f"{stage}, step {step}: sample {sample} holds NaN or Inf in '{name}'; "
                             f"repair or drop that sample and rerun ({kept})", path=store)


def clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().cpu() for k, v in module.state_dict().items()}


# --------------------------------------------------------------- step 1 and step 2
class VelocityAutoencoder(nn.Module):
    """Step 1's trainable path: velocity -> co-latent -> velocity."""

    def __init__(self, net: UBDiffNet) -> None:
        super().__init__()
        self.encoder, self.head, self.decoder = net.encoder, net.velocity_head, net.velocity_decoder

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.head(self.encoder(v)))


class SeismicPath(nn.Module):
    """Step 2's path: velocity -> co-latent -> seismic (and velocity when not frozen)."""

    def __init__(self, net: UBDiffNet, freeze: bool, prior_of_own_map: bool = False) -> None:
        super().__init__()
        self.freeze = freeze
        self.prior_of_own_map = prior_of_own_map
        self.net = net

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.freeze:
            with torch.no_grad():
                z = self.net.encode(v)
            return self.net.decode_seismic(z, v if self.prior_of_own_map else None), None
        z = self.net.encode(v)
        v_hat = self.net.decode_velocity(z)
        return self.net.decode_seismic(z, v_hat), v_hat


@dataclass
class SupervisedStage:
    """One epoch-based stage: what to train, on which stream, with which loss."""

    name: str
    checkpoint: Path
    config: StepConfig
    module: nn.Module  # the forward path (wrapped for DDP by the runner)
    trainable: list[nn.Parameter]
    frozen: list[nn.Module]
    loss: Callable[[nn.Module, list[torch.Tensor]], torch.Tensor]
    train: ChunkStream
    validation: ChunkStream | None
    names: tuple[str, ...]
    meta: RunMeta


def _set_modes(stage: SupervisedStage, training: bool) -> None:
    stage.module.train(training)
    for m in stage.frozen:
        m.eval()


def _validate(stage: SupervisedStage, ctx: DeviceContext) -> float | None:
    if stage.validation is None or len(stage.validation) == 0:
        return None
    _set_modes(stage, False)
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches(stage.validation, stage.config.batch_size, num_workers=stage.config.num_workers):
            tensors = [t.to(ctx.device) for t in batch[1:]]
            with ctx.autocast():
                loss = stage.loss(stage.module, tensors)
            total += float(loss) * tensors[0].shape[0]
            count += tensors[0].shape[0]
    return ctx.mean(total / max(count, 1))


def lr_factor(cfg: StepConfig, step: int, total: int) -> float:
    """Learning-rate multiplier before optimiser step ``step`` (0-based) of ``total``; depends on the step only,
    so that a resumed stage follows the uninterrupted one."""
    if cfg.lr_schedule == "constant":
        return 1.0
    warmup = int(round(cfg.warmup_fraction * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def run_supervised(stage: SupervisedStage, net: UBDiffNet, run: RunDir, ctx: DeviceContext, store: Path) -> None:
    """Train one epoch-based stage to the end, resuming from its checkpoint; leave the best weights in ``net``."""
    cfg = stage.config
    ranks = max(1, ctx.world) if stage.train.shard else 1
    per_epoch = max(1, math.ceil(len(stage.train) / (cfg.batch_size * ranks)))
    if cfg.steps_per_epoch is not None:
        per_epoch = min(per_epoch, cfg.steps_per_epoch)
    total_steps = per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(stage.trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = ctx.scaler()
    start_epoch, step, best, best_net = 0, 0, float("inf"), None
    if stage.checkpoint.exists():
        state = load_checkpoint(stage.checkpoint, map_location=ctx.device)
        if state.finished:
            net.load_state_dict(state.best_net)
            return
        net.load_state_dict(state.net)
        optimizer.load_state_dict(state.optimizer)
        start_epoch, step = state.epoch, state.step
        best = state.best_validation
        best_net = state.best_net
    for p in stage.trainable:
        p.requires_grad_(True)
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        stage.train.set_epoch(epoch)
        _set_modes(stage, True)
        total, count, epoch_start = 0.0, 0, step
        for batch in batches(stage.train, cfg.batch_size, num_workers=cfg.num_workers):
            index, tensors = batch[0], [t.to(ctx.device, non_blocking=True) for t in batch[1:]]
            check_finite(stage.name, step + 1, index, tensors, stage.names, store, stage.checkpoint)
            with ctx.autocast():
                loss = stage.loss(stage.module, tensors)
            if not torch.isfinite(loss):
                raise GeogenError(f"{stage.name}, step {step + 1}: the loss became {float(loss)} on samples "
                                  f"{index.tolist()[:8]}; lower the learning rate (the last good checkpoint is kept)")
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg, step, total_steps)
            optimise(loss, optimizer, scaler)
            step += 1
            total += float(loss.detach()) * index.shape[0]
            count += index.shape[0]
            _hooks(stage.name, step)
            if cfg.steps_per_epoch is not None and step - epoch_start >= cfg.steps_per_epoch:
                break
        train_loss = ctx.mean(total / max(count, 1))
        val = _validate(stage, ctx)
        # Model selection on validation only; without a validation split, the last epoch.
        if val is None or val < best or best_net is None:
            best = val if val is not None else best
            best_net = clone_state(net)
        last = epoch + 1 == cfg.epochs
        if ctx.is_main:
            save_checkpoint(supervised_state(
                stage.meta, stage=stage.name, net=clone_state(net), best_net=best_net,
                optimizer=optimizer.state_dict(), epoch=epoch + 1, step=step,
                best_validation=None if best == float("inf") else best, finished=last), stage.checkpoint)
        append_metrics(run, {"stage": stage.name, "epoch": epoch + 1, "step": step, "train_loss": train_loss,
                                 "validation_loss": val, "seconds": round(time.perf_counter() - started, 3)}, ctx)
        ctx.barrier()
    net.load_state_dict(best_net)


def step1_stage(net: UBDiffNet, cfg: StepConfig, train: ChunkStream, validation: ChunkStream | None,
                checkpoint: Path, ctx: DeviceContext, meta: RunMeta) -> SupervisedStage:
    module = VelocityAutoencoder(net).to(ctx.device)

    def loss(m: nn.Module, t: list[torch.Tensor]) -> torch.Tensor:
        return reconstruction_loss(m(t[0]), t[0])

    return SupervisedStage("step1", checkpoint, cfg, ctx.wrap(module), list(module.parameters()), [], loss,
                           train, validation, ("velocity",), meta)


def physical_relative_loss(pred: torch.Tensor, target: torch.Tensor, normalizer: Normalizer) -> torch.Tensor:
    """Mean over samples of ``||p - t||^2 / ||t||^2`` with both records back in physical units."""
    p = normalizer.seismic_inverse(pred.float().clamp(-1, 1))
    t = normalizer.seismic_inverse(target.float())
    return ((p - t).square().flatten(1).sum(1) / t.square().flatten(1).sum(1).clamp(min=1e-12)).mean()


def step2_stage(net: UBDiffNet, cfg: Step2Config, train: ChunkStream, validation: ChunkStream | None,
                checkpoint: Path, ctx: DeviceContext, meta: RunMeta,
                normalizer: Normalizer | None = None) -> SupervisedStage:
    # Step2Config refuses `own` unless frozen; without a prior decode_seismic does not read the map
    path = SeismicPath(net, cfg.freeze, cfg.prior_map == "own").to(ctx.device)
    if cfg.freeze:
        frozen = net.velocity_part()
        for m in frozen:
            m.requires_grad_(False)
        trainable = [p for m in net.seismic_part() for p in m.parameters()]
    else:
        frozen, trainable = [], list(net.parameters())

    weight = cfg.physical_weight if normalizer is not None else 0.0

    def loss(m: nn.Module, t: list[torch.Tensor]) -> torch.Tensor:
        s_hat, v_hat = m(t[0])
        out = reconstruction_loss(s_hat, t[1])
        if weight > 0:
            out = out + weight * physical_relative_loss(s_hat, t[1], normalizer)
        return out if v_hat is None else out + reconstruction_loss(v_hat, t[0])

    return SupervisedStage("step2", checkpoint, cfg, ctx.wrap(path), trainable, frozen, loss,
                           train, validation, ("velocity", "seismic"), meta)


# ------------------------------------------------------------------- diffusion
@torch.no_grad()
def encode_stream(net: UBDiffNet, stream: ChunkStream, batch_size: int, ctx: DeviceContext) -> np.ndarray:
    """Co-latents of every sample of an unshuffled stream, in the stream's index order."""
    net.eval()
    out, order = [], []
    for batch in batches(stream, batch_size):
        with ctx.autocast():
            out.append(net.encode(batch[1].to(ctx.device)).float().cpu())
        order.append(batch[0])
    if not out:
        return np.zeros((0, net.encoder.project.out_features), np.float32)
    z, idx = torch.cat(out).numpy(), torch.cat(order).numpy()
    return z[np.argsort(idx, kind="stable")]


def encoder_digest(net: UBDiffNet) -> str:
    """SHA-256 of the encoder's weights: what the cached co-latents were computed with."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


#: key of the encoder digest inside the latents file (not a split)
_DIGEST_KEY = "encoder_sha256"


def cached_latents(run: RunDir, net: UBDiffNet, streams: dict[str, ChunkStream | None], batch_size: int,
                   ctx: DeviceContext) -> dict[str, np.ndarray]:
    """Encode the velocity splits once and keep them in the run's latents file (written atomically).

    The file carries the digest of the encoder that made it: a file from another encoder (step 1
    retrained, a run directory copied or resumed with other settings) is encoded again, since the
    diffusion would otherwise learn the co-latents of a model it is not part of.
    """
    path = run.latents
    arrays = None
    if ctx.is_main:
        digest = encoder_digest(net)
        arrays = _latents_made_by(path, digest)
        if arrays is None:
            if path.exists():
                log.info("latents: %s was made by another encoder; encoding the velocity maps again", path.name)
            arrays = {k: (encode_stream(net, s, batch_size, ctx) if s is not None and len(s)
                          else np.zeros((0, net.encoder.project.out_features), np.float32))
                      for k, s in streams.items()}
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **arrays, **{_DIGEST_KEY: np.array(digest)})
    ctx.barrier()
    if arrays is None:  # the other ranks read what rank 0 wrote
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != _DIGEST_KEY}
    return arrays


def _latents_made_by(path: Path, digest: str) -> dict[str, np.ndarray] | None:
    """The splits of a latents file if the encoder ``digest`` made it; None for no file, an unreadable one,
    one from another encoder or one written before digests."""
    try:
        with np.load(path) as data:
            if _DIGEST_KEY not in data.files or str(data[_DIGEST_KEY]) != digest:
                return None
            return {k: data[k] for k in data.files if k != _DIGEST_KEY}
    except (OSError, ValueError, EOFError):
        return None


@torch.no_grad()
def _diffusion_validation(model: nn.Module, schedule: CosineSchedule, x: torch.Tensor, objective: str,
                          batch_size: int) -> float | None:
    if x.shape[0] == 0:
        return None
    gen = torch.Generator().manual_seed(12345)  # the same noise at every evaluation
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        total += float(diffusion_loss(model, schedule, xb, objective, generator=gen)) * xb.shape[0]
    return total / x.shape[0]


def run_diffusion(net: UBDiffNet, model_cfg: ModelConfig, cfg: DiffusionConfig, latents: dict[str, np.ndarray],
                  run: RunDir, checkpoint: Path, ctx: DeviceContext, meta: RunMeta, seed: int) -> None:
    """Train the latent denoiser (with EMA) on the cached co-latents; resumable every ``eval_every`` steps."""
    train = torch.as_tensor(latents["train"], dtype=torch.float32)
    if train.shape[0] < 2:
        raise InputError(f"the diffusion needs at least 2 training latents, got {train.shape[0]}", path=run.root)
    mean, std = train.mean(0), train.std(0).clamp(min=1e-3)
    x_train = ((train - mean) / std).to(ctx.device)
    x_val = ((torch.as_tensor(latents["validation"], dtype=torch.float32) - mean) / std).to(ctx.device)
    schedule = CosineSchedule(cfg.timesteps)
    torch.manual_seed(seed)  # the denoiser's initial weights must not depend on what ran before
    denoiser = build_denoiser(model_cfg.denoiser, model_cfg.latent_dim, width=model_cfg.denoiser_width,
                              depth=model_cfg.denoiser_depth).to(ctx.device)
    ema = EMA(denoiser, cfg.ema_decay)
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed * 7919 + ctx.rank)
    step, best, best_ema = 0, float("inf"), None
    if checkpoint.exists():
        state = load_checkpoint(checkpoint, map_location=ctx.device)
        if state.finished:
            return
        denoiser.load_state_dict(state.denoiser)
        ema.load_state_dict(state.ema_current)
        optimizer.load_state_dict(state.optimizer)
        gen.set_state(state.generator)
        step = state.step
        best = state.best_validation
        best_ema = state.ema
    model = ctx.wrap(denoiser)
    scaler = ctx.scaler()
    every = min(cfg.eval_every, cfg.steps)
    total, count, started = 0.0, 0, time.perf_counter()
    while step < cfg.steps:
        model.train()
        idx = torch.randint(0, x_train.shape[0], (cfg.batch_size,), generator=gen)
        with ctx.autocast():
            loss = diffusion_loss(model, schedule, x_train[idx.to(ctx.device)], cfg.objective, generator=gen)
        if not torch.isfinite(loss):
            raise GeogenError(f"diffusion, step {step + 1}: the loss became {float(loss)}; lower diffusion.lr "
                              "(the last good checkpoint is kept)")
        optimise(loss, optimizer, scaler)
        ema.update(denoiser)
        step += 1
        total, count = total + float(loss.detach()), count + 1
        _hooks("diffusion", step)
        if step % every == 0 or step == cfg.steps:
            val = _diffusion_validation(ema.model, schedule, x_val, cfg.objective, cfg.batch_size)
            val = None if val is None else ctx.mean(val)
            if val is None or val < best or best_ema is None:
                best = val if val is not None else best
                best_ema = copy.deepcopy(ema.state_dict())
            if ctx.is_main:
                save_checkpoint(diffusion_state(
                    meta, net=clone_state(net), denoiser=clone_state(denoiser), ema_current=ema.state_dict(),
                    ema=best_ema, optimizer=optimizer.state_dict(), generator=gen.get_state(), step=step,
                    finished=step == cfg.steps, best_validation=None if best == float("inf") else best,
                    latent_mean=mean, latent_std=std, timesteps=cfg.timesteps, objective=cfg.objective), checkpoint)
            append_metrics(run, {"stage": "diffusion", "step": step, "train_loss": ctx.mean(total / count),
                                     "validation_loss": val, "seconds": round(time.perf_counter() - started, 3)}, ctx)
            total, count, started = 0.0, 0, time.perf_counter()
            ctx.barrier()
