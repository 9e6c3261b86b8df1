"""The torch device a command runs on."""

from __future__ import annotations

from typing import Any

from geogen.errors import InputError


def pick_device(device: Any = None, *, setting: str = "device") -> Any:
    """``None``/``"auto"``: CUDA when present, else the CPU; ``"cuda"`` without a visible CUDA device is an
    :class:`InputError` that names ``setting`` (the option or workflow key that asked for it)."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"{setting} is '{device}' but no CUDA device is visible; use 'auto' or 'cpu'",
                         setting=setting)
    return dev
