"""``generate()``: sample new velocity/seismic pairs from a trained run into a ``pairs`` store.

The store is in physical units with the training data's acquisition, so that the
physics check and the exporters treat it like simulated data; its attributes record
the checkpoint, sampler, steps and seed that reproduce it.  Sampling runs in batches
and the store is written atomically (a failed run leaves no half store).

:class:`SamplingConfig` holds the sampling settings and their defaults, once: ``geogen
generate`` builds it from its options, the workflow's ``generation`` section is one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from geogen.errors import InputError
from geogen.models.config import StrictConfig

if TYPE_CHECKING:
    import xarray as xr

SAMPLERS = ("ddim", "ancestral")


class SamplingConfig(StrictConfig):
    """How pairs are drawn from a trained model."""

    sampler: Literal["ddim", "ancestral"] = Field("ddim", description="reverse process")
    steps: int = Field(50, gt=0, description="denoising steps")
    seed: int = Field(0, description="seed of the initial noise")
    batch_size: int = Field(64, gt=0)


def sampling_config(config: SamplingConfig | None = None, **settings: Any) -> SamplingConfig:
    """``config`` (default: the defaults) with ``settings`` (those not None) put over it; a bad value is one
    :class:`InputError` naming its setting."""
    data = {k: v for k, v in (config.model_dump() if config is not None else {}).items()
            if k in SamplingConfig.model_fields}
    data.update({k: v for k, v in settings.items() if v is not None})
    if data.get("sampler", "ddim") not in SAMPLERS:
        raise InputError(f"sampler {data['sampler']!r}: choose ddim or ancestral", setting="sampler")
    if int(data.get("steps", 1)) < 1:
        raise InputError(f"steps {data['steps']}: use at least one sampling step", setting="steps")
    if int(data.get("batch_size", 1)) < 1:
        raise InputError(f"batch_size {data['batch_size']}: must be at least 1", setting="batch_size")
    return SamplingConfig.model_validate(data)


def generate(
    run_dir: str | os.PathLike[str],
    n: int,
    out: str | os.PathLike[str],
    config: SamplingConfig | None = None,
    *,
    device: str | None = None,
    **settings: Any,
) -> xr.Dataset:
    """Draw ``n`` pairs with the EMA denoiser and write them to ``out`` (kind ``pairs``, origin ``generated``).

    ``settings`` (``steps``, ``sampler``, ``seed``, ``batch_size``) override fields of ``config``.
    """
    from geogen.data.datasets import pairs_dataset
    from geogen.data.store import open_store, write_store_parts
    from geogen.models.ubdiff import UBDiff

    if n < 1:
        raise InputError(f"n = {n}: ask for at least one pair", setting="n")
    cfg = sampling_config(config, **settings)
    model = UBDiff.load(run_dir, device=device)
    attrs = {"checkpoint": str(Path(model.checkpoint).resolve()), "sampler": cfg.sampler, "steps": int(cfg.steps),
             "seed": int(cfg.seed), "seismic_decoder": model.config.seismic_decoder}
    batches = model.sample_batches(n, steps=cfg.steps, sampler=cfg.sampler, seed=cfg.seed, batch_size=cfg.batch_size)

    def parts() -> Iterator[xr.Dataset]:  # each batch is written away before the next is drawn
        start = 0
        for velocity, seismic in batches:
            yield pairs_dataset(velocity, seismic, model.acquisition, origin="generated", attrs=attrs,
                                sample=np.arange(start, start + len(velocity), dtype=np.int64))
            start += len(velocity)

    chunks = {"velocity": {"sample": 64}, "seismic": {"sample": 4}}
    write_store_parts(parts(), out, kind="pairs", chunks=chunks)
    return open_store(out, kind="pairs")
