"""Cosine noise schedule and the v-prediction algebra of the latent diffusion.

With ``alpha_bar(t)`` the cumulative signal fraction, a noisy latent is
``x_t = a x0 + s eps`` with ``a = sqrt(alpha_bar)``, ``s = sqrt(1 - alpha_bar)``.
The network predicts ``v = a eps - s x0`` (Salimans & Ho), from which both ``x0`` and
``eps`` follow exactly; the loss on v is weighted by ``snr / (snr + 1)``, as the
paper does, which balances the very noisy and nearly clean steps.
"""

from __future__ import annotations

import math

import torch


class CosineSchedule:
    """Discrete cosine schedule over ``timesteps`` steps (Nichol & Dhariwal, offset 0.008)."""

    def __init__(self, timesteps: int = 256, offset: float = 0.008, max_beta: float = 0.999) -> None:
        self.timesteps = int(timesteps)
        steps = torch.arange(self.timesteps + 1, dtype=torch.float64) / self.timesteps
        f = torch.cos((steps + offset) / (1 + offset) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        self.alpha_bar = torch.cumprod(1 - betas, dim=0)  # float64, index t = 0..T-1

    def coefficients(self, t: torch.Tensor, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, s)`` at integer steps ``t`` as float32 column vectors."""
        ab = self.alpha_bar.to(t.device)[t]
        a, s = ab.sqrt().float(), (1 - ab).sqrt().float()
        return a.unsqueeze(-1), s.unsqueeze(-1)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar.to(t.device)[t]
        return (ab / (1 - ab)).float()


def q_sample(schedule: CosineSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    a, s = schedule.coefficients(t)
    return a * x0 + s * noise


def v_target(schedule: CosineSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    a, s = schedule.coefficients(t)
    return a * noise - s * x0


def split_prediction(schedule_ab: torch.Tensor, x_t: torch.Tensor, pred: torch.Tensor, objective: str
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0, eps)`` from the network output, given ``alpha_bar`` per row (column vector)."""
    a, s = schedule_ab.sqrt(), (1 - schedule_ab).sqrt()
    if objective == "v":
        x0 = a * x_t - s * pred
        eps = s * x_t + a * pred
    elif objective == "eps":
        eps = pred
        x0 = (x_t - s * eps) / a
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return x0, eps


def diffusion_loss(model: torch.nn.Module, schedule: CosineSchedule, x0: torch.Tensor, objective: str = "v",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Weighted MSE of one random step per sample (v: weight snr/(snr+1); eps: weight 1)."""
    b = x0.shape[0]
    t = torch.randint(0, schedule.timesteps, (b,), generator=generator, device="cpu").to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device="cpu").to(x0.device, x0.dtype)
    x_t = q_sample(schedule, x0, t, noise)
    pred = model(x_t, t)
    if objective == "v":
        target, snr = v_target(schedule, x0, t, noise), schedule.snr(t)
        weight = snr / (snr + 1)
    else:
        target, weight = noise, torch.ones(b, device=x0.device)
    per_sample = ((pred.float() - target) ** 2).mean(dim=-1)
    return (per_sample * weight).mean()
