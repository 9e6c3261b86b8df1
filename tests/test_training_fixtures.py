"""Small stores and tiny configurations shared by the model, training and generation tests.

The maps are layered velocity models with a dipping interface; the "seismic" of a
pair is a cheap deterministic function of its map (reflection-like spikes at each
interface depth, smeared across receivers), not physics: enough for a network to
learn something in a few steps, and fast to write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import write_store
from geogen.training.config import DiffusionConfig, ModelConfig, SplitConfig, Step1Config, Step2Config, TrainingConfig


def layered_maps(n: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nz, nx = shape
    z = np.arange(nz)[:, None] * np.ones((1, nx))
    x = np.ones((nz, 1)) * np.arange(nx)[None, :]
    out = np.empty((n, nz, nx), np.float32)
    for i in range(n):
        v = np.full((nz, nx), rng.uniform(1500, 2200))
        for _ in range(rng.integers(1, 4)):
            depth = rng.uniform(0.2, 0.9) * nz + rng.uniform(-0.2, 0.2) * (x - nx / 2)
            v = np.where(z > depth, v + rng.uniform(300, 900), v)
        out[i] = np.clip(v, 1500, 4500)
    return out


def fake_seismic(velocity: np.ndarray, acq: Acquisition) -> np.ndarray:
    """A deterministic record per map: one arrival per interface, hyperbolic moveout."""
    n = velocity.shape[0]
    s, t, r = acq.seismic_shape
    out = np.zeros((n, s, t, r), np.float32)
    rx = np.asarray(acq.receiver_x)
    for i in range(n):
        trace = velocity[i][:, acq.nx // 2]
        jumps = np.flatnonzero(np.diff(trace) > 1) + 1
        for k, sx in enumerate(acq.source_x):
            for j in jumps:
                depth = j * acq.dz
                time = 2 * np.sqrt(depth**2 + ((rx - sx) / 2) ** 2) / trace[j - 1]
                idx = np.clip((time / acq.dt).astype(int), 0, t - 1)
                out[i, k, idx, np.arange(r)] += 0.05 * (trace[j] - trace[j - 1]) / 1000
    return out


def write_stores(root: Path, *, n_velocity: int = 48, n_pairs: int = 20, acq: Acquisition | None = None,
                 seed: int = 0) -> tuple[Path, Path]:
    """A velocity store and a pairs store whose first ``n_pairs`` maps are shared, as geogen synth makes them."""
    acq = acq or Acquisition.preset("small")
    maps = layered_maps(n_velocity, acq.shape, seed)
    vstore = write_store(velocity_dataset(maps, dz=acq.dz, dx=acq.dx), root / "velocity.zarr",
                         chunks={"velocity": {"model": 16}})
    pv = maps[:n_pairs]
    pstore = write_store(pairs_dataset(pv, fake_seismic(pv, acq), acq, origin="simulated"), root / "pairs.zarr",
                         chunks={"velocity": {"sample": 8}, "seismic": {"sample": 8}})
    return vstore, pstore


def tiny_model(**kw) -> ModelConfig:
    base = dict(latent_dim=16, encoder_channels=[8, 16], transformer_dim=32, transformer_depth=1,
                transformer_heads=2, patch_time=50, denoiser_width=64, denoiser_depth=2)
    base.update(kw)
    return ModelConfig(**base)


def tiny_training(*, epochs: int = 2, diffusion_steps: int = 30, freeze: bool = True, seed: int = 0) -> TrainingConfig:
    return TrainingConfig(
        step1=Step1Config(epochs=epochs, batch_size=8, lr=2e-3),
        step2=Step2Config(epochs=epochs, batch_size=4, lr=2e-3, freeze=freeze),
        diffusion=DiffusionConfig(timesteps=64, steps=diffusion_steps, batch_size=16, lr=1e-3, eval_every=10),
        device="cpu", seed=seed, threads=1,
    )


SPLITS = SplitConfig(validation=0.2, test=0.2, seed=0)
