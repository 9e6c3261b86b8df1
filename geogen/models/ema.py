"""Exponential moving average of weights: the copy that generation samples with.

The published code trains an EMA but samples with the raw weights; here the EMA copy
is what checkpoints hand to :class:`~geogen.models.ubdiff.UBDiff`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Shadow weights ``w <- d w + (1 - d) w_model`` with a short warm-up of ``d``."""

    def __init__(self, model: nn.Module, decay: float = 0.995) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1 - d)
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
