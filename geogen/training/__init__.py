"""Training UB-Diff: step 1 (encoder + velocity decoder), step 2 (seismic decoder), step 3 (latent diffusion).

``train`` is imported lazily so that ``geogen.training.config`` (used by the workflow
schema) loads without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        from geogen.training.trainer import train

        return train
    raise AttributeError(f"module 'geogen.training' has no attribute {name!r}")
