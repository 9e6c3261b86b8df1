"""Downstream payoff: does adding generated pairs help a data-driven inversion?

InversionNet is trained three times with the same step budget, the same seed and the
same normalisation (bounds from the real training pairs), and tested on the same
held-out real pairs (the run's ``pairs.test`` split, never seen in training):

- (a) ``real``: the scarce real training pairs only;
- (b) ``real+generated``: plus the generated pairs;
- (c) ``real+simulated``: plus Devito-modelled pairs for as many extra velocity maps
  (drawn from the run's velocity store, excluding every paired map), the upper bound
  a perfect generator could reach.

Scores are OpenFWI's: MAE and MSE of the velocity on [-1, 1], SSIM on [0, 1].  Equal
optimiser steps rather than equal epochs keep the compute fixed, so (b) and (c) win
only through the data.  A fixed step count would score an arbitrary point of each
curve (short of convergence, or past it into overfitting the few real pairs), so every
training keeps the weights with the lowest MAE on the run's real *validation* pairs,
the same pairs and schedule for all three sets; the test pairs choose nothing.  One
seed is one draw of initialisation and batch order: with several, each set reports
the mean and the spread, so a gain smaller than the spread reads as what it is.  The
same call also measures the Fréchet feature distance and k-NN precision/recall of the
generated pairs and draws the report's pictures.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from geogen.acquisition import Acquisition
from geogen.data.datasets import acquisition_of, pairs_dataset
from geogen.data.store import is_store, open_store, write_store
from geogen.errors import GeogenError, InputError
from geogen.evaluation import metrics
from geogen.evaluation.inversionnet import InversionNet, optimiser
from geogen.evaluation.rundir import RunInputs
from geogen.progress import track

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Scaling:
    """Velocity m/s <-> [-1, 1] and record -> [-1, 1] (OpenFWI), bounds from real training pairs."""

    vmin: float
    vmax: float
    log_lo: float
    log_hi: float

    def record(self, s: np.ndarray) -> np.ndarray:
        return (2.0 * (metrics.log_record(s) - self.log_lo) / (self.log_hi - self.log_lo) - 1.0).astype(np.float32)

    def velocity(self, v: np.ndarray) -> np.ndarray:
        return metrics.velocity_to_unit(v, self.vmin, self.vmax)


def pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def select_best(validation_curve: Sequence[tuple[int, float]]) -> tuple[int, float]:
    """The (step, MAE) with the lowest validation MAE; on a tie the earlier step (fewer steps, less fitted)."""
    if not validation_curve:
        raise ValueError("no validation points to select from")
    best = validation_curve[0]
    for point in validation_curve[1:]:
        if point[1] < best[1]:
            best = point
    return int(best[0]), float(best[1])


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
                       validation: tuple[np.ndarray, np.ndarray] | None = None, eval_every: int = 50
                       ) -> InversionFit:
    """Fit InversionNet (L1 loss, AdamW) on normalised records -> velocity on [-1, 1].

    With ``validation`` (normalised records, velocity on [-1, 1]) the MAE on those pairs
    is measured every ``eval_every`` steps and the weights with the lowest one are
    returned: early stopping chosen on held-out data, never on the test pairs.  The
    checks run in eval mode without gradients and draw no random numbers, so the
    training trajectory is the same with or without them.
    """
    if validation is not None and not 1 <= eval_every <= steps:
        raise InputError(f"eval_every ({eval_every}) must be between 1 and the number of steps ({steps})")
    dev = device or torch.device("cpu")
    torch.manual_seed(seed)
    a = acquisition
    net = InversionNet(a.n_sources, a.nt, a.n_receivers, a.nz, a.nx, width=width).to(dev)
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
    net.train()
    for step in track(range(1, steps + 1), total=steps, description=description):
        if cursor + bs > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor:cursor + bs]
        cursor += bs
        if bs == 1:  # BatchNorm needs two samples in training mode
            idx = torch.cat([idx, order[(cursor) % n:(cursor) % n + 1]])
        pred = net(x_all[idx].to(dev))
        loss = F.l1_loss(pred, y_all[idx].to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve.append(loss.item())
        if validation is not None and step % eval_every == 0:
            checks.append((step, validation_mae(net, *validation, device=dev)))
            if select_best(checks)[0] == step:  # the one rule for "best": ties keep the earlier
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            net.train()
    net.eval()
    if not checks:
        return InversionFit(net, curve, best_step=steps)
    best_step, best_mae = select_best(checks)
    assert best_state is not None
    net.load_state_dict(best_state)
    net.eval()
    return InversionFit(net, curve, best_step=best_step, validation_mae=best_mae, validation_curve=checks)


@torch.no_grad()
def predict(net: InversionNet, records: np.ndarray, *, device: torch.device | None = None,
            batch_size: int = 64) -> np.ndarray:
    """Velocity on [-1, 1] for normalised records, in eval mode (BatchNorm running statistics)."""
    dev = device or torch.device("cpu")
    net.eval()
    return np.concatenate([net(torch.from_numpy(np.ascontiguousarray(records[i:i + batch_size])).to(dev)).cpu().numpy()
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
                         f"{pool.size}; generate fewer pairs or pass n_extra", path=inputs.velocity_store)
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
        raise InputError(f"was made with another acquisition than the run's real pairs "
                         f"({acq.seismic_shape} vs {reference.seismic_shape}); evaluate a store of this run", path=store)


# ------------------------------------------------------------------------ the verb
def evaluate(run_dir: PathLike, *, generated: PathLike | None = None, n_extra: int | None = None,
             steps: int = 600, batch_size: int = 32, width: int = 8, lr: float = 1e-4, weight_decay: float = 1e-4,
             seed: int = 0, seeds: int = 1, eval_every: int | None = None, device: str | None = None,
             workers: int = 1, scheduler: str | None = None, feature_epochs: int = 40, distribution: bool = True,
             pictures: bool = True, threads: int | None = None, write: bool = True) -> dict[str, Any]:
    """InversionNet (a) real, (b) real + generated, (c) real + simulated; tested on held-out real pairs.

    ``generated`` defaults to ``run_dir/generated.zarr``; ``n_extra`` caps the number of
    generated pairs used (and hence of simulated ones).  Each set is trained with seeds
    ``seed .. seed + seeds - 1`` (network initialisation and batch order; the data stay
    the same) and reported as the mean and sample std over seeds.  When the run has
    validation pairs, each training keeps the weights with the lowest validation MAE
    (checked every ``eval_every`` steps, default ``steps // 20``); otherwise the last.
    Writes ``run_dir/evaluation/evaluation.json``, the pictures and ``report.md`` unless
    ``write=False``; returns the same dictionary.  ``threads`` sets torch's CPU threads
    for the call (on a busy machine one thread is often several times faster).
    """
    run = Path(run_dir)
    inputs = RunInputs.locate(run)
    gen_path = Path(generated) if generated is not None else run / "generated.zarr"
    if not gen_path.exists():
        raise InputError("no generated pairs; run `geogen generate RUN_DIR --n N --out RUN_DIR/generated.zarr` "
                         "or pass --generated STORE", path=gen_path)
    if steps < 1 or batch_size < 1 or width < 1 or seeds < 1 or (threads is not None and threads < 1):
        raise InputError(f"steps ({steps}), batch size ({batch_size}), width ({width}), seeds ({seeds}) and "
                         f"threads ({threads}) must be positive")
    every = max(1, steps // 20) if eval_every is None else eval_every
    if not 1 <= every <= steps:
        raise InputError(f"eval_every ({every}) must be between 1 and steps ({steps})")
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _evaluate(run, inputs, gen_path, n_extra=n_extra, steps=steps, batch_size=batch_size, width=width,
                         lr=lr, weight_decay=weight_decay, seed=seed, seeds=seeds, eval_every=every, device=device,
                         workers=workers, scheduler=scheduler, feature_epochs=feature_epochs,
                         distribution=distribution, pictures=pictures, write=write)
    finally:
        torch.set_num_threads(threads_before)


def _mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single seed)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None)


def _gain(a_mae: float, b_mae: float) -> float | None:
    return float((a_mae - b_mae) / a_mae) if a_mae > 0 else None


def _evaluate(run: Path, inputs: RunInputs, gen_path: Path, *, n_extra: int | None, steps: int, batch_size: int,
              width: int, lr: float, weight_decay: float, seed: int, seeds: int, eval_every: int,
              device: str | None, workers: int, scheduler: str | None, feature_epochs: int, distribution: bool,
              pictures: bool, write: bool) -> dict[str, Any]:
    real_ds = open_store(inputs.pairs_store, kind="pairs")
    acq = acquisition_of(real_ds)
    gen_ds = open_store(gen_path, kind="pairs")
    _check_same_acquisition(gen_path, acquisition_of(gen_ds), acq)

    train_idx, val_idx, test_idx = inputs.part("pairs", "train"), inputs.part("pairs", "validation"), inputs.test_pairs
    if train_idx.size < 2 or test_idx.size < 1:
        raise GeogenError(f"the run has {train_idx.size} real training and {test_idx.size} test pairs; "
                          "InversionNet needs at least 2 and 1 (raise splits.test or the number of pairs)", path=run)
    n_gen = int(gen_ds.sizes["sample"]) if n_extra is None else min(int(n_extra), int(gen_ds.sizes["sample"]))
    if n_gen < 1:
        raise InputError("n_extra must be at least 1")
    v_train, s_train = _pairs(real_ds, train_idx)
    v_test, s_test = _pairs(real_ds, test_idx)
    v_gen, s_gen = _pairs(gen_ds, np.arange(n_gen))
    out_dir = run / "evaluation"
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    extra_idx, v_sim, s_sim = simulated_extra(inputs, acq, n_gen, seed=seed, workers=workers, scheduler=scheduler,
                                              cache=out_dir / "simulated_extra.zarr" if write else None)
    simulate_s = time.perf_counter() - started

    logged = metrics.log_record(s_train)
    scaling = Scaling(acq.vmin, acq.vmax, float(logged.min()), float(logged.max()))
    dev = pick_device(device)
    test_x, test_y = scaling.record(s_test), scaling.velocity(v_test)
    validation: tuple[np.ndarray, np.ndarray] | None = None
    if val_idx.size >= 1:
        v_val, s_val = _pairs(real_ds, val_idx)
        validation = (scaling.record(s_val), scaling.velocity(v_val))
    selection = "best validation MAE" if validation is not None else "last"
    sets = {
        "a_real": (s_train, v_train),
        "b_real+generated": (np.concatenate([s_train, s_gen]), np.concatenate([v_train, v_gen])),
        "c_real+simulated": (np.concatenate([s_train, s_sim]), np.concatenate([v_train, v_sim])),
    }
    seed_list = list(range(seed, seed + seeds))
    results: dict[str, Any] = {}
    curves: dict[str, list[float]] = {}
    for name, (s, v) in sets.items():
        x, y = scaling.record(s), scaling.velocity(v)
        per_seed = []
        for k in seed_list:
            t0 = time.perf_counter()
            fit = train_inversionnet(x, y, acq, steps=steps, batch_size=batch_size, width=width, lr=lr,
                                     weight_decay=weight_decay, seed=k, device=dev, validation=validation,
                                     eval_every=eval_every, description=f"InversionNet {name} seed {k}")
            per_seed.append({"seed": k, **score(fit.net, test_x, test_y, device=dev), "best_step": fit.best_step,
                             "validation_mae": fit.validation_mae,
                             "final_train_l1": float(np.mean(fit.curve[-20:])), "train_s": time.perf_counter() - t0})
            if k == seed:  # the pictures show the first seed's curves
                curves[name] = fit.curve
        entry: dict[str, Any] = {"n_train": int(len(s))}
        for key in ("mae", "mse", "ssim"):
            entry[key], entry[f"{key}_std"] = _mean_std([r[key] for r in per_seed])
        entry["best_step"] = [r["best_step"] for r in per_seed]
        entry["final_train_l1"] = float(np.mean([r["final_train_l1"] for r in per_seed]))
        entry["train_s"] = float(sum(r["train_s"] for r in per_seed))
        entry["per_seed"] = per_seed
        results[name] = entry
    a, b = results["a_real"], results["b_real+generated"]
    gains = [_gain(ra["mae"], rb["mae"]) for ra, rb in zip(a["per_seed"], b["per_seed"])]
    summary: dict[str, Any] = {
        "run_dir": str(run),
        "generated_store": str(gen_path),
        "test": {"store": str(inputs.pairs_store), "split": "pairs.test", "n": int(test_idx.size)},
        "inversionnet": {
            "settings": {"steps": steps, "batch_size": batch_size, "width": width, "lr": lr,
                         "weight_decay": weight_decay, "loss": "L1", "optimiser": "AdamW", "seed": seed,
                         "seeds": seed_list, "device": str(dev), "threads": torch.get_num_threads(),
                         "n_extra": n_gen, "simulate_s": simulate_s,
                         "metric_scale": "MAE/MSE on [-1, 1] velocity, SSIM on [0, 1] (window 11, sigma 1.5)",
                         "std": "sample standard deviation over seeds (ddof 1); null for one seed"},
            "selection": selection,
            "validation": ({"store": str(inputs.pairs_store), "split": "pairs.validation", "n": int(val_idx.size),
                            "eval_every": eval_every, "criterion": "MAE on [-1, 1] velocity"}
                           if validation is not None else
                           {"n": 0, "note": "the run has no validation pairs (data.splits.validation = 0): "
                                            "each network is scored with its last weights"}),
            **results,
            "b_vs_a_mae_gain": _gain(a["mae"], b["mae"]),
            "b_vs_a_mae_gain_per_seed": gains,
        },
    }
    if distribution:
        summary["distribution"] = distribution_quality(inputs, v_gen, s_gen, v_train, s_train, v_test, s_test,
                                                       acq, epochs=feature_epochs, seed=seed,
                                                       save_dir=out_dir if write else None)
    if write:
        if pictures:
            summary["pictures"] = _pictures(run, out_dir, gen_ds, acq, curves, workers=workers, scheduler=scheduler)
        _write_json(out_dir / "evaluation.json", summary)
        from geogen.evaluation.report import write_report

        summary["report"] = str(write_report(run))
    return summary


def distribution_quality(inputs: RunInputs, v_gen: np.ndarray, s_gen: np.ndarray, v_pairs: np.ndarray,
                         s_pairs: np.ndarray, v_test: np.ndarray, s_test: np.ndarray, acq: Acquisition, *,
                         epochs: int, seed: int, save_dir: Path | None, max_maps: int = 4000) -> dict[str, Any]:
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
        if save_dir is not None:
            space.save(save_dir / f"features_{modality}.pt")
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


def _pictures(run: Path, out_dir: Path, gen_ds: Any, acq: Acquisition, curves: dict[str, list[float]], *,
              workers: int, scheduler: str | None) -> dict[str, str]:
    from geogen.evaluation import plots
    from geogen.evaluation.physics_check import physics_modeller

    pics: dict[str, str] = {}
    n = min(4, int(gen_ds.sizes["sample"]))
    v, s = _pairs(gen_ds, np.arange(n))
    with physics_modeller(acq, workers=1, scheduler=scheduler) as model:
        modelled = model(v)
    pics["pairs_sheet"] = str(plots.pairs_sheet(v, s, modelled, acq, out_dir / "generated_pairs.png"))
    validation = run / "validation.json"
    if validation.is_file():
        pics["physics_errors"] = str(plots.physics_histogram(json.loads(validation.read_text()),
                                                            out_dir / "physics_errors.png", store=gen_ds))
    if (run / "metrics.jsonl").is_file():
        made = plots.training_curves(run / "metrics.jsonl", out_dir / "training_curves.png")
        if made is not None:
            pics["training_curves"] = str(made)
    pics["inversionnet_curves"] = str(plots.loss_curves(curves, out_dir / "inversionnet_training.png"))
    return pics


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
