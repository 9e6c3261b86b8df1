"""``generate()``: sample new velocity/seismic pairs from a trained run into a ``pairs`` store.

The store is in physical units with the training data's acquisition, so that the
physics check and the exporters treat it like simulated data; its attributes record
the checkpoint, sampler, steps and seed that reproduce it.  Sampling runs in batches
and the store is written atomically (a failed run leaves no half store).
"""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from geogen.data.datasets import pairs_dataset
from geogen.data.store import write_store
from geogen.errors import InputError


def generate(
    run_dir: str | os.PathLike[str],
    n: int,
    out: str | os.PathLike[str],
    *,
    steps: int = 50,
    sampler: str = "ddim",
    seed: int = 0,
    batch_size: int = 64,
    device: str | None = None,
) -> xr.Dataset:
    """Draw ``n`` pairs with the EMA denoiser and write them to ``out`` (kind ``pairs``, origin ``generated``)."""
    from geogen.models.ubdiff import UBDiff

    if n < 1:
        raise InputError(f"--n {n}: ask for at least one pair")
    if steps < 1:
        raise InputError(f"--steps {steps}: use at least one sampling step")
    if batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be at least 1")
    if sampler not in ("ddim", "ancestral"):
        raise InputError(f"--sampler {sampler!r}: choose ddim or ancestral")
    model = UBDiff.load(run_dir, device=device)
    velocity, seismic = model.sample(n, steps=steps, sampler=sampler, seed=seed, batch_size=batch_size)
    ds = pairs_dataset(velocity, seismic, model.acquisition, origin="generated",
                       attrs={"checkpoint": str(Path(model.checkpoint).resolve()), "sampler": sampler,
                              "steps": int(steps), "seed": int(seed),
                              "seismic_decoder": model.config.seismic_decoder})
    chunks = {"velocity": {"sample": 64}, "seismic": {"sample": 4}}
    write_store(ds, out, kind="pairs", chunks=chunks)
    return ds
