"""InversionNet (OpenFWI's baseline network), scaled to any acquisition.

Input: a normalised record ``(source, time, receiver)``; output: a velocity map
``(nz, nx)`` on [-1, 1].  As in OpenFWI the encoder is Conv-BN-LeakyReLU blocks that
first stride over time only (a record is far longer in time than wide in receivers),
until time and receiver axes are of similar length, then stride over both down to a
few cells, and a last convolution as large as what remains gives a 1 x 1 latent.  The
decoder is transposed-convolution blocks from that latent to a ``ceil(n / 16)`` seed
doubled four times, centre-cropped to ``(nz, nx)``, and a Conv-BN-Tanh head.  On the
OpenFWI geometry this reproduces the published layer sizes: 1000 x 70 -> 63 x 70 ->
8 x 9 -> 1 x 1; 1 x 1 -> 5 x 5 -> 80 x 80 -> 70 x 70.  ``width`` scales every channel
count (OpenFWI: 32 -> 512; CPU runs use fewer).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _block(
    cin: int, cout: int, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)
    )


def _up(cin: int, cout: int, kernel: int | tuple[int, int], stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2, inplace=True))


def _halve(n: int) -> int:
    return (n - 1) // 2 + 1  # a stride-2, kernel-3, padding-1 convolution (ceil(n / 2))


class InversionNet(nn.Module):
    """Record ``(S, T, R)`` -> velocity ``(nz, nx)`` on [-1, 1] (Tanh)."""

    def __init__(self, n_sources: int, nt: int, n_receivers: int, nz: int, nx: int, *, width: int = 32) -> None:
        super().__init__()
        self.shape_in, self.shape_out = (n_sources, nt, n_receivers), (nz, nx)
        c = [width, 2 * width, 4 * width, 8 * width, 16 * width]  # OpenFWI: 32, 64, 128, 256, 512
        layers: list[nn.Module] = []
        t, r = nt, n_receivers
        # time-only strides: 7x1 first (as OpenFWI), then 3x1 pairs, while time is >= 1.5x receivers
        layers.append(_block(n_sources, c[0], (7, 1), (2, 1), (3, 0)))
        t, ch = _halve(t), c[0]
        time_stages = max(0, round(math.log2(nt / max(n_receivers, 1))) - 1)
        for i in range(time_stages):
            out = c[1] if i < 2 else c[2]
            layers += [_block(ch, out, (3, 1), (2, 1), (1, 0)), _block(out, out, (3, 1), (1, 1), (1, 0))]
            t, ch = _halve(t), out
        # strides over both axes down to at most ~9 cells, growing the channels
        widths = iter([c[2], c[3], c[3]] + [c[3]] * 8)
        while min(t, r) > 9 or max(t, r) > 16:
            out = next(widths)
            layers += [_block(ch, out, (3, 3), (2, 2), (1, 1)), _block(out, out, (3, 3), (1, 1), (1, 1))]
            t, r, ch = _halve(t), _halve(r), out
        layers.append(_block(ch, c[4], (t, r), (1, 1), (0, 0)))  # whole remaining field -> 1 x 1
        self.encoder = nn.Sequential(*layers)

        sz, sx = math.ceil(nz / 16), math.ceil(nx / 16)
        ups: list[nn.Module] = [_up(c[4], c[4], (sz, sx), 1, 0), _block(c[4], c[4], (3, 3), (1, 1), (1, 1))]
        chans = [c[4], c[3], c[2], c[1], c[0]]
        for cin, cout in zip(chans[:-1], chans[1:]):
            ups += [_up(cin, cout, 4, 2, 1), _block(cout, cout, (3, 3), (1, 1), (1, 1))]
        self.decoder = nn.Sequential(*ups)
        self.head = nn.Sequential(nn.Conv2d(c[0], 1, 3, 1, 1), nn.BatchNorm2d(1), nn.Tanh())
        self._crop = (16 * sz - nz, 16 * sx - nx)

    def forward(self, record: torch.Tensor) -> torch.Tensor:
        """``(batch, S, T, R)`` -> ``(batch, nz, nx)``."""
        x = self.decoder(self.encoder(record))
        dz, dx = self._crop
        nz, nx = self.shape_out
        x = x[..., dz // 2: dz // 2 + nz, dx // 2: dx // 2 + nx]
        return self.head(x)[:, 0]


def optimiser(net: nn.Module, *, lr: float = 1e-4, weight_decay: float = 1e-4) -> torch.optim.Optimizer:
    """OpenFWI's optimiser: AdamW, lr 1e-4, weight decay 1e-4 (loss: L1)."""
    return torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
