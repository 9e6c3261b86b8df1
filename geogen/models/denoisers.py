"""Denoisers of the latent diffusion: a residual MLP (default) and the paper's 1-D U-Net.

The co-latent is an unordered vector: neighbouring entries mean nothing to each other,
so a convolution along it (the published 1-D U-Net, 21 M parameters) spends its
capacity on a structure that is not there.  A residual MLP with a FiLM-style time
embedding sees every entry at once and is much cheaper per sampling step; the U-Net
remains as an option for comparison.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps, ``(B,) -> (B, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class _ResBlock(nn.Module):
    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(emb_dim, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb).chunk(2, dim=-1)
        h = self.norm(x) * (1 + scale) + shift
        return x + self.fc2(nn.functional.silu(self.fc1(nn.functional.silu(h))))


class MLPDenoiser(nn.Module):
    """Residual MLP over the latent vector, conditioned on the step by FiLM."""

    def __init__(self, latent_dim: int, width: int = 512, depth: int = 6) -> None:
        super().__init__()
        self.emb_dim = width
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.inp = nn.Linear(latent_dim, width)
        self.blocks = nn.ModuleList(_ResBlock(width, width) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.emb_dim))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.norm(h))


class _ConvRes1d(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, cout), cout)
        self.norm2 = nn.GroupNorm(min(8, cout), cout)
        self.emb = nn.Linear(emb_dim, cout)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = nn.functional.silu(self.norm1(self.conv1(x))) + self.emb(emb).unsqueeze(-1)
        h = nn.functional.silu(self.norm2(self.conv2(h)))
        return h + self.skip(x)


class UNet1DDenoiser(nn.Module):
    """The paper's choice: the latent as a 1-channel sequence through a 1-D U-Net."""

    def __init__(self, latent_dim: int, base: int = 64, mults: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.emb_dim = base * 4
        self.time = nn.Sequential(nn.Linear(base, self.emb_dim), nn.SiLU(), nn.Linear(self.emb_dim, self.emb_dim))
        self.base = base
        self.inp = nn.Conv1d(1, base, 3, padding=1)
        widths = [base * m for m in mults]
        self.down = nn.ModuleList()
        cin = base
        for w in widths:
            self.down.append(_ConvRes1d(cin, w, self.emb_dim))
            cin = w
        self.mid = _ConvRes1d(cin, cin, self.emb_dim)
        self.up = nn.ModuleList()
        for w in reversed(widths):
            self.up.append(_ConvRes1d(cin + w, w, self.emb_dim))
            cin = w
        self.out = nn.Conv1d(cin, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.base))
        h = self.inp(x.unsqueeze(1))
        skips, sizes = [], []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            sizes.append(h.shape[-1])
            if i < len(self.down) - 1:
                h = nn.functional.avg_pool1d(h, 2, ceil_mode=True)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            h = (
                nn.functional.interpolate(h, size=skip.shape[-1], mode="nearest")
                if h.shape[-1] != skip.shape[-1]
                else h
            )
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(h).squeeze(1)


def build_denoiser(kind: str, latent_dim: int, *, width: int = 512, depth: int = 6) -> nn.Module:
    if kind == "mlp":
        return MLPDenoiser(latent_dim, width, depth)
    if kind == "unet1d":  # base channels scale with the configured width (512 -> 64)
        return UNet1DDenoiser(latent_dim, base=max(8, width // 8))
    raise ValueError(f"unknown denoiser {kind!r}; choose mlp or unet1d")
