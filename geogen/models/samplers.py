"""Samplers of the latent diffusion: ancestral (DDPM) and deterministic DDIM.

Both walk a decreasing subsequence of the training steps; with ``steps < T`` the
ancestral sampler uses the respaced posterior (beta recomputed between the visited
steps), and DDIM (eta = 0) follows the deterministic path that reaches similar
quality in 50 steps instead of 256.  Noise comes from one generator *per sample*,
seeded from ``(seed, sample index)``, so a sample does not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from geogen.models.schedule import CosineSchedule, split_prediction


def step_sequence(timesteps: int, steps: int) -> list[int]:
    """``steps`` distinct training steps from ``T-1`` down to 0, evenly spaced."""
    steps = max(1, min(int(steps), timesteps))
    seq = torch.linspace(timesteps - 1, 0, steps).round().long().tolist()
    out: list[int] = []
    for s in seq:
        if not out or s != out[-1]:
            out.append(int(s))
    return out


def _noise(generators: Sequence[torch.Generator], dim: int, device: torch.device) -> torch.Tensor:
    return torch.stack([torch.randn(dim, generator=g) for g in generators]).to(device)


@torch.no_grad()
def sample_latents(
    model: torch.nn.Module,
    schedule: CosineSchedule,
    generators: Sequence[torch.Generator],
    dim: int,
    *,
    steps: int = 50,
    sampler: str = "ddim",
    objective: str = "v",
    clip: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Draw one latent per generator; ``clip`` bounds the predicted x0 elementwise."""
    if sampler not in ("ddim", "ancestral"):
        raise ValueError(f"unknown sampler {sampler!r}; choose ddim or ancestral")
    device = torch.device(device)
    eta = 0.0 if sampler == "ddim" else 1.0
    ab_all = schedule.alpha_bar.to(device)
    seq = step_sequence(schedule.timesteps, steps)
    x = _noise(generators, dim, device)
    n = x.shape[0]
    for i, t in enumerate(seq):
        ab = ab_all[t].float().expand(n, 1)
        ab_prev = ab_all[seq[i + 1]].float().expand(n, 1) if i + 1 < len(seq) else torch.ones_like(ab)
        pred = model(x, torch.full((n,), t, device=device, dtype=torch.long)).float()
        x0, _ = split_prediction(ab, x, pred, objective)
        if clip is not None:
            x0 = torch.maximum(torch.minimum(x0, clip[1]), clip[0])
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # consistent with the clipped x0
        if i + 1 == len(seq):
            x = x0
            break
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).clamp(min=0).sqrt()
        direction = (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        x = ab_prev.sqrt() * x0 + direction
        if eta > 0:
            x = x + sigma * _noise(generators, dim, device)
    return x
