"""The two small heads that split the co-latent into a velocity and a seismic latent.

UB-Diff shares one co-latent between the modalities; each decoder reads it through
its own linear map so that step 2 can adapt the seismic side without touching the
velocity side (and, with the freeze flag, without moving the encoder at all).
"""

from __future__ import annotations

import torch
from torch import nn


class LatentHead(nn.Module):
    """Linear map of the co-latent, followed by a LeakyReLU."""

    def __init__(self, latent_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(latent_dim, out_dim or latent_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(self.linear(z), 0.2)
