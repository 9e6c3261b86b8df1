"""Generated records from the layered prior and the decoder's residual, fused into one pass on the CPU.

Generation spends more time on the elementwise arithmetic that joins the physics to the
decoder's output (log-compress, scale, add, clamp, expand: fifteen torch passes over 90 MB
a batch at the openfwi geometry, two into fresh arrays) than on the decoder itself; the C
loop in ``record_kernel.c`` does it in one.  Where it cannot be built, or off the CPU, the
caller keeps the torch path (:meth:`UBDiffNet.decode_seismic`), the same maths.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from geogen.models import native

_SOURCE = Path(__file__).with_name("record_kernel.c")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float


def _library() -> ctypes.CDLL | None:
    library = native.load(_SOURCE)
    if library is not None and not getattr(library.compose_records, "argtypes", None):
        library.compose_records.argtypes = [_I, _I, _P, _P, _F, _F, _F, _F]
        library.compose_records.restype = None
    return library


def available(device: torch.device) -> bool:
    """Whether :func:`compose_records` runs for tensors on ``device``."""
    return device.type == "cpu" and _library() is not None


def compose_records(prior: torch.Tensor, residual: torch.Tensor, bounds: tuple[float, float],
                    physical_bounds: tuple[float, float]) -> torch.Tensor:
    """Physical records from the physical ``prior`` and the decoder's normalised ``residual`` (same shape).

    ``bounds``: the log-domain bounds through which the prior enters a normalised record;
    ``physical_bounds``: those the normalised record is taken back through (the two are the
    training normalisation's, kept by the network and by the normaliser).  The result is
    written over ``residual`` (made float32 and contiguous first) and returned.
    """
    library = _library()
    if library is None or prior.device.type != "cpu":
        raise RuntimeError("the record kernel runs on the CPU where a C compiler is found; check available()")
    prior = prior.float().contiguous()
    out = residual.float().contiguous()
    if prior.shape != out.shape:
        raise ValueError(f"prior {tuple(prior.shape)} and residual {tuple(out.shape)} differ")
    lo, hi = (float(b) for b in bounds)
    out_lo, out_hi = (float(b) for b in physical_bounds)

    def run(first: int, last: int) -> None:
        library.compose_records(first, last, prior.data_ptr(), out.data_ptr(), lo, hi, out_lo, out_hi)

    native.run_in_ranges(run, out.numel(), torch.get_num_threads(), pieces=1)
    return out
