"""Where training runs: device, mixed precision, and data parallelism under torchrun.

With ``WORLD_SIZE > 1`` (set by ``torchrun``) each process joins the process group
(NCCL on CUDA, Gloo on CPU), models are wrapped in DistributedDataParallel, data
streams are divided by rank, and only rank 0 writes checkpoints, splits and metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch
from torch import nn

from geogen.models.device import pick_device
from geogen.training.config import TrainingConfig

log = logging.getLogger("geogen.training")


@dataclass
class DeviceContext:
    device: torch.device
    rank: int = 0
    world: int = 1
    amp_dtype: torch.dtype | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler only for fp16 (bf16 keeps fp32's range)."""
        if self.amp_dtype == torch.float16:
            return torch.amp.GradScaler("cuda")
        return None

    def wrap(self, module: nn.Module) -> nn.Module:
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            return DistributedDataParallel(module, device_ids=ids)
        return module

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def mean(self, value: float) -> float:
        """The mean of a scalar over ranks (e.g. a validation loss)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world


def idle_cores(sample_seconds: float = 0.5) -> int:
    """Cores that no other process keeps busy now (at least 1).

    Measured over a short window rather than from the load average, which still counts the
    Devito workers that the synth stage has just stopped.
    """
    import psutil

    busy = psutil.cpu_percent(interval=sample_seconds) / 100.0 * (os.cpu_count() or 1)
    return max(1, (os.cpu_count() or 1) - round(busy))


def torch_threads(setting: int | str | None) -> int | None:
    """The thread count a training setting asks for (None: leave torch's choice)."""
    if setting == "auto":
        return idle_cores()
    return setting


def make_context(cfg: TrainingConfig) -> DeviceContext:
    threads = torch_threads(cfg.threads)
    if threads:
        torch.set_num_threads(threads)
        log.info("torch CPU threads: %d%s", threads, " (auto: idle cores)" if cfg.threads == "auto" else "")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if pick_device(cfg.device, setting="device").type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    amp = None
    if device.type == "cuda" and cfg.mixed_precision:
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DeviceContext(device=device, rank=rank, world=world, amp_dtype=amp)
