"""Feature networks for the Fréchet feature distance, trained on REAL data only.

No pretrained image network can be downloaded here, and the model being judged must
never judge itself, so each modality gets its own small convolutional autoencoder
trained on the real data of the run (velocity maps, or recorded/simulated records);
its bottleneck is the feature vector.  Inputs are brought to a fixed 64 x 64 grid by
area averaging so one architecture serves any acquisition; velocity is scaled to
[-1, 1] by the acquisition's range, records are log-compressed (OpenFWI) and divided by
the largest log amplitude of the real set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from geogen.evaluation.metrics import log_record, velocity_to_unit

Modality = Literal["velocity", "seismic"]
GRID = 64


class FeatureNet(nn.Module):
    """Conv autoencoder: (C, H, W) -> 64 x 64 -> ``dim`` features -> 64 x 64 reconstruction."""

    def __init__(self, in_channels: int, dim: int = 32, width: int = 16) -> None:
        super().__init__()
        self.in_channels, self.dim, self.width = in_channels, dim, width
        w = width
        act = nn.LeakyReLU(0.2)
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, 2, 1), act,          # 32
            nn.Conv2d(w, 2 * w, 3, 2, 1), act,                 # 16
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1), act,             # 8
            nn.Conv2d(4 * w, 4 * w, 3, 2, 1), act,             # 4
            nn.Flatten(), nn.Linear(4 * w * 16, dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(dim, 4 * w * 16), act, nn.Unflatten(1, (4 * w, 4, 4)),
            nn.ConvTranspose2d(4 * w, 4 * w, 4, 2, 1), act,    # 8
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), act,    # 16
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), act,        # 32
            nn.ConvTranspose2d(w, in_channels, 4, 2, 1),       # 64
        )

    @staticmethod
    def to_grid(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, (GRID, GRID)) if x.shape[-2:] != (GRID, GRID) else x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        target = self.to_grid(x)
        z = self.encoder(target)
        return z, self.decoder(z), target


@dataclass
class FeatureSpace:
    """A trained feature network plus the scaling that prepares its inputs."""

    modality: Modality
    net: FeatureNet
    vmin: float = 1500.0
    vmax: float = 4500.0
    log_bound: float = 1.0
    final_loss: float = float("nan")

    def prepare(self, data: np.ndarray) -> np.ndarray:
        """Physical data -> network input ``(n, C, H, W)`` float32."""
        x = np.asarray(data)
        if self.modality == "velocity":
            return velocity_to_unit(x, self.vmin, self.vmax)[:, None]
        return (log_record(x) / self.log_bound).astype(np.float32)

    @torch.no_grad()
    def features(self, data: np.ndarray, *, batch_size: int = 128) -> np.ndarray:
        """``(n, dim)`` feature vectors of physical data (velocity m/s or records)."""
        self.net.eval()
        x = self.prepare(data)
        out = [self.net(torch.from_numpy(x[i:i + batch_size]))[0].numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float64)

    def save(self, path: str | Path) -> None:
        meta = {"modality": self.modality, "in_channels": self.net.in_channels, "dim": self.net.dim,
                "width": self.net.width, "vmin": self.vmin, "vmax": self.vmax, "log_bound": self.log_bound,
                "final_loss": self.final_loss}
        torch.save({"meta": meta, "state": self.net.state_dict()}, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSpace":
        blob = torch.load(Path(path), weights_only=True, map_location="cpu")
        m = blob["meta"]
        net = FeatureNet(m["in_channels"], m["dim"], m["width"])
        net.load_state_dict(blob["state"])
        return cls(m["modality"], net, m["vmin"], m["vmax"], m["log_bound"], m["final_loss"])


def fit_feature_space(modality: Modality, real: np.ndarray, *, vmin: float = 1500.0, vmax: float = 4500.0,
                      dim: int = 32, epochs: int = 40, batch_size: int = 64, lr: float = 2e-3,
                      seed: int = 0) -> FeatureSpace:
    """Train the autoencoder of one modality on real data only and return its feature space.

    ``real`` is velocity ``(n, nz, nx)`` in m/s or records ``(n, S, T, R)``.  Loss: mean
    squared reconstruction error of the 64 x 64 averaged input.
    """
    real = np.asarray(real)
    if real.shape[0] < 2:
        raise ValueError(f"a feature network needs at least two real {modality} samples, got {real.shape[0]}")
    bound = 1.0
    if modality == "seismic":
        bound = float(np.abs(log_record(real)).max()) or 1.0
    channels = 1 if modality == "velocity" else real.shape[1]
    torch.manual_seed(seed)
    space = FeatureSpace(modality, FeatureNet(channels, dim), vmin, vmax, bound)
    x = torch.from_numpy(space.prepare(real))
    opt = torch.optim.Adam(space.net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    space.net.train()
    loss_value = float("nan")
    for _ in range(epochs):
        total, count = 0.0, 0
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            _, recon, target = space.net(x[idx])
            loss = F.mse_loss(recon, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        loss_value = total / count
    space.final_loss = loss_value
    space.net.eval()
    return space
