"""The checkpoint format: its keys, saving and loading.

A checkpoint is one ``torch.save`` of a dict of tensors and plain Python values (configs as
dicts, the acquisition as JSON), so it loads with ``torch.load(weights_only=True)`` and loading
never executes pickled code.  It is written atomically (beside the target, flushed, renamed):
a crash or a full disk mid-write leaves the previous checkpoint untouched.

Keys (format ``geogen-ubdiff-1``; a key a file lacks reads as its default below):

* every checkpoint: ``format``, ``stage`` (step1, step2, diffusion), ``finished``, ``step``,
  ``best_validation`` (None without a validation split), ``net`` (the networks' weights now),
  ``optimizer``, and the run's meta data: ``model_config`` (dict), ``training_config`` (dict),
  ``acquisition`` (JSON text), ``normalization`` (dict);
* steps 1 and 2: ``epoch``, ``best_net`` (the weights best on validation: the model);
* diffusion: ``denoiser`` (weights now), ``ema_current`` (the EMA now), ``ema`` (the EMA best
  on validation: the model), ``generator`` (the RNG state), ``latent_mean``, ``latent_std``,
  ``timesteps``, ``objective``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geogen.errors import InputError
from geogen.run.atomic import atomic_path

FORMAT = "geogen-ubdiff-1"

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RunMeta:
    """What every checkpoint of a run carries about the run (plain types)."""

    model_config: dict[str, Any]
    training_config: dict[str, Any]
    acquisition: str
    normalization: dict[str, Any]

    def as_state(self) -> dict[str, Any]:
        return {"model_config": self.model_config, "training_config": self.training_config,
                "acquisition": self.acquisition, "normalization": self.normalization}


def supervised_state(meta: RunMeta, *, stage: str, net: dict[str, Any], best_net: dict[str, Any],
                     optimizer: dict[str, Any], epoch: int, step: int, best_validation: float | None,
                     finished: bool) -> dict[str, Any]:
    """The checkpoint of an epoch-based step (step1, step2)."""
    return {**meta.as_state(), "stage": stage, "net": net, "best_net": best_net, "optimizer": optimizer,
            "epoch": epoch, "step": step, "best_validation": best_validation, "finished": finished}


def diffusion_state(meta: RunMeta, *, net: dict[str, Any], denoiser: dict[str, Any], ema_current: dict[str, Any],
                    ema: dict[str, Any], optimizer: dict[str, Any], generator: Any, step: int, finished: bool,
                    best_validation: float | None, latent_mean: Any, latent_std: Any, timesteps: int,
                    objective: str) -> dict[str, Any]:
    """The checkpoint of the latent diffusion."""
    return {**meta.as_state(), "stage": "diffusion", "net": net, "denoiser": denoiser, "ema_current": ema_current,
            "ema": ema, "optimizer": optimizer, "generator": generator, "step": step, "finished": finished,
            "best_validation": best_validation, "latent_mean": latent_mean, "latent_std": latent_std,
            "timesteps": timesteps, "objective": objective}


class Checkpoint:
    """A loaded checkpoint, read through named properties (the keys stay in this module)."""

    def __init__(self, state: dict[str, Any], path: Path | None = None) -> None:
        self.state = state
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key in self.state

    def __getitem__(self, key: str) -> Any:
        """Raw access by key (for inspection; code reads the properties)."""
        return self.state[key]

    @property
    def finished(self) -> bool:
        return bool(self.state.get("finished"))

    @property
    def stage(self) -> str | None:
        return self.state.get("stage")

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    @property
    def best_validation(self) -> float:
        """The best validation loss so far (inf when none was measured)."""
        value = self.state.get("best_validation")
        return float("inf") if value is None else float(value)

    @property
    def net(self) -> dict[str, Any]:
        """The networks' weights when the checkpoint was written (what a resumed step continues from)."""
        return self.state["net"]

    @property
    def best_net(self) -> dict[str, Any]:
        return self.state["best_net"]

    @property
    def model_weights(self) -> dict[str, Any]:
        """The networks' weights a trained model uses: the best on validation where kept, else the last."""
        return self.state["best_net"] if "best_net" in self.state else self.state["net"]

    @property
    def optimizer(self) -> dict[str, Any]:
        return self.state["optimizer"]

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self.state["model_config"])

    @property
    def training_config(self) -> dict[str, Any]:
        return dict(self.state.get("training_config") or {})

    @property
    def acquisition_json(self) -> str:
        return self.state["acquisition"]

    @property
    def normalization(self) -> dict[str, Any]:
        return self.state["normalization"]

    # diffusion
    @property
    def has_denoiser(self) -> bool:
        return "ema" in self.state

    @property
    def denoiser(self) -> dict[str, Any]:
        return self.state["denoiser"]

    @property
    def ema_current(self) -> dict[str, Any]:
        return self.state["ema_current"]

    @property
    def ema(self) -> dict[str, Any]:
        """The EMA state best on validation (``{"model": weights, ...}``): the denoiser a trained model samples with."""
        return self.state["ema"]

    @property
    def generator(self) -> Any:
        return self.state["generator"]

    @property
    def latent_mean(self) -> Any:
        return self.state["latent_mean"]

    @property
    def latent_std(self) -> Any:
        return self.state["latent_std"]

    @property
    def timesteps(self) -> int:
        return int(self.state["timesteps"])

    @property
    def objective(self) -> str:
        return str(self.state["objective"])


def save_checkpoint(state: dict[str, Any], path: PathLike) -> Path:
    """Write ``state`` (from :func:`supervised_state` or :func:`diffusion_state`) to ``path`` atomically."""
    import torch

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save({"format": FORMAT, **state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Load a checkpoint with ``weights_only=True``; a missing or bad file is one InputError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("no such checkpoint; train first (geogen train) or check the run directory", path=path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(f"cannot load as a geogen checkpoint ({exc.__class__.__name__}: {first})",
                         path=path) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        raise InputError(f"is not a geogen checkpoint (format {found!r})", path=path)
    return Checkpoint(state, path)
