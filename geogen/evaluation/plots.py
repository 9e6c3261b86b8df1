"""Pictures for the evaluation report (matplotlib, Agg backend, PNG written atomically).

A geophysicist judges a generated pair by eye first: the map, its shot gather, what
Devito makes of the map, and the difference on the same colour scale.  Gathers are
drawn with time down and a symmetric clip at the 98th percentile of the modelled
record, as on a seismic display.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from geogen.acquisition import Acquisition
from geogen.run.atomic import atomic_path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, target: Path) -> Path:
    target = Path(target)
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=110, format=target.suffix.lstrip(".") or "png")
    finally:
        _plt().close(fig)
    return target


def pairs_sheet(velocity: np.ndarray, seismic: np.ndarray, modelled: np.ndarray, acquisition: Acquisition,
                target: Path, *, shot: int | None = None) -> Path:
    """One row per pair: velocity map, stored gather, Devito gather, difference (same clip)."""
    plt = _plt()
    a = acquisition
    n = velocity.shape[0]
    shot = a.n_sources // 2 if shot is None else shot
    fig, axes = plt.subplots(n, 4, figsize=(13, 3.0 * n), squeeze=False)
    x_end, z_end, t_end = (a.nx - 1) * a.dx, (a.nz - 1) * a.dz, (a.nt - 1) * a.dt
    r0, r1 = min(a.receiver_x), max(a.receiver_x)
    for i in range(n):
        ref = modelled[i, shot]
        clip = float(np.percentile(np.abs(ref), 98)) or 1.0
        im = axes[i, 0].imshow(velocity[i], cmap="jet", vmin=a.vmin, vmax=a.vmax, extent=(0, x_end, z_end, 0),
                               aspect="auto")
        fig.colorbar(im, ax=axes[i, 0], label="m/s")
        stored = seismic[i, shot]
        panels = ((stored, f"stored seismic (peak {np.abs(stored).max():.3g})"),
                  (ref, f"Devito (peak {np.abs(ref).max():.3g})"), (stored - ref, "stored - Devito"))
        for j, (img, title) in enumerate(panels, start=1):
            axes[i, j].imshow(img, cmap="gray", vmin=-clip, vmax=clip, extent=(r0, r1, t_end, 0), aspect="auto")
            rel = np.linalg.norm(seismic[i] - modelled[i]) / (np.linalg.norm(modelled[i]) or 1.0)
            axes[i, j].set_title(f"{title}" + (f" (rel L2 {rel:.3f})" if j == 3 else ""), fontsize=9)
            axes[i, j].set_xlabel("receiver x (m)")
            axes[i, j].set_ylabel("time (s)")
        axes[i, 0].set_title(f"pair {i}: velocity", fontsize=9)
        axes[i, 0].set_xlabel("x (m)")
        axes[i, 0].set_ylabel("z (m)")
    fig.suptitle(f"generated pairs, shot at x = {a.source_x[shot]:g} m; gathers clipped at the 98th percentile "
                 "of the Devito record", fontsize=10)
    fig.tight_layout()
    return _save(fig, target)


def physics_histogram(validation: dict[str, Any], target: Path, *, store: Any = None) -> Path:
    """Histograms of per-pair relative L2, whole record and scattered part: generated beside the floor.

    The trivial generator (direct wave alone) scores exactly 1 on the scattered part; a
    dashed line marks it.
    """
    plt = _plt()
    keys = [k for k in ("physics_rel_l2", "scattered_rel_l2")
            if (store is not None and k in store) or k in validation.get("floor", {}).get("per_sample", {})]
    keys = keys or ["physics_rel_l2"]
    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        series = []
        if store is not None and key in store:
            series.append(("generated", np.asarray(store[key].values, dtype=np.float64)))
        floor = validation.get("floor", {}).get("per_sample", {}).get(key)
        if floor:
            series.append(("autoencoder floor (held-out real)", np.asarray(floor, dtype=np.float64)))
        values = np.concatenate([v for _, v in series]) if series else np.zeros(1)
        values = values[np.isfinite(values)]
        bins = np.linspace(0.0, max(float(values.max()) if values.size else 1.0, 1e-3), 30)
        for label, v in series:
            ax.hist(v[np.isfinite(v)], bins=bins, alpha=0.6, label=f"{label} (median {np.nanmedian(v):.3f})")
        if key == "scattered_rel_l2":
            ax.axvline(1.0, color="k", linestyle="--", linewidth=1, label="direct wave alone (trivial)")
        ax.set_xlabel("relative L2 against Devito, " + ("scattered part" if key == "scattered_rel_l2"
                                                        else "whole record"))
        ax.set_ylabel("pairs")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, target)


def training_curves(metrics_jsonl: Path, target: Path) -> Path | None:
    """One panel per training stage of ``metrics.jsonl``: every numeric series vs step/epoch."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for line in Path(metrics_jsonl).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption
        stage = str(row.get("stage", "training"))
        x = row.get("step", row.get("epoch"))
        if not isinstance(x, (int, float)):
            continue
        for key, value in row.items():
            if key in ("stage", "step", "epoch", "time", "seconds", "elapsed_s", "lr") or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault(stage, {}).setdefault(key, []).append((float(x), float(value)))
    if not series:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3.4), squeeze=False)
    for ax, (stage, curves) in zip(axes[0], series.items()):
        for key, points in curves.items():
            xs, ys = zip(*points)
            ax.plot(xs, ys, label=key)
        if all(y > 0 for pts in curves.values() for _, y in pts):
            ax.set_yscale("log")
        ax.set_title(stage)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, target)


def loss_curves(curves: dict[str, list[float]], target: Path) -> Path:
    """InversionNet's L1 training loss per configuration (moving average over 20 steps)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, curve in curves.items():
        c = np.asarray(curve, dtype=np.float64)
        k = min(20, max(1, c.size))
        smooth = np.convolve(c, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(smooth.size) + k, smooth, label=name)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("L1 loss on [-1, 1] velocity")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, target)
