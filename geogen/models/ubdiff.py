"""UB-Diff: the networks, and :class:`UBDiff`, the trained model that generates pairs.

:class:`UBDiffNet` holds the encoder (velocity -> co-latent), the two heads and the two
decoders; :class:`UBDiff` adds the latent denoiser (EMA weights), the noise schedule,
the normalisation bounds and the acquisition, all read from one checkpoint, and
speaks physical units on both sides: velocity in m/s in, pairs in m/s and pressure
out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from geogen.acquisition import Acquisition
from geogen.data.normalize import Normalizer
from geogen.errors import InputError
from geogen.models import record_compose
from geogen.models.config import ModelConfig, upgrade_model_config
from geogen.models.denoisers import build_denoiser
from geogen.models.device import pick_device
from geogen.models.encoder import VelocityEncoder
from geogen.models.heads import LatentHead
from geogen.models.reflectivity import ReflectivityPrior
from geogen.models.samplers import sample_latents
from geogen.models.schedule import CosineSchedule
from geogen.models.seismic_decoder import PriorRefiner, build_seismic_decoder
from geogen.models.seismic_prior import LayeredPrior
from geogen.models.velocity_decoder import VelocityDecoder
from geogen.run.checkpoint import load_checkpoint
from geogen.run.rundir import RunDir


class UBDiffNet(nn.Module):
    """Encoder, heads and decoders; every shape comes from the acquisition.

    With ``seismic_prior: reflectivity`` the seismic side also reads the decoded velocity
    map: a differentiable convolutional model of it (:class:`ReflectivityPrior`) is
    added to the decoded record by a learned :class:`PriorRefiner`.  The record is still
    a function of the co-latent alone (through both decoders), so sampling is unchanged.
    """

    def __init__(self, config: ModelConfig, acquisition: Acquisition) -> None:
        super().__init__()
        c = config.latent_dim
        self.encoder = VelocityEncoder(c, config.encoder_channels)
        self.velocity_head = LatentHead(c)
        self.seismic_head = LatentHead(c)
        self.velocity_decoder = VelocityDecoder(c, acquisition.shape, config.encoder_channels)
        kw: dict[str, Any] = {}
        if config.seismic_decoder == "transformer":
            kw = dict(dim=config.transformer_dim, depth=config.transformer_depth,
                      heads=config.transformer_heads, patch_time=config.patch_time,
                      conditioning=config.transformer_conditioning, position_scale=config.position_scale)
        self.seismic_decoder = build_seismic_decoder(config.seismic_decoder, c, acquisition.seismic_shape, **kw)
        self.prior: ReflectivityPrior | LayeredPrior | None = None
        self.refiner: PriorRefiner | None = None
        self.prior_kind = config.seismic_prior
        if config.seismic_prior == "reflectivity":
            self.prior = ReflectivityPrior(acquisition)
            self.refiner = PriorRefiner(config.prior_channels)
        elif config.seismic_prior == "layered":
            self.prior = LayeredPrior(acquisition, column_stride=config.prior_column_stride,
                                      resolution=config.prior_resolution,
                                      damping_decades=config.prior_damping_decades)
            # log-domain bounds of the record normalisation: the physical prior enters the normalised record
            self.register_buffer("seismic_bounds", torch.tensor([-1.0, 1.0]))
        if self.prior is not None:
            # m/s of the velocity decoder's -1 and +1; the trainer sets the normalisation's bounds
            self.register_buffer("velocity_bounds", torch.tensor([acquisition.vmin, acquisition.vmax]))

    @torch.no_grad()
    def set_normalization(self, normalizer: Normalizer) -> None:
        """The scaling the prior works through: m/s of the normalised velocity's -1 and +1, and the records' bounds."""
        if self.prior is not None:
            self.velocity_bounds.copy_(torch.tensor([normalizer.velocity_min, normalizer.velocity_max]))
        if self.prior_kind == "layered":
            self.seismic_bounds.copy_(torch.tensor([normalizer.seismic_min, normalizer.seismic_max]))

    @torch.no_grad()
    def start_seismic_decoder(self, mean_record: torch.Tensor) -> None:
        """Where step 2 starts: the mean training record (no prior, or the refined one), or exactly the layered
        prior (the decoder then learns only what the physics misses)."""
        if self.prior_kind == "layered":
            self.seismic_decoder.set_base_record(torch.zeros_like(mean_record))
        else:
            self.seismic_decoder.set_base_record(mean_record)

    @contextlib.contextmanager
    def prior_cache(self, enabled: bool = True) -> Iterator[None]:
        """Within: the layered prior keeps each decoded map's record (step 2 with a frozen velocity side decodes a
        training map to the same map every epoch); cleared on leaving."""
        cached = enabled and isinstance(self.prior, LayeredPrior)
        if cached:
            self.prior.cache_enabled = True
        try:
            yield
        finally:
            if cached:
                self.prior.cache_enabled = False
                self.prior.clear_cache()

    def velocity_part(self) -> list[nn.Module]:
        """The modules trained in step 1 (frozen in step 2 when the flag says so)."""
        return [self.encoder, self.velocity_head, self.velocity_decoder]

    def seismic_part(self) -> list[nn.Module]:
        return [self.seismic_head, self.seismic_decoder] + ([self.refiner] if self.refiner is not None else [])

    def encode(self, velocity: torch.Tensor) -> torch.Tensor:
        return self.encoder(velocity)

    def decode_velocity(self, z: torch.Tensor) -> torch.Tensor:
        return self.velocity_decoder(self.velocity_head(z))

    def physics_prior(self, velocity: torch.Tensor) -> torch.Tensor:
        """The prior's physical records of normalised velocity maps (the velocity decoder's output)."""
        if self.prior is None:
            raise ValueError("this model has no seismic prior")
        lo, hi = self.velocity_bounds[0], self.velocity_bounds[1]
        return self.prior((velocity.clamp(-1, 1) + 1) * (0.5 * (hi - lo)) + lo)

    def decode_seismic(self, z: torch.Tensor, velocity: torch.Tensor | None = None) -> torch.Tensor:
        """The record of co-latents ``z``.  ``velocity``: ``decode_velocity(z)`` when the caller already has it
        (the prior reads it; passing it saves a second pass through the velocity decoder)."""
        record = self.seismic_decoder(self.seismic_head(z))
        if self.prior is None:
            return record
        prior = self.physics_prior(self.decode_velocity(z) if velocity is None else velocity)
        if self.refiner is not None:
            return self.refiner(record, prior)
        s_lo, s_hi = self.seismic_bounds[0], self.seismic_bounds[1]
        # normalised like a record, in place on the prior's fresh output (each pass over a batch of openfwi
        # records streams 90 MB; temporaries cost as much again in page faults)
        sign = torch.sign(prior)
        base = prior.abs_().log1p_().mul_(sign).sub_(s_lo).mul_(2.0 / (s_hi - s_lo)).sub_(1.0).to(record.dtype)
        return base + record if record.requires_grad else base.add_(record)

    def forward(self, velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(velocity)
        v = self.decode_velocity(z)
        return v, self.decode_seismic(z, v)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _join(parts: list[torch.Tensor]) -> np.ndarray:
    """Concatenate float32 CPU batches into one array (no copy for a single batch)."""
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.numpy().astype(np.float32, copy=False)


class UBDiff:
    """A trained UB-Diff model in physical units (use :meth:`load`)."""

    def __init__(self, net: UBDiffNet, normalizer: Normalizer, acquisition: Acquisition, config: ModelConfig, *,
                 denoiser: nn.Module | None = None, schedule: CosineSchedule | None = None,
                 latent_mean: torch.Tensor | None = None, latent_std: torch.Tensor | None = None,
                 objective: str = "v", checkpoint: str | None = None, device: torch.device | None = None) -> None:
        self.device = device or torch.device("cpu")
        self.net = net.to(self.device).eval()
        self.normalizer = normalizer
        self.acquisition = acquisition
        self.config = config
        self.denoiser = denoiser.to(self.device).eval() if denoiser is not None else None
        self.schedule = schedule
        self.latent_mean = latent_mean.to(self.device) if latent_mean is not None else None
        self.latent_std = latent_std.to(self.device) if latent_std is not None else None
        self.objective = objective
        self.checkpoint = checkpoint
        self.velocity_maps = "all"

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, run_dir_or_checkpoint: str | os.PathLike[str], device: str | torch.device | None = None) -> UBDiff:
        """Load from a run directory (its latest finished checkpoint) or a ``.pt`` file."""
        path = Path(run_dir_or_checkpoint)
        if path.is_dir():
            path = RunDir(path).latest_checkpoint()
        dev = pick_device(device)
        ckpt = load_checkpoint(path)
        config = ModelConfig.model_validate(upgrade_model_config(ckpt.model_config))
        acquisition = Acquisition.from_json(ckpt.acquisition_json)
        net = UBDiffNet(config, acquisition)
        net.load_state_dict(ckpt.model_weights)
        kw: dict[str, Any] = {}
        if ckpt.has_denoiser:
            denoiser = build_denoiser(config.denoiser, config.latent_dim, width=config.denoiser_width,
                                      depth=config.denoiser_depth)
            denoiser.load_state_dict(ckpt.ema["model"])
            kw = dict(denoiser=denoiser, schedule=CosineSchedule(ckpt.timesteps),
                      latent_mean=ckpt.latent_mean, latent_std=ckpt.latent_std, objective=ckpt.objective)
        model = cls(net, Normalizer.from_dict(ckpt.normalization), acquisition, config,
                    checkpoint=str(path), device=dev, **kw)
        #: the maps steps 1 and 3 learnt from: "all" (UB-Diff) or "paired" (the paired-only ablation)
        model.velocity_maps = str(ckpt.training_config.get("velocity_maps", "all"))
        return model

    # -------------------------------------------------------------- conversions
    def _batches(self, array: np.ndarray, batch_size: int):
        for i in range(0, array.shape[0], batch_size):
            yield torch.as_tensor(
                np.ascontiguousarray(array[i : i + batch_size]), dtype=torch.float32, device=self.device
            )

    def _check_velocity(self, velocity_mps: np.ndarray) -> np.ndarray:
        v = np.asarray(velocity_mps, dtype=np.float32)
        if v.ndim == 2:
            v = v[None]
        if v.shape[1:] != self.acquisition.shape:
            raise InputError(f"velocity maps are {v.shape[1:]}, the model was trained on {self.acquisition.shape}")
        return v

    @torch.no_grad()
    def encode(self, velocity_mps: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """Velocity maps (n, nz, nx) in m/s -> co-latents (n, c)."""
        v = self._check_velocity(velocity_mps)
        out = [self.net.encode(self.normalizer.velocity(b)).float().cpu() for b in self._batches(v, batch_size)]
        return torch.cat(out).numpy()

    def _seismic_physical(self, s: torch.Tensor) -> torch.Tensor:
        """Clamp a normalised record to [-1, 1] and undo the normalisation in place (the same operations
        as :meth:`Normalizer.seismic_inverse`, without its temporaries: generation writes tens of millions
        of samples, and each extra pass over them costs as much as a decoder layer)."""
        n = self.normalizer
        y = s.float().clamp_(-1, 1).add_(1.0).mul_(0.5 * (n.seismic_max - n.seismic_min)).add_(n.seismic_min)
        sign = torch.sign(y)
        return y.abs_().expm1_().mul_(sign).cpu()

    @torch.no_grad()
    def decode(self, latents: np.ndarray, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Co-latents (n, c) -> (velocity m/s (n, nz, nx), seismic (n, S, T, R)), float32."""
        vel, seis = [], []
        for z in self._batches(np.asarray(latents, dtype=np.float32), batch_size):
            raw = self.net.decode_velocity(z)
            vel.append(self.normalizer.velocity_inverse(raw.float().clamp(-1, 1)).cpu())
            seis.append(self._physical_records(z, raw))
        return _join(vel), _join(seis)

    def _physical_records(self, z: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        """Physical records of co-latents ``z`` whose decoded (normalised) velocity is ``velocity``: with the
        layered prior on the CPU, prior and residual are joined by one C pass (:mod:`record_compose`)."""
        net = self.net
        if net.prior_kind != "layered" or not record_compose.available(z.device):
            return self._seismic_physical(net.decode_seismic(z, velocity))
        residual = net.seismic_decoder(net.seismic_head(z))
        n = self.normalizer
        return record_compose.compose_records(net.physics_prior(velocity), residual, net.seismic_bounds.tolist(),
                                              (n.seismic_min, n.seismic_max))

    def autoencode(self, velocity_mps: np.ndarray, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Velocity m/s -> encoder -> both decoders: the pair a sampled co-latent near this map's would give.

        Returns ``(decoded velocity m/s, decoded seismic)``; the physics check scores the
        record against Devito on the *decoded* map, like for like with generated pairs.
        """
        return self.decode(self.encode(velocity_mps, batch_size=batch_size), batch_size=batch_size)

    def reconstruct(self, velocity_mps: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """The autoencoder path, velocity m/s -> encoder -> seismic decoder -> seismic (physical)."""
        return self.autoencode(velocity_mps, batch_size=batch_size)[1]

    def sample(self, n: int, *, steps: int = 50, sampler: str = "ddim", seed: int = 0,
               batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``n`` new pairs (velocity m/s, seismic physical) from the EMA denoiser, reproducible from ``seed``."""
        vel, seis = zip(*self.sample_batches(n, steps=steps, sampler=sampler, seed=seed, batch_size=batch_size))
        if len(vel) == 1:
            return vel[0], seis[0]
        return np.concatenate(vel), np.concatenate(seis)

    def sample_batches(self, n: int, *, steps: int = 50, sampler: str = "ddim", seed: int = 0,
                       batch_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:meth:`sample`, one batch of ``batch_size`` pairs at a time (the same pairs: sample ``i`` draws its noise
        from seed ``seed * 1_000_003 + i`` whatever the batching), so that a caller can write each batch away."""
        if self.denoiser is None:
            raise InputError("has no diffusion stage; finish training (stage 'diffusion') before sampling",
                             path=self.checkpoint)
        if n < 1:
            raise InputError(f"n = {n}: ask for at least one sample")
        if sampler not in ("ddim", "ancestral"):
            raise InputError(f"sampler {sampler!r}: choose ddim or ancestral")
        return self._batches_of_samples(n, steps, sampler, seed, batch_size)

    #: latents drawn in one pass of the denoiser (a few MB whatever the model)
    LATENT_GROUP = 1024

    @torch.no_grad()
    def _batches_of_samples(self, n: int, steps: int, sampler: str, seed: int,
                            batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        mean, std = self.latent_mean, self.latent_std
        clip = ((-1 - mean) / std, (1 - mean) / std)
        # latents are drawn many batches at a time (the denoiser is a small MLP: 512 latents in one pass
        # take half the time of eight passes of 64 on a 2-core CPU) and decoded a batch at a time
        group = max(batch_size, self.LATENT_GROUP)
        for first in range(0, n, group):
            idx = range(first, min(n, first + group))
            gens = [torch.Generator().manual_seed(int(seed) * 1_000_003 + i) for i in idx]
            x = sample_latents(self.denoiser, self.schedule, gens, self.config.latent_dim, steps=steps,
                               sampler=sampler, objective=self.objective, clip=clip, device=self.device)
            z = (x * std + mean).clamp(-1, 1).cpu().numpy()
            for start in range(0, len(z), batch_size):
                yield self.decode(z[start:start + batch_size], batch_size=batch_size)
