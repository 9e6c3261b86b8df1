"""Benchmark UB-Diff on the OpenFWI geometry, on the CPU, and print what was measured.

Sections (each in its own process, so that peak resident memory is its own):

* ``model``    parameters and peak RSS of one step-2 training step, per seismic decoder,
               and training samples/s of step 1, step 2 and the diffusion;
* ``generate`` generated pairs/s (DDIM 50 steps, batch 64) next to Devito modelling
               pairs/s (geogen.physics.forward, one process) of the same geometry;
* ``recon``    seismic reconstruction error on validation pairs for both decoders
               after the same short training budget on Devito-simulated pairs;
* ``rss``      peak RSS of a full ``train()`` on a large on-disk set (default 24 000
               maps and 5 000 pairs; the records are cheap synthetic arrivals, not
               physics: the memory does not depend on what the numbers are).

Usage: ``python bench/bench_ubdiff.py [--sections model,generate,recon,rss] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def variants() -> dict:
    """The model configurations compared: the defaults (adaLN-conditioned transformer, 100-sample patches,
    small MLP denoiser), the earlier defaults (cross-attention, 25-sample patches, wide denoiser), the
    published linear head."""
    from geogen.training.config import ModelConfig

    return {
        "transformer": ModelConfig(),
        "transformer_previous": ModelConfig(transformer_dim=256, transformer_depth=4, patch_time=25,
                                            transformer_conditioning="cross", position_scale=0.02,
                                            denoiser_width=512, denoiser_depth=6),
        "linear": ModelConfig(seismic_decoder="linear"),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(record: dict) -> None:
    print("RESULT " + json.dumps(record), flush=True)


# ----------------------------------------------------------------------- sections
def section_model(args) -> None:
    import torch

    from geogen.acquisition import Acquisition
    from geogen.models.denoisers import build_denoiser
    from geogen.models.schedule import CosineSchedule, diffusion_loss
    from geogen.models.ubdiff import UBDiffNet, count_parameters
    from geogen.training.config import ModelConfig
    from geogen.training.loops import SeismicPath, VelocityAutoencoder, reconstruction_loss

    acq = Acquisition.preset("openfwi")
    cfg = ModelConfig(seismic_decoder=args.decoder)
    torch.manual_seed(0)
    net = UBDiffNet(cfg, acq)
    parts = {name: count_parameters(m) for name, m in net.named_children()}
    out = {"section": "model", "decoder": args.decoder, "parameters": sum(parts.values()), "parts": parts,
           "weights_mb": round(sum(parts.values()) * 4 / 2**20, 1), "rss_after_build_mb": round(peak_rss_mb(), 1)}

    def timed(fn, steps: int) -> float:
        fn()  # warm-up
        t = time.perf_counter()
        for _ in range(steps):
            fn()
        return (time.perf_counter() - t) / steps

    # step 2 (frozen encoder), batch 16: the step whose memory the decoder decides
    path = SeismicPath(net, freeze=True)
    for m in net.velocity_part():
        m.requires_grad_(False)
        m.eval()
    opt = torch.optim.AdamW([p for m in net.seismic_part() for p in m.parameters()], lr=1e-4)
    v = torch.rand(16, *acq.shape) * 2 - 1
    s = torch.rand(16, *acq.seismic_shape) * 2 - 1

    def step2() -> None:
        loss = reconstruction_loss(path(v)[0], s)
        opt.zero_grad()
        loss.backward()
        opt.step()

    sec = timed(step2, args.steps)
    out.update(step2_samples_per_s=round(16 / sec, 2), step2_peak_rss_mb=round(peak_rss_mb(), 1))
    if args.decoder == "transformer":
        for m in net.velocity_part():
            m.requires_grad_(True)
            m.train()
        ae = VelocityAutoencoder(net)
        opt1 = torch.optim.AdamW(ae.parameters(), lr=1e-3)
        v32 = torch.rand(32, *acq.shape) * 2 - 1

        def step1() -> None:
            loss = reconstruction_loss(ae(v32), v32)
            opt1.zero_grad()
            loss.backward()
            opt1.step()

        out["step1_samples_per_s"] = round(32 / timed(step1, args.steps), 2)
        den = build_denoiser(cfg.denoiser, cfg.latent_dim, width=cfg.denoiser_width, depth=cfg.denoiser_depth)
        opt3 = torch.optim.Adam(den.parameters(), lr=8e-5)
        sched = CosineSchedule(256)
        z = torch.rand(256, cfg.latent_dim) * 2 - 1

        def step3() -> None:
            loss = diffusion_loss(den, sched, z)
            opt3.zero_grad()
            loss.backward()
            opt3.step()

        out["diffusion_latents_per_s"] = round(256 / timed(step3, 5 * args.steps), 1)
        out["denoiser_parameters"] = count_parameters(den)
    emit(out)


def section_generate(args) -> None:
    import torch

    from geogen.acquisition import Acquisition
    from geogen.data.normalize import Normalizer
    from geogen.models.denoisers import build_denoiser
    from geogen.models.schedule import CosineSchedule
    from geogen.models.ubdiff import UBDiff, UBDiffNet
    from geogen.physics import forward, generate_velocity

    acq = Acquisition.preset("openfwi")
    out = {"section": "generate"}
    VARIANTS = variants()
    for decoder, cfg in VARIANTS.items():
        torch.manual_seed(0)
        model = UBDiff(UBDiffNet(cfg, acq), Normalizer(1500, 4500, -27, 53), acq, cfg,
                       denoiser=build_denoiser("mlp", cfg.latent_dim, width=cfg.denoiser_width,
                                               depth=cfg.denoiser_depth), schedule=CosineSchedule(256),
                       latent_mean=torch.zeros(cfg.latent_dim), latent_std=torch.ones(cfg.latent_dim) * 0.5)
        model.sample(4, steps=50, batch_size=4)  # warm-up
        t = time.perf_counter()
        model.sample(64, steps=50, sampler="ddim", batch_size=64)
        sec = time.perf_counter() - t
        out[f"{decoder}_ddim50_b64_pairs_per_s"] = round(64 / sec, 2)
        out[f"{decoder}_seconds_for_64"] = round(sec, 2)
        del model
    maps = generate_velocity("curvefault", 5, acq.shape, seed=0)
    t = time.perf_counter()
    forward(maps[:1], acq)  # compiles (or loads from Devito's cache) the operator
    out["devito_first_pair_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    forward(maps[1:], acq)
    sec = (time.perf_counter() - t) / 4
    out["devito_pairs_per_s"] = round(1 / sec, 3)
    out["devito_s_per_pair"] = round(sec, 3)
    out["devito"] = "geogen.physics.forward, in-process (one worker), 5 shots, 120 absorbing cells"
    for decoder in VARIANTS:
        out[f"{decoder}_speedup_vs_devito"] = round(
            out[f"{decoder}_ddim50_b64_pairs_per_s"] / out["devito_pairs_per_s"], 1
        )
    emit(out)


def section_recon(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_recon_") as tmp:
        _recon(args, Path(tmp))


def _recon(args, root: Path) -> None:
    from geogen.acquisition import Acquisition
    from geogen.data.datasets import pairs_dataset, velocity_dataset
    from geogen.data.store import open_store, write_store
    from geogen.models.ubdiff import UBDiff
    from geogen.physics import forward, generate_velocity
    from geogen.training import train
    from geogen.training.config import DiffusionConfig, SplitConfig, Step1Config, Step2Config, TrainingConfig

    acq = Acquisition.preset("openfwi")
    maps = generate_velocity("curvefault", args.recon_maps, acq.shape, seed=1)
    t = time.perf_counter()
    seis = forward(maps[:args.recon_pairs], acq)
    sim_s = time.perf_counter() - t
    vstore = write_store(
        velocity_dataset(maps, dz=acq.dz, dx=acq.dx), root / "v.zarr", chunks={"velocity": {"model": 64}}
    )
    pstore = write_store(pairs_dataset(maps[:args.recon_pairs], seis, acq, origin="simulated"), root / "p.zarr",
                         chunks={"velocity": {"sample": 8}, "seismic": {"sample": 8}})
    splits = SplitConfig(validation=0.2, test=0.0, seed=0)
    out = {"section": "recon", "pairs": args.recon_pairs, "maps": args.recon_maps, "simulate_s": round(sim_s, 1),
           "budget": f"step1 {args.recon_step1} epochs batch 16; step2 {args.recon_epochs} epochs batch 8 "
                     f"(frozen encoder), lr 1e-3, both decoders start from the mean training record; same data, seed "
                     "and splits for every variant"}
    for decoder, model_cfg in variants().items():
        if decoder not in args.recon_variants.split(","):
            continue
        training = TrainingConfig(
            step1=Step1Config(epochs=args.recon_step1, batch_size=16, lr=1e-3),
            step2=Step2Config(epochs=args.recon_epochs, batch_size=8, lr=1e-3),
            diffusion=DiffusionConfig(steps=1), device="cpu", seed=0)
        run = root / f"run_{decoder}"
        t = time.perf_counter()
        train(vstore, pstore, run, model=model_cfg, training=training, splits=splits,
              stages=("step1", "step2"))
        out[f"{decoder}_train_s"] = round(time.perf_counter() - t, 1)
        out[f"{decoder}_lr"] = training.step2.lr
        split = json.loads((run / "splits.json").read_text())
        val = split["pairs"]["validation"]
        ds = open_store(pstore)
        v, s = ds.velocity.values[val], ds.seismic.values[val]
        model = UBDiff.load(run / "checkpoints" / "step2.pt")
        rec = model.reconstruct(v)
        rel = np.linalg.norm((rec - s).reshape(len(val), -1), axis=1) / np.linalg.norm(s.reshape(len(val), -1), axis=1)
        norm = model.normalizer
        mae = float(np.abs(norm.seismic(rec) - norm.seismic(s)).mean())
        out[f"{decoder}_val_rel_l2_median"] = round(float(np.median(rel)), 4)
        out[f"{decoder}_val_mae_normalised"] = round(mae, 4)
        if "mean_record_val_rel_l2_median" not in out:  # context: predict the mean training record for every map
            mean = ds.seismic.values[split["pairs"]["train"]].mean(axis=0, keepdims=True)
            rel0 = np.linalg.norm((mean - s).reshape(len(val), -1), axis=1) / np.linalg.norm(
                s.reshape(len(val), -1), axis=1
            )
            out["mean_record_val_rel_l2_median"] = round(float(np.median(rel0)), 4)
            out["mean_record_val_mae_normalised"] = round(float(np.abs(norm.seismic(mean) - norm.seismic(s)).mean()), 4)
        del model
    out["validation_pairs"] = len(val)
    emit(out)


def section_make_large(args) -> None:
    """Write the large on-disk set chunk by chunk with dask (never all in memory)."""
    import dask.array as da

    from geogen.acquisition import Acquisition
    from geogen.data.datasets import pairs_dataset, velocity_dataset
    from geogen.data.store import write_store
    from geogen.physics import generate_velocity

    acq = Acquisition.preset("openfwi")
    root = Path(args.large_dir)
    t = time.perf_counter()
    chunk = 500

    def maps_block(block_info=None):
        (lo, hi), _, _ = block_info[None]["array-location"]
        return generate_velocity("flatfault", hi - lo, acq.shape, seed=2, start=lo)

    vel = da.map_blocks(
        maps_block,
        chunks=(
            (chunk,) * (args.maps // chunk) + ((args.maps % chunk,) if args.maps % chunk else ()),
            (acq.nz,),
            (acq.nx,),
        ),
        dtype=np.float32,
    )
    write_store(
        velocity_dataset(vel, dz=acq.dz, dx=acq.dx), root / "velocity.zarr", chunks={"velocity": {"model": chunk}}
    )
    pchunk = 16
    s_shape = acq.seismic_shape

    def seis_block(block_info=None):
        (lo, hi), *_ = block_info[None]["array-location"]
        rng = np.random.default_rng(lo)
        n = hi - lo
        out = np.zeros((n, *s_shape), np.float32)
        t_idx = (60 + np.abs(np.arange(s_shape[2])[None, :] - np.arange(s_shape[0])[:, None] * 17) * 3)
        for k in range(4):  # four arrivals with moveout, amplitudes per sample
            amp = rng.normal(0, 0.02, size=(n, 1, 1))
            rows = np.clip(t_idx + 150 * k, 0, s_shape[1] - 1)
            for src in range(s_shape[0]):
                out[:, src, rows[src], np.arange(s_shape[2])] += amp[:, 0]
        return out

    def vel_pairs_block(block_info=None):
        (lo, hi), _, _ = block_info[None]["array-location"]
        return generate_velocity("flatfault", hi - lo, acq.shape, seed=2, start=lo)

    nchunks = (pchunk,) * (args.pairs // pchunk) + ((args.pairs % pchunk,) if args.pairs % pchunk else ())
    pv = da.map_blocks(vel_pairs_block, chunks=(nchunks, (acq.nz,), (acq.nx,)), dtype=np.float32)
    ps = da.map_blocks(seis_block, chunks=(nchunks, *((d,) for d in s_shape)), dtype=np.float32)
    write_store(pairs_dataset(pv, ps, acq, origin="simulated"), root / "pairs.zarr",
                chunks={"velocity": {"sample": pchunk}, "seismic": {"sample": pchunk}})
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    emit({"section": "make_large", "maps": args.maps, "pairs": args.pairs, "seconds": round(time.perf_counter() - t, 1),
          "disk_mb": round(size / 2**20, 1), "raw_seismic_mb": round(args.pairs * np.prod(s_shape) * 4 / 2**20, 1)})


def section_rss(args) -> None:
    from geogen.training import train
    from geogen.training.config import DiffusionConfig, Step1Config, Step2Config, TrainingConfig

    root = Path(args.large_dir)
    training = TrainingConfig(step1=Step1Config(epochs=1, batch_size=32, steps_per_epoch=args.rss_steps),
                              step2=Step2Config(epochs=1, batch_size=16, steps_per_epoch=args.rss_steps),
                              diffusion=DiffusionConfig(steps=200, eval_every=100), device="cpu", seed=0)
    t = time.perf_counter()
    run = train(root / "velocity.zarr", root / "pairs.zarr", root / "run", training=training)
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    emit({"section": "rss", "peak_rss_mb": round(peak_rss_mb(), 1), "seconds": round(time.perf_counter() - t, 1),
          "budget": f"full splits/normalisation/latent passes; step1 and step2 {args.rss_steps} optimiser steps, "
                    "full validation passes, diffusion 200 steps",
          "stage_seconds": [(r["stage"], r["seconds"]) for r in lines]})


SECTIONS = {"model": section_model, "generate": section_generate, "recon": section_recon,
            "make_large": section_make_large, "rss": section_rss}


def run_child(section: str, args, extra: list[str] = ()) -> dict:
    cmd = [sys.executable, __file__, "--child", section, "--threads", str(args.threads), *extra]
    for key in ("maps", "pairs", "large_dir", "rss_steps", "steps", "recon_pairs", "recon_maps", "recon_epochs",
                "recon_step1", "recon_variants"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"section {section} failed")
    rec = next(json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    rec["wall_s"] = round(time.perf_counter() - t, 1)
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sections", default="model,generate,recon,rss")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--maps", type=int, default=24000)
    p.add_argument("--pairs", type=int, default=5000)
    p.add_argument("--large-dir", default=None)
    p.add_argument("--rss-steps", type=int, default=20)
    p.add_argument("--steps", type=int, default=3, help="timed steps per training measurement")
    p.add_argument("--recon-pairs", type=int, default=60)
    p.add_argument("--recon-maps", type=int, default=600)
    p.add_argument("--recon-epochs", type=int, default=12)
    p.add_argument("--recon-step1", type=int, default=10, help="step-1 epochs of the reconstruction test")
    p.add_argument("--decoder", default="transformer")
    p.add_argument("--recon-variants", default="transformer,transformer_previous,linear")
    p.add_argument("--child", default=None)
    args = p.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        SECTIONS[args.child](args)
        return
    print(f"uptime before: {os.popen('uptime').read().strip()}  (shared machine, {os.cpu_count()} cores)")
    for section in args.sections.split(","):
        if section == "model":
            for decoder in ("transformer", "linear"):
                print(json.dumps(run_child("model", args, ["--decoder", decoder])), flush=True)
        elif section == "rss":
            with tempfile.TemporaryDirectory(prefix="bench_large_") as tmp:
                args.large_dir = args.large_dir or tmp
                print(json.dumps(run_child("make_large", args)), flush=True)
                print(json.dumps(run_child("rss", args)), flush=True)
        else:
            print(json.dumps(run_child(section, args)), flush=True)
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)


if __name__ == "__main__":
    main()
