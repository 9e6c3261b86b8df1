"""Seismic decoders: the seismic latent to a record ``(source, time, receiver)`` in [-1, 1].

Two variants:

* :class:`TransformerSeismicDecoder` (default): a Transformer over *record patches*.
  Each token is one source's span of ``patch_time`` samples across all receivers;
  the tokens carry learned source and time-position embeddings, attend to each other
  (so arrivals stay coherent along time and between shots) and see the latent in
  every block, by adaLN modulation (default) or by cross-attention to a few memory
  tokens (the first design).  One shared projection turns every token into its patch,
  so the parameter count does not grow with the record size: the OpenFWI geometry
  needs 50 tokens of 100 x 70 values, not a 224 M-parameter layer.

  Why the position embeddings start at std 1, not the usual 0.02: the tokens carry no
  content of their own, only ``position + projected latent``.  With std 0.02 the latent
  term dominates, LayerNorm makes the tokens of a record nearly the same vector, and
  (our reading) the decoder sits on the plateau "base record + a latent-dependent
  offset" instead of moving arrivals with the velocity.  Measured on the small preset,
  192 pairs, ~1000 steps: median physical relative L2 stuck at 0.291 with lr 3e-3 (also
  with 10-sample patches or an unfrozen encoder; lr 1e-3 left it only late, 0.215);
  std 1 alone: 0.15-0.18; std 1 + adaLN + warm-up/cosine: 0.12.
* :class:`LinearSeismicDecoder`: the published design, kept for comparison.  Its
  "Transformer" attends over just two tokens (a CLS token and one latent token), then a
  single Linear layer emits the whole record.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Block(nn.Module):
    """Pre-norm block: self-attention over patches, cross-attention to the latent, MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x)
        x = x + self.cross_attn(h, memory, memory, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


class _AdaLNBlock(nn.Module):
    """Pre-norm block whose every sub-layer is modulated by the latent (adaLN-Zero, as in DiT).

    The latent sets a per-channel shift and scale of each normalised input and a gate
    on each residual branch, so every token of every block sees the map directly
    rather than through a few softmax-averaged memory tokens.  The modulation starts
    at zero (identity scale and gate, no shift); with the decoder's zeroed output
    projection the first prediction is still exactly the base record.
    """

    def __init__(self, dim: int, heads: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.modulation = nn.Linear(cond_dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        s1, c1, g1, s2, c2, g2 = self.modulation(cond).unsqueeze(1).chunk(6, dim=-1)
        h = self.norm1(x) * (1 + c1) + s1
        x = x + (1 + g1) * self.attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + c2) + s2
        return x + (1 + g2) * self.mlp(h)


class TransformerSeismicDecoder(nn.Module):
    """``(B, in_dim)`` -> ``(B, S, T, R)``; tokens are (source, time-patch) pieces of the record."""

    def __init__(self, in_dim: int, seismic_shape: tuple[int, int, int], *, dim: int = 256, depth: int = 4,
                 heads: int = 8, patch_time: int = 25, memory_tokens: int = 8, conditioning: str = "adaln",
                 position_scale: float = 1.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer_dim {dim} is not divisible by transformer_heads {heads}")
        if conditioning not in ("adaln", "cross"):
            raise ValueError(f"unknown transformer conditioning {conditioning!r}; choose adaln or cross")
        self.conditioning = conditioning
        self.seismic_shape = tuple(int(s) for s in seismic_shape)
        n_src, nt, n_rec = self.seismic_shape
        self.patch_time = min(int(patch_time), nt)
        self.n_patches = math.ceil(nt / self.patch_time)
        self.memory_tokens = memory_tokens
        self.dim = dim
        self.source_embed = nn.Parameter(torch.randn(n_src, 1, dim) * position_scale)
        self.time_embed = nn.Parameter(torch.randn(1, self.n_patches, dim) * position_scale)
        self.query_from_latent = nn.Linear(in_dim, dim)
        if conditioning == "cross":
            self.memory = nn.Linear(in_dim, memory_tokens * dim)
            self.memory_pos = nn.Parameter(torch.randn(1, memory_tokens, dim) * 0.02)
            self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        else:
            self.cond = nn.Sequential(nn.Linear(in_dim, dim), nn.SiLU())
            self.blocks = nn.ModuleList(_AdaLNBlock(dim, heads, dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, self.patch_time * n_rec)
        # A learned base record (one value per source, sample and receiver): the direct
        # wave and the average arrivals sit at fixed positions in every record, so the
        # tokens only model what the velocity map changes.
        self.base = nn.Parameter(torch.zeros(n_src, nt, n_rec))

    @torch.no_grad()
    def set_base_record(self, record: torch.Tensor) -> None:
        """Start from predicting the mean training record (normalised): training learns only deviations.

        The output projection is zeroed too, so that the first prediction is exactly the
        mean rather than the mean plus the noise of a random projection.
        """
        self.base.copy_(record.reshape(self.base.shape))
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b = h.shape[0]
        n_src, nt, n_rec = self.seismic_shape
        pos = (self.source_embed + self.time_embed).reshape(1, n_src * self.n_patches, self.dim)
        x = pos + self.query_from_latent(h).unsqueeze(1)
        if self.conditioning == "cross":
            memory = self.memory(h).view(b, self.memory_tokens, self.dim) + self.memory_pos
        else:
            memory = self.cond(h)
        for block in self.blocks:
            x = block(x, memory)
        y = self.out(self.norm(x))  # (B, S*P, patch_time*R)
        y = y.view(b, n_src, self.n_patches * self.patch_time, n_rec)
        return y[:, :, :nt, :] + self.base


class LinearSeismicDecoder(nn.Module):
    """The published decoder: a two-token Transformer layer, then one Linear to the whole record."""

    def __init__(self, in_dim: int, seismic_shape: tuple[int, int, int], *, dim: int = 640, heads: int = 8) -> None:
        super().__init__()
        self.seismic_shape = tuple(int(s) for s in seismic_shape)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.embed = nn.Linear(in_dim, dim)
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, batch_first=True)
        self.out = nn.Linear(dim, math.prod(self.seismic_shape))

    @torch.no_grad()
    def set_base_record(self, record: torch.Tensor) -> None:
        """The same start as the Transformer's: zero weights, the output bias is the mean training record."""
        nn.init.zeros_(self.out.weight)
        self.out.bias.copy_(record.reshape(-1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([self.cls.expand(h.shape[0], -1, -1), self.embed(h).unsqueeze(1)], dim=1)
        cls = self.layer(tokens)[:, 0]
        return self.out(cls).view(h.shape[0], *self.seismic_shape)


def build_seismic_decoder(kind: str, in_dim: int, seismic_shape: tuple[int, int, int], **kw) -> nn.Module:
    if kind == "transformer":
        return TransformerSeismicDecoder(in_dim, seismic_shape, **kw)
    if kind == "linear":
        return LinearSeismicDecoder(in_dim, seismic_shape)
    raise ValueError(f"unknown seismic decoder {kind!r}; choose transformer or linear")


def fft_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """'Same' 1-D convolution of ``(N, cin, T)`` with ``(cout, cin, k)`` through the FFT.

    For the refiner's shapes (thousands of traces, few channels, tens of taps) PyTorch's
    CPU ``conv1d`` backward costs ~100 ms a batch; the FFT route costs a few ms.
    """
    nt, k = x.shape[-1], weight.shape[-1]
    n = nt + k - 1
    spectrum = torch.einsum("ncf,ocf->nof", torch.fft.rfft(x, n=n), torch.fft.rfft(weight, n=n))
    return torch.fft.irfft(spectrum, n=n)[..., k // 2: k // 2 + nt] + bias.view(1, -1, 1)


class PriorRefiner(nn.Module):
    """Adds the reflectivity prior's arrivals to a decoded record (both ``(B, S, T, R)``, normalised).

    Each prior channel (primaries, direct wave) is brought to the record's scale by a
    learned gain and the OpenFWI log compression; a small convolution along time over
    (record, primaries, direct wave), per trace, learns the waveform, amplitude and
    timing corrections the prior lacks and adds them to the record.  The output layer
    starts at zero, so training starts from the decoder alone.  ``channels = 0`` makes
    it one linear filter.
    """

    def __init__(self, channels: int = 8, kernel: int = 33, initial_gain: float = 300.0) -> None:
        super().__init__()
        kernel = kernel + 1 - kernel % 2
        self.channels = channels
        self.log_gain = nn.Parameter(torch.full((2,), math.log(initial_gain)))
        first = max(channels, 1)
        self.weight = nn.Parameter(torch.randn(first, 3, kernel) / math.sqrt(3 * kernel))
        self.bias = nn.Parameter(torch.zeros(first))
        if channels > 0:
            self.out = nn.Linear(channels, 1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        else:  # the single filter is the output: it starts at zero
            nn.init.zeros_(self.weight)

    def forward(self, record: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        b, n_src, nt, n_rec = record.shape
        p = prior.to(record.dtype) * self.log_gain.exp().to(record.dtype).view(1, 2, 1, 1, 1)
        p = torch.sign(p) * torch.log1p(p.abs())
        x = torch.cat([record.unsqueeze(1), p], 1).permute(0, 2, 4, 1, 3).reshape(b * n_src * n_rec, 3, nt)
        h = fft_conv(x.float(), self.weight, self.bias)
        if self.channels > 0:
            h = torch.einsum("nct,oc->not", nn.functional.silu(h), self.out.weight) + self.out.bias.view(1, -1, 1)
        correction = h.to(record.dtype).view(b, n_src, n_rec, nt).transpose(2, 3)
        return record + correction
