"""Downstream payoff: do generated pairs help a data-driven inversion, and is it their records that help?

InversionNet is trained once per *arm* with the same step budget, the same seeds and the
same normalisation (bounds from the real training pairs), and tested on the same
held-out real pairs (the run's ``pairs.test`` split, never seen in training).  Every arm
is the real training pairs plus one kind of extra pairs, as many of each kind:

- (a) nothing: the scarce real pairs alone;
- (b) the generated pairs;
- (b0) the generated velocity maps, each with its *direct-wave record* only (Devito in a
  homogeneous medium at the map's top-row velocity): the control that tells whether
  the generated *records* add anything, or only the maps (a prior on plausible maps);
- (p) pairs of a paired-only generator: the same UB-Diff trained without the unpaired
  maps (``training.velocity_maps: paired``), what the unpaired maps buy;
- (c) Devito-modelled pairs of unpaired maps from the run's velocity store: the upper
  bound a perfect generator could reach.

Scores are OpenFWI's: MAE and MSE of the velocity on [-1, 1], SSIM on [0, 1].  Equal
optimiser steps rather than equal epochs keep the compute fixed, so an arm wins only
through its data.  Every training keeps the weights with the lowest MAE on the run's
real *validation* pairs (the same pairs and schedule for all arms); the test pairs
choose nothing.  With several seeds each arm reports the mean and the sample spread,
and each comparison says whether its difference exceeds that spread.  The same call
also measures the Fréchet feature distance and k-NN precision/recall of the generated
pairs and draws the report's pictures.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from geogen.acquisition import Acquisition
from geogen.data.datasets import acquisition_of, pairs_dataset
from geogen.data.normalize import Normalizer
from geogen.data.store import is_store, open_store, write_store
from geogen.errors import GeogenError, InputError
from geogen.evaluation import metrics
from geogen.evaluation.config import (
    ARMS,
    COMPARISONS,
    DIRECT_WAVE,
    GENERATED,
    PAIRED_ONLY,
    REAL_ONLY,
    SIMULATED,
    Arm,
    EvaluationConfig,
    comparison_name,
)
from geogen.evaluation.inversionnet import InversionNet, optimiser
from geogen.evaluation.results import ArmResult, Comparison, Evaluation, SeedResult
from geogen.evaluation.run_inputs import RunInputs
from geogen.models.device import pick_device
from geogen.progress import track
from geogen.run.atomic import atomic_write_json
from geogen.run.rundir import RunDir

log = logging.getLogger("geogen.evaluation")

# Channels-last tensors let oneDNN skip its layout reorders around every convolution:
# a CPU training step of the OpenFWI-geometry network (width 8, batch 16, 2 threads)
# takes 0.19 s instead of 0.25 s, 1.3 x (bench/bench_inversionnet.py).
LAYOUT = torch.channels_last

PathLike = str | os.PathLike[str]


def select_best(validation_curve: Sequence[tuple[int, float]]) -> tuple[int, float]:
    """The (step, MAE) with the lowest validation MAE; on a tie the earlier step (fewer steps, less fitted)."""
    if not validation_curve:
        raise ValueError("no validation points to select from")
    best = validation_curve[0]
    for point in validation_curve[1:]:
        if point[1] < best[1]:
            best = point
    return int(best[0]), float(best[1])


def batches(n: int, size: int) -> list[slice]:
    """``range(n)`` in slices of ``size``, none of a single row (BatchNorm in training mode needs two)."""
    size = max(size, 2)
    parts = [slice(i, min(i + size, n)) for i in range(0, n, size)]
    if len(parts) > 1 and parts[-1].stop - parts[-1].start == 1:
        parts[-2:] = [slice(parts[-2].start, n)]
    return parts


@dataclass
class InversionFit:
    """One InversionNet training: the chosen weights and how they were chosen.

    ``best_step`` is the step whose weights ``net`` holds (``steps`` when selection is
    "last"); ``validation_curve`` lists (step, validation MAE) at every check.
    """

    net: InversionNet
    curve: list[float]
    best_step: int
    validation_mae: float | None = None
    validation_curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def selection(self) -> str:
        return "best validation MAE" if self.validation_curve else "last"


def train_inversionnet(records: np.ndarray, velocity: np.ndarray, acquisition: Acquisition, *, steps: int,
                       batch_size: int = 32, width: int = 8, lr: float = 1e-4, weight_decay: float = 1e-4,
                       seed: int = 0, device: torch.device | None = None, description: str = "InversionNet",
                       validation: tuple[np.ndarray, np.ndarray] | None = None, eval_every: int = 50,
                       ema_decay: float = 0.0, bn_records: np.ndarray | None = None) -> InversionFit:
    """Fit InversionNet (L1 loss, AdamW) on normalised records -> velocity on [-1, 1].

    With ``validation`` (normalised records, velocity on [-1, 1]) the MAE on those pairs
    is measured every ``eval_every`` steps and the weights with the lowest one are
    returned: early stopping chosen on held-out data, never on the test pairs.  The
    checks run in eval mode without gradients and draw no random numbers, so the
    training trajectory is the same with or without them.

    The network that is checked and returned is the trained one, or with ``ema_decay`` > 0
    an exponential moving average of its weights and buffers (Polyak averaging); with
    ``bn_records`` its BatchNorm statistics are then measured on those records (the
    real training records) instead of the running averages of the training batches.
    Both damp the check-to-check noise that otherwise decides which weights are kept.
    """
    if validation is not None and not 1 <= eval_every <= steps:
        raise InputError(f"eval_every ({eval_every}) must be between 1 and the number of steps ({steps})")
    dev = device or torch.device("cpu")
    torch.manual_seed(seed)
    a = acquisition
    net = InversionNet(a.n_sources, a.nt, a.n_receivers, a.nz, a.nx, width=width).to(dev, memory_format=LAYOUT)
    opt = optimiser(net, lr=lr, weight_decay=weight_decay)
    x_all = torch.from_numpy(np.ascontiguousarray(records, dtype=np.float32))
    y_all = torch.from_numpy(np.ascontiguousarray(velocity, dtype=np.float32))
    gen = torch.Generator().manual_seed(seed)
    n = x_all.shape[0]
    bs = min(batch_size, n)
    order = torch.randperm(n, generator=gen)
    cursor, curve = 0, []
    checks: list[tuple[int, float]] = []
    best_state: dict[str, torch.Tensor] | None = None
    averaged = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True) \
        if ema_decay > 0 else None
    reference: list[torch.Tensor] | None = None  # bn_records, batched and on the device once
    if bn_records is not None:
        records_bn = torch.from_numpy(np.ascontiguousarray(bn_records, dtype=np.float32))
        reference = [records_bn[part].to(dev).contiguous(memory_format=LAYOUT)
                     for part in batches(len(records_bn), bs)]
    kept_net = averaged.module if averaged is not None else net  # the weights that are checked and returned

    def scored() -> InversionNet:
        """The network a check measures (see the docstring): ``kept_net``, or a copy with re-measured BatchNorm."""
        if reference is None:
            return kept_net
        candidate = copy.deepcopy(kept_net)
        update_bn(reference, candidate)
        return candidate

    net.train()
    for step in track(range(1, steps + 1), total=steps, description=description):
        if cursor + bs > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor:cursor + bs]
        cursor += bs
        if bs == 1:  # BatchNorm needs two samples in training mode
            idx = torch.cat([idx, order[(cursor) % n:(cursor) % n + 1]])
        pred = net(x_all[idx].to(dev).contiguous(memory_format=LAYOUT))
        loss = F.l1_loss(pred, y_all[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if averaged is not None:
            averaged.update_parameters(net)
        curve.append(loss.item())
        if validation is not None and step % eval_every == 0:
            candidate = scored()
            checks.append((step, validation_mae(candidate, *validation, device=dev)))
            if select_best(checks)[0] == step:  # the one rule for "best": ties keep the earlier
                best_state = {k: v.detach().clone() for k, v in candidate.state_dict().items()}
            net.train()
    if not checks:
        final = scored()
        final.eval()
        return InversionFit(final, curve, best_step=steps)
    best_step, best_mae = select_best(checks)
    assert best_state is not None
    kept_net.load_state_dict(best_state)  # the checked network's state, BatchNorm statistics included
    kept_net.eval()
    return InversionFit(kept_net, curve, best_step=best_step, validation_mae=best_mae, validation_curve=checks)


@torch.no_grad()
def predict(net: InversionNet, records: np.ndarray, *, device: torch.device | None = None,
            batch_size: int = 64) -> np.ndarray:
    """Velocity on [-1, 1] for normalised records, in eval mode (BatchNorm running statistics)."""
    dev = device or torch.device("cpu")
    net.eval()
    return np.concatenate([net(torch.from_numpy(np.ascontiguousarray(records[i:i + batch_size])).to(dev)
                               .contiguous(memory_format=LAYOUT)).cpu().numpy()
                           for i in range(0, len(records), batch_size)])


def validation_mae(net: InversionNet, records: np.ndarray, velocity: np.ndarray, *,
                   device: torch.device | None = None) -> float:
    """MAE on [-1, 1] over the validation pairs (the early-stopping criterion)."""
    return metrics.mae(predict(net, records, device=device), velocity)


@torch.no_grad()
def score(net: InversionNet, records: np.ndarray, velocity: np.ndarray, *, device: torch.device | None = None,
          batch_size: int = 64) -> dict[str, float]:
    """MAE, MSE (on [-1, 1]) and SSIM (on [0, 1]) averaged over the test pairs."""
    preds = predict(net, records, device=device, batch_size=batch_size)
    return {
        "mae": metrics.mae(preds, velocity),
        "mse": metrics.mse(preds, velocity),
        "ssim": float(np.mean([metrics.velocity_ssim(p, t) for p, t in zip(preds, velocity)])),
    }


# ------------------------------------------------------------------ data assembly
def _pairs(ds: Any, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    v = ds["velocity"].transpose("sample", "z", "x")
    s = ds["seismic"].transpose("sample", "source", "time", "receiver")
    if index is not None:
        v, s = v.isel(sample=index), s.isel(sample=index)
    return v.values.astype(np.float32), s.values.astype(np.float32)


def simulated_extra(inputs: RunInputs, acquisition: Acquisition, n: int, *, seed: int, workers: int,
                    scheduler: str | None, cache: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` velocity maps not paired in the run, modelled with Devito (cached in the run)."""
    paired = {int(v) for v in inputs.splits.get("pair_to_velocity", {}).values()}
    pool = np.asarray([i for i in inputs.velocity_outside_pairs_test() if int(i) not in paired], dtype=np.int64)
    if pool.size < n:
        raise InputError(f"(c) needs {n} velocity maps that are not paired, the run's velocity store has "
                         f"{pool.size}; generate fewer pairs or set n_extra", path=inputs.velocity_store,
                         setting="n_extra")
    chosen = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
    if cache is not None and is_store(cache):
        ds = open_store(cache, kind="pairs")
        if list(ds.attrs.get("velocity_indices", [])) == chosen.tolist():
            v, s = _pairs(ds)
            return chosen, v, s
    vds = open_store(inputs.velocity_store, kind="velocity")
    dim = vds["velocity"].dims[0]
    v = vds["velocity"].isel({dim: chosen}).transpose(dim, "z", "x").values.astype(np.float32)
    from geogen.evaluation.physics_check import physics_modeller

    with physics_modeller(acquisition, workers=workers, scheduler=scheduler) as model:
        s = model(v)
    if cache is not None:
        write_store(pairs_dataset(v, s, acquisition, origin="simulated",
                                  attrs={"velocity_indices": chosen.tolist(),
                                         "velocity_store": str(inputs.velocity_store)}), cache)
    return chosen, v, s


def _check_same_acquisition(store: Path, acq: Acquisition, reference: Acquisition) -> None:
    if acq != reference:
        raise InputError(
            f"was made with another acquisition than the run's real pairs "
            f"({acq.seismic_shape} vs {reference.seismic_shape}); evaluate a store of this run",
            path=store,
        )


# ------------------------------------------------------------------------ the arms (ARMS: geogen.evaluation.config)
def _cached_pairs(cache: Path | None, key: dict[str, Any], acquisition: Acquisition, origin: str,
                  make: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pairs from ``cache`` when it was made for ``key``; else ``make()``, written there (atomically) for next time."""
    if cache is not None and is_store(cache):
        ds = open_store(cache, kind="pairs")
        if json.loads(ds.attrs.get("cache_key", "null")) == key:
            return _pairs(ds)
    v, s = make()
    if cache is not None:
        write_store(pairs_dataset(v, s, acquisition, origin=origin, attrs={"cache_key": json.dumps(key)}), cache)
    return v, s


def direct_wave_extra(v_gen: np.ndarray, acquisition: Acquisition, config: EvaluationConfig, *, key: dict[str, Any],
                      cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(b0)'s pairs: each generated map with its direct-wave record (cached in the run)."""
    from geogen.physics import direct_wave

    return _cached_pairs(cache, key, acquisition, "simulated",
                         lambda: (v_gen, direct_wave(v_gen, acquisition, workers=config.workers,
                                                     scheduler=config.scheduler)))


def paired_only_extra(source: PathLike, inputs: RunInputs, gen_ds: Any, acquisition: Acquisition, n: int, *,
                      cache: Path | None) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """(p)'s pairs: ``n`` pairs of a paired-only generator and where they came from.

    ``source`` is that generator's run directory (pairs are sampled here with the
    generated store's sampler, steps and seed, and cached) or a pairs store it wrote.
    The generator must have held out the same real pairs as this run, or its pairs
    could carry the test pairs into the training set.
    """
    path = Path(source)
    run = path if RunDir(path).is_training_run() else None
    if run is None and is_store(path):
        ds = open_store(path, kind="pairs")
        _check_same_acquisition(path, acquisition_of(ds), acquisition)
        checkpoint = ds.attrs.get("checkpoint")
        if checkpoint and RunDir(Path(checkpoint).parent.parent).is_training_run():
            _check_same_held_out(Path(checkpoint).parent.parent, inputs)
        if int(ds.sizes["sample"]) < n:
            raise InputError(f"holds {int(ds.sizes['sample'])} pairs, (p) needs {n} (as many as the other arms add)",
                             path=path)
        return _pairs(ds, np.arange(n)), str(path)
    if run is None:
        raise InputError("is neither a training run (no splits.json) nor a pairs store; give the paired-only run "
                         "(geogen train ... --set training.velocity_maps=paired)", path=path)
    _check_same_held_out(run, inputs)
    from geogen.models.ubdiff import UBDiff

    model = UBDiff.load(run)
    if model.velocity_maps != "paired":
        raise InputError("was trained on all velocity maps, not the paired ones alone (training.velocity_maps: "
                         "paired); it is no paired-only generator", path=run)
    steps, sampler, seed = int(gen_ds.attrs.get("steps", 50)), str(gen_ds.attrs.get("sampler", "ddim")), \
        int(gen_ds.attrs.get("seed", 0))
    key = {"checkpoint": str(model.checkpoint), "n": n, "steps": steps, "sampler": sampler, "seed": seed}
    pairs = _cached_pairs(cache, key, acquisition, "generated",
                          lambda: model.sample(n, steps=steps, sampler=sampler, seed=seed))
    return pairs, f"{run} (sampled here: {n} pairs, {sampler} {steps} steps, seed {seed})"


# ------------------------------------------------------------------------ trainings kept by what they depend on
def data_digest(arrays: Sequence[np.ndarray]) -> str:
    """The hash of an arm's training, validation and test arrays (scaled, so the normalisation is in them)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def fit_key(data: str, cfg: EvaluationConfig, seed: int, device: torch.device, validated: bool) -> str:
    """The hash of everything one InversionNet training's figures depend on.

    ``data`` is :func:`data_digest` of its arrays; then the settings that change the
    optimisation, the seed, the device and thread count (the order of float sums) and the
    torch version.  Two evaluations that would train and score the same network bit for
    bit share the key, so adding an arm to an evaluation retrains none it has trained
    before.  Delete ``evaluation/fits`` to train everything again (after a change to
    InversionNet or to the scores, say).
    """
    settings = {"data": data, "steps": cfg.steps, "batch_size": cfg.batch_size, "width": cfg.width, "lr": cfg.lr,
                "weight_decay": cfg.weight_decay, "eval_every": cfg.check_every if validated else None,
                "seed": seed, "device": device.type, "threads": torch.get_num_threads(), "torch": torch.__version__,
                "layout": str(LAYOUT)}
    # written only when they differ from plain training, so fits made before these settings existed keep their keys
    if cfg.ema_decay > 0:
        settings["ema_decay"] = cfg.ema_decay
    if cfg.bn_statistics != "batches":
        settings["bn_statistics"] = cfg.bn_statistics
    return hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(), digest_size=16).hexdigest()


def load_fit(path: Path | None) -> tuple[SeedResult, list[float]] | None:
    """A kept training's figures and loss curve, or None (no file, or one that cannot be read: train again)."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return SeedResult.model_validate(data["result"]), [float(v) for v in data["curve"]]
    except (ValueError, KeyError, TypeError):
        return None


def _check_same_held_out(other_run: Path, inputs: RunInputs) -> None:
    other = RunInputs.locate(other_run)
    for part in ("validation", "test"):
        if not np.array_equal(other.part("pairs", part), inputs.part("pairs", part)) or \
                other.splits.get("n_pairs") != inputs.splits.get("n_pairs"):
            raise InputError(f"holds out other real pairs ({part}) than {inputs.run_dir}; train the paired-only "
                             "generator on the same stores with the same data.splits", path=other_run)


def _compare(results: dict[str, ArmResult], better: Arm, other: Arm) -> Comparison | None:
    """How much lower ``better``'s MAE is than ``other``'s, and whether that exceeds the seeds' spread."""
    x, y = results.get(better.key), results.get(other.key)
    if x is None or y is None or x.mae is None or y.mae is None:
        return None
    spread = max((s for s in (x.mae_std, y.mae_std) if s is not None), default=None)
    diff = y.mae - x.mae
    return Comparison(mae_gain=_gain(y.mae, x.mae), mae_difference=diff, spread=spread,
                      beyond_spread=None if spread is None else bool(diff > spread),
                      mae_gain_per_seed=[_gain(ry.mae, rx.mae) for rx, ry in zip(x.per_seed or [], y.per_seed or [])])


# ------------------------------------------------------------------------ the verb
def evaluate(run_dir: PathLike, config: EvaluationConfig | None = None, *, generated: PathLike | None = None,
             write: bool = True, **settings: Any) -> dict[str, Any]:
    """Train InversionNet on every arm of ``config`` (see the module docstring); test on held-out real pairs.

    ``generated`` defaults to ``run_dir/generated.zarr``; ``settings`` override fields of
    ``config`` (e.g. ``evaluate(run, steps=300, seeds=3)``).  Writes
    ``run_dir/evaluation/evaluation.json``, the pictures and ``report.md`` unless
    ``write=False``; returns the same dictionary (the JSON form of :func:`evaluate_run`'s result).
    """
    return evaluate_run(run_dir, config, generated=generated, write=write, **settings).to_json()


def evaluate_run(run_dir: PathLike, config: EvaluationConfig | None = None, *, generated: PathLike | None = None,
                 write: bool = True, **settings: Any) -> Evaluation:
    """:func:`evaluate` with the typed result: per-arm :class:`ArmResult`, :class:`Comparison` by name."""
    cfg = EvaluationConfig.model_validate({**(config.model_dump() if config else {}), **settings})
    run = Path(run_dir)
    inputs = RunInputs.locate(run)
    gen_path = Path(generated) if generated is not None else RunDir(run).generated
    if not gen_path.exists():
        raise InputError("no generated pairs; run `geogen generate RUN_DIR --n N --out RUN_DIR/generated.zarr` "
                         "or pass --generated STORE", path=gen_path)
    threads_before = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _evaluate(run, inputs, gen_path, cfg, write=write)
    finally:
        torch.set_num_threads(threads_before)


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single seed)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None)


def _gain(a_mae: float, b_mae: float) -> float | None:
    return float((a_mae - b_mae) / a_mae) if a_mae > 0 else None


def _evaluate(run: Path, inputs: RunInputs, gen_path: Path, cfg: EvaluationConfig, *, write: bool) -> Evaluation:
    real_ds = open_store(inputs.pairs_store, kind="pairs")
    acq = acquisition_of(real_ds)
    gen_ds = open_store(gen_path, kind="pairs")
    _check_same_acquisition(gen_path, acquisition_of(gen_ds), acq)

    train_idx, val_idx, test_idx = inputs.part("pairs", "train"), inputs.part("pairs", "validation"), inputs.test_pairs
    if train_idx.size < 2 or test_idx.size < 1:
        raise GeogenError(f"the run has {train_idx.size} real training and {test_idx.size} test pairs; "
                          "InversionNet needs at least 2 and 1 (raise splits.test or the number of pairs)", path=run)
    n_gen = min(cfg.n_extra or int(gen_ds.sizes["sample"]), int(gen_ds.sizes["sample"]))
    v_train, s_train = _pairs(real_ds, train_idx)
    v_test, s_test = _pairs(real_ds, test_idx)
    v_gen, s_gen = _pairs(gen_ds, np.arange(n_gen))
    files = RunDir(run)
    out_dir = files.evaluation
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)

    def cache(arm: str) -> Path | None:
        return files.evaluation_cache(arm) if write else None

    extras: dict[str, tuple[np.ndarray, np.ndarray]] = {REAL_ONLY.key: (v_train[:0], s_train[:0])}
    skipped: dict[str, str] = {}
    sources: dict[str, str] = {}
    if GENERATED.key in cfg.arms:
        extras[GENERATED.key], sources[GENERATED.key] = (v_gen, s_gen), str(gen_path)
    timings: dict[str, float] = {}
    if DIRECT_WAVE.key in cfg.arms:
        started = time.perf_counter()
        extras[DIRECT_WAVE.key] = direct_wave_extra(v_gen, acq, cfg, cache=cache(DIRECT_WAVE.key),
                                                    key={"generated": str(gen_path.resolve()), "n": n_gen})
        timings[f"{DIRECT_WAVE.key}_direct_waves_s"] = time.perf_counter() - started
        sources[DIRECT_WAVE.key] = f"{gen_path} maps, direct-wave records (Devito)"
    if PAIRED_ONLY.key in cfg.arms:
        if cfg.paired_only is None:
            skipped[PAIRED_ONLY.key] = (
                "no paired-only generator given: train one with `geogen train WORKFLOW "
                "--set training.velocity_maps=paired --set run.dir=RUN_P` and pass --paired-only RUN_P")
        else:
            extras[PAIRED_ONLY.key], sources[PAIRED_ONLY.key] = paired_only_extra(
                cfg.paired_only, inputs, gen_ds, acq, n_gen, cache=cache(PAIRED_ONLY.key))
    if SIMULATED.key in cfg.arms:
        started = time.perf_counter()
        extra_idx, v_sim, s_sim = simulated_extra(inputs, acq, n_gen, seed=cfg.seed, workers=cfg.workers,
                                                  scheduler=cfg.scheduler, cache=cache(SIMULATED.key))
        extras[SIMULATED.key] = (v_sim, s_sim)
        del v_sim, s_sim  # held by extras alone, so they leave memory with (c)'s turn
        timings[f"{SIMULATED.key}_simulate_s"] = time.perf_counter() - started
        sources[SIMULATED.key] = f"{inputs.velocity_store}: {n_gen} unpaired maps modelled with Devito"
    for key in ARMS:
        if key not in cfg.arms and key not in skipped:
            skipped[key] = "not asked for (arms setting)"

    logged = metrics.log_record(s_train)  # the records' bounds: the real training records'
    scaling = Normalizer(acq.vmin, acq.vmax, float(logged.min()), float(logged.max()))
    dev = pick_device(cfg.device)
    test_y, test_x = scaling.scale_pairs(v_test, s_test)
    validation: tuple[np.ndarray, np.ndarray] | None = None
    if val_idx.size >= 1:
        v_val, s_val = _pairs(real_ds, val_idx)
        y_val, x_val = scaling.scale_pairs(v_val, s_val)
        validation = (x_val, y_val)
    selection = "best validation MAE" if validation is not None else "last"
    seed_list = list(range(cfg.seed, cfg.seed + cfg.seeds))
    results: dict[str, ArmResult] = {}
    curves: dict[str, list[float]] = {}
    for key in list(extras):
        arm = ARMS[key]
        # An arm's pairs leave memory once it is scaled, and its scaled set once it is trained:
        # at the OpenFWI geometry each arm of 2 048 extra pairs is 3 GB.
        v_extra, s_extra = extras.pop(key)
        n_extra = len(v_extra)
        y, x = scaling.scale_pairs(np.concatenate([v_train, v_extra]), np.concatenate([s_train, s_extra]))
        del v_extra, s_extra
        per_seed: list[SeedResult] = []
        data = data_digest((x, y, *(validation or ()), test_x, test_y)) if write else ""
        for k in seed_list:
            kept = files.evaluation_fit(fit_key(data, cfg, k, dev, validated=validation is not None)) if write else None
            done = load_fit(kept)
            if done is None:
                result, curve, checks = _train_and_score(
                    x, y, test_x, test_y, acq, cfg, seed=k, device=dev, n_real=len(v_train), validation=validation,
                    description=f"InversionNet {arm.label} seed {k}")
                done = (result, curve)
                if kept is not None:  # the validation curve too: how noisy the checks were, without retraining
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    atomic_write_json(kept, {"result": result.to_json(), "curve": curve,
                                             "validation_curve": checks})
            else:
                done[0].reused = str(kept)
            log.info("%s", _seed_line(arm, done[0], files))
            per_seed.append(done[0])
            if k == cfg.seed:  # the pictures show the first seed's curves
                curves[arm.label] = done[1]
        results[key] = _arm_result(arm, per_seed, source=sources.get(key), n_train=len(x), n_extra=n_extra)
        del x, y
    arms = {key: results.get(key, ArmResult(label=arm.label, skipped=skipped.get(key))) for key, arm in ARMS.items()}
    comparisons = {comparison_name(x, y): c for x, y in COMPARISONS if (c := _compare(results, x, y)) is not None}
    summary = Evaluation(
        run_dir=str(run),
        generated_store=str(gen_path),
        test={"store": str(inputs.pairs_store), "split": "pairs.test", "n": int(test_idx.size)},
        inversionnet={
            "settings": {**cfg.model_dump(), "eval_every": cfg.check_every, "seeds": seed_list, "device": str(dev),
                         "threads": torch.get_num_threads(), "n_extra": n_gen, "loss": "L1", "optimiser": "AdamW",
                         "metric_scale": "MAE/MSE on [-1, 1] velocity, SSIM on [0, 1] (window 11, sigma 1.5)",
                         "std": "sample standard deviation over seeds (ddof 1); null for one seed", **timings},
            "selection": selection,
            "weights": cfg.scored_network,
            "validation": ({"store": str(inputs.pairs_store), "split": "pairs.validation", "n": int(val_idx.size),
                            "eval_every": cfg.check_every, "criterion": "MAE on [-1, 1] velocity"}
                           if validation is not None else
                           {"n": 0, "note": "the run has no validation pairs (data.splits.validation = 0): "
                                            "each network is scored with its last weights"}),
        },
        arms=arms,
        comparisons=comparisons,
    )
    if write:  # the arms' hours of training reach the disk before the parts that can still fail
        atomic_write_json(files.evaluation_json, summary.to_json(), indent=2)
    if cfg.distribution:
        summary.distribution = distribution_quality(inputs, v_gen, s_gen, v_train, s_train, v_test, s_test,
                                                    acq, epochs=cfg.feature_epochs, seed=cfg.seed,
                                                    files=files if write else None)
    if write:
        if cfg.pictures:
            summary.pictures = _pictures(files, gen_ds, acq, curves, workers=cfg.workers, scheduler=cfg.scheduler)
        atomic_write_json(files.evaluation_json, summary.to_json(), indent=2)
        from geogen.evaluation.report import write_report

        summary.report = str(write_report(run))
    return summary


def _seed_line(arm: Arm, result: SeedResult, files: RunDir) -> str:
    """One finished training in words: which arm and seed, its test MAE, and whether it was trained or reused."""
    chosen = f", best check at step {result.best_step}" if result.best_step is not None else ""
    if result.reused is not None:
        how = f"reused {files.relative(Path(result.reused))}"
    else:
        how = f"trained in {result.train_s:.0f} s" if result.train_s is not None else "trained"
    return f"InversionNet {arm.label}, seed {result.seed}: test MAE {result.mae:.4f}{chosen} ({how})"


def _train_and_score(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, acq: Acquisition,
                     cfg: EvaluationConfig, *, seed: int, device: torch.device, n_real: int,
                     validation: tuple[np.ndarray, np.ndarray] | None, description: str
                     ) -> tuple[SeedResult, list[float], list[tuple[int, float]]]:
    """One seed of one arm: train InversionNet, score it on the test pairs; its figures, loss and validation curves.

    The first ``n_real`` rows of ``x``, ``y`` are the real training pairs (the rest the arm's extras).
    """
    t0 = time.perf_counter()
    fit = train_inversionnet(x, y, acq, steps=cfg.steps, batch_size=cfg.batch_size, width=cfg.width, lr=cfg.lr,
                             weight_decay=cfg.weight_decay, seed=seed, device=device, validation=validation,
                             eval_every=cfg.check_every, description=description, ema_decay=cfg.ema_decay,
                             bn_records=x[:n_real] if cfg.bn_statistics == "real" else None)
    result = SeedResult(seed=seed, **score(fit.net, test_x, test_y, device=device), best_step=fit.best_step,
                        validation_mae=fit.validation_mae, final_train_l1=float(np.mean(fit.curve[-20:])),
                        train_s=time.perf_counter() - t0)
    return result, fit.curve, fit.validation_curve


def _arm_result(arm: Arm, per_seed: list[SeedResult], *, source: str | None, n_train: int,
                n_extra: int) -> ArmResult:
    """An arm's figures over its seeds: mean and sample std of each test figure, the seeds' best steps."""
    spread = {}
    for metric in ("mae", "mse", "ssim"):
        spread[metric], spread[f"{metric}_std"] = _mean_std([getattr(r, metric) for r in per_seed])
    return ArmResult(label=arm.label, extra=arm.extra, source=source, n_train=int(n_train), n_extra=int(n_extra),
                     **spread, best_step=[r.best_step for r in per_seed],
                     final_train_l1=float(np.mean([r.final_train_l1 for r in per_seed])),
                     train_s=float(sum(r.train_s for r in per_seed)), per_seed=per_seed)


def distribution_quality(inputs: RunInputs, v_gen: np.ndarray, s_gen: np.ndarray, v_pairs: np.ndarray,
                         s_pairs: np.ndarray, v_test: np.ndarray, s_test: np.ndarray, acq: Acquisition, *,
                         epochs: int, seed: int, files: RunDir | None, max_maps: int = 4000) -> dict[str, Any]:
    """Fréchet feature distance and precision/recall, per modality, in real-trained feature spaces.

    Velocity features are trained on the run's training velocity maps, seismic features
    on its real training pairs.  ``frechet_real_heldout_vs_real`` (held-out real vs
    training real, as many held-out samples as generated ones) is the value two samples
    of the same distribution give: the noise floor of the figure.
    """
    from geogen.evaluation.features import fit_feature_space
    from geogen.evaluation.frechet import NAME, frechet_feature_distance, precision_recall

    vds = open_store(inputs.velocity_store, kind="velocity")
    dim = vds["velocity"].dims[0]
    train_maps = inputs.part("velocity", "train")[:max_maps]
    test_maps = inputs.part("velocity", "test")[:max_maps]
    v_real = vds["velocity"].isel({dim: train_maps}).transpose(dim, "z", "x").values.astype(np.float32)
    v_held = (vds["velocity"].isel({dim: test_maps}).transpose(dim, "z", "x").values.astype(np.float32)
              if test_maps.size >= 2 else v_test)
    out: dict[str, Any] = {"name": NAME, "features": "bottleneck of a conv autoencoder trained on the run's real "
                           "training data only (one per modality)"}
    for modality, real, held, gen in (("velocity", v_real, v_held, v_gen), ("seismic", s_pairs, s_test, s_gen)):
        if len(real) < 2 or len(gen) < 2:
            out[modality] = {"skipped": f"needs two real and two generated samples ({len(real)}, {len(gen)})"}
            continue
        space = fit_feature_space(modality, real, vmin=acq.vmin, vmax=acq.vmax, epochs=epochs, seed=seed)
        if files is not None:
            space.save(files.evaluation_features(modality))
        f_real, f_gen = space.features(real), space.features(gen)
        entry: dict[str, Any] = {"n_real": int(len(real)), "n_generated": int(len(gen)),
                                 "frechet_generated_vs_real": frechet_feature_distance(f_real, f_gen),
                                 **precision_recall(f_real, f_gen, k=3),
                                 "feature_net_final_mse": space.final_loss}
        held = held[: len(gen)]  # same sample size as the generated set: the estimator's bias depends on n
        if len(held) >= 2:
            entry["frechet_real_heldout_vs_real"] = frechet_feature_distance(f_real, space.features(held))
            entry["n_real_heldout"] = int(len(held))
        out[modality] = entry
    return out


def _pictures(files: RunDir, gen_ds: Any, acq: Acquisition, curves: dict[str, list[float]], *,
              workers: int, scheduler: str | None) -> dict[str, str]:
    from geogen.evaluation import plots
    from geogen.evaluation.physics_check import physics_modeller

    pics: dict[str, str] = {}
    n = min(4, int(gen_ds.sizes["sample"]))
    v, s = _pairs(gen_ds, np.arange(n))
    with physics_modeller(acq, workers=1, scheduler=scheduler) as model:
        modelled = model(v)
    figure = files.evaluation_figure
    pics["pairs_sheet"] = str(plots.pairs_sheet(v, s, modelled, acq, figure("pairs_sheet")))
    if files.validation.is_file():
        pics["physics_errors"] = str(plots.physics_histogram(json.loads(files.validation.read_text()),
                                                            figure("physics_errors"), store=gen_ds))
    if files.metrics.is_file():
        made = plots.training_curves(files.metrics, figure("training_curves"))
        if made is not None:
            pics["training_curves"] = str(made)
    pics["inversionnet_curves"] = str(plots.loss_curves(curves, figure("inversionnet_curves")))
    return pics
