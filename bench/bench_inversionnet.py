"""Benchmark one InversionNet training step on the CPU, per memory layout; prints its figures.

The downstream evaluation trains InversionNet 15 times (five arms, three seeds), so its
step time sets how long ``geogen evaluate`` takes.  This times a full step (forward, L1
loss, backward, AdamW) at a preset's geometry with the tensors in the default layout and
in channels-last, the layout ``geogen.evaluation.downstream`` trains in, and checks that
the two layouts compute the same prediction.

Usage: python bench/bench_inversionnet.py [PRESET] [WIDTH] [BATCH] [STEPS]
"""

from __future__ import annotations

import subprocess
import sys
import time

import torch
from torch.nn import functional as F

from geogen.acquisition import Acquisition
from geogen.evaluation.inversionnet import InversionNet, optimiser


def seconds_per_step(acq: Acquisition, layout: torch.memory_format, *, width: int, batch: int, steps: int) -> float:
    """Median wall seconds of one training step, after three warm-up steps."""
    torch.manual_seed(0)
    net = InversionNet(acq.n_sources, acq.nt, acq.n_receivers, acq.nz, acq.nx, width=width).to(memory_format=layout)
    opt = optimiser(net, lr=5e-4)
    x = torch.randn(batch, acq.n_sources, acq.nt, acq.n_receivers).contiguous(memory_format=layout)
    y = torch.rand(batch, acq.nz, acq.nx) * 2 - 1
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        loss = F.l1_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def same_prediction(acq: Acquisition, width: int) -> float:
    """Largest difference between the two layouts' eval-mode predictions of one network."""
    torch.manual_seed(0)
    net = InversionNet(acq.n_sources, acq.nt, acq.n_receivers, acq.nz, acq.nx, width=width).eval()
    x = torch.randn(4, acq.n_sources, acq.nt, acq.n_receivers)
    with torch.no_grad():
        plain = net(x)
        net = net.to(memory_format=torch.channels_last)
        last = net(x.contiguous(memory_format=torch.channels_last))
    return float((plain - last).abs().max())


def main() -> None:
    preset = sys.argv[1] if len(sys.argv) > 1 else "openfwi"
    width, batch, steps = (int(a) for a in (sys.argv[2:5] + ["8", "16", "20"][len(sys.argv[2:5]):]))
    acq = Acquisition.preset(preset)
    print(f"InversionNet step, preset {preset} ({acq.n_sources} x {acq.nt} x {acq.n_receivers} -> "
          f"{acq.nz} x {acq.nx}), width {width}, batch {batch}, {torch.get_num_threads()} threads")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    plain = seconds_per_step(acq, torch.contiguous_format, width=width, batch=batch, steps=steps)
    last = seconds_per_step(acq, torch.channels_last, width=width, batch=batch, steps=steps)
    print(f"  contiguous     {plain:.3f} s/step")
    print(f"  channels_last  {last:.3f} s/step  ({plain / last:.2f} x)")
    print(f"  largest prediction difference between layouts: {same_prediction(acq, width):.2e}")


if __name__ == "__main__":
    main()
