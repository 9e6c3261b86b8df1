"""CNN velocity decoder: the velocity latent back to a (nz, nx) map in [-1, 1].

The published decoder grows 5 -> 10 -> 20 -> 40 -> 80 by transposed convolutions and
crops to 70.  The starting size is derived from the acquisition here (ceil of the map
size over 2**stages), so the same code crops 80 to 70 for OpenFWI and 32 to 32 for
the small preset.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def up_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    )


class VelocityDecoder(nn.Module):
    """``(B, in_dim)`` -> ``(B, nz, nx)`` in [-1, 1]."""

    def __init__(self, in_dim: int, shape: tuple[int, int], channels: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        self.shape = (int(shape[0]), int(shape[1]))
        widths = list(reversed(list(channels)))
        stages = len(widths)
        self.start = tuple(max(1, math.ceil(s / 2**stages)) for s in self.shape)
        self.project = nn.Linear(in_dim, widths[0] * self.start[0] * self.start[1])
        blocks = []
        for i in range(stages):
            cout = widths[i + 1] if i + 1 < stages else max(widths[-1] // 2, 8)
            blocks.append(up_block(widths[i], cout))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(max(widths[-1] // 2, 8) if stages else widths[0], 1, 3, padding=1)
        self.width0 = widths[0]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.project(h).view(h.shape[0], self.width0, *self.start)
        x = self.blocks(x)
        nz, nx = self.shape
        top = (x.shape[-2] - nz) // 2
        left = (x.shape[-1] - nx) // 2
        x = x[..., top:top + nz, left:left + nx]
        return torch.tanh(self.out(x)).squeeze(1)
