"""Velocity encoder: a velocity map (z, x) to the co-latent z of size c, in [-1, 1].

The published encoder is a Conv-BN-ReLU stack fixed to 70 x 70 input.  Here each
stage halves the map with a strided convolution and an adaptive pool brings any map
size to a fixed 4 x 4 grid before the projection, so both presets (and any other
grid) share one design.  Tanh keeps the co-latent bounded, which the diffusion
model relies on (its samples are clipped to the same range).
"""

from __future__ import annotations

import torch
from torch import nn

POOLED = 4  # spatial size before the projection to the latent


def conv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class VelocityEncoder(nn.Module):
    """``(B, nz, nx)`` normalised velocity -> ``(B, latent_dim)`` co-latent."""

    def __init__(self, latent_dim: int, channels: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for cout in channels:
            layers += [conv_block(cin, cout, 2), conv_block(cout, cout, 1)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        self.project = nn.Linear(cin * POOLED * POOLED, latent_dim)

    def forward(self, velocity: torch.Tensor) -> torch.Tensor:
        h = self.features(velocity.unsqueeze(1))
        return torch.tanh(self.project(self.pool(h).flatten(1)))
