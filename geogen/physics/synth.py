"""``geogen synth``: an unbalanced synthetic data set (many maps, few pairs).

Writes ``out_dir/velocity.zarr`` (all maps, kind ``velocity``) and ``out_dir/pairs.zarr``
(the first ``n_paired`` maps with their modelled seismic, kind ``pairs``, origin
``simulated``).  The work happens in the hidden directory ``out_dir/.synth-partial``:
both stores are created there at full size up front, then filled in fixed blocks,
each block recorded in ``state.json`` once it is on disk.  An interrupted run leaves
only that directory; running the same command again fills the missing blocks and
then moves the finished stores into place.  Every map is drawn from a generator
seeded by ``(seed, family, index)``, so the result does not depend on block order,
worker count or interruptions.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import encoding_for, replace_path
from geogen.errors import GeogenError, InputError
from geogen.physics.families import FAMILIES, generate_velocity
from geogen.progress import track
from geogen.run.atomic import atomic_write_json

WORK_DIR = ".synth-partial"
VELOCITY_BLOCK = 512  # maps per velocity block: the unit of resumption
VELOCITY_CHUNK = 64  # maps per Zarr chunk (1.25 MB at 70 x 70): cheap random reads
PAIRS_BLOCK = 4  # pairs per block: the unit of parallel work and of resumption
STATE_VERSION = 1


@dataclass(frozen=True)
class SynthResult:
    """Where the set was written and how much of it this call computed."""

    velocity_store: Path
    pairs_store: Path
    n_velocity: int
    n_paired: int
    blocks_computed: int
    blocks_resumed: int


def _blocks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def _save_state(work: Path, state: dict[str, Any]) -> None:
    atomic_write_json(work / "state.json", state, indent=1)


def _create_stores(work: Path, config: dict[str, Any], acq: Acquisition) -> None:
    """Both stores at full size, metadata and coordinates only; data comes in blocks."""
    import dask.array as da

    n_v, n_p = config["n_velocity"], config["n_paired"]
    attrs = {"family": config["family"], "seed": config["seed"], "synth_config": json.dumps(config, sort_keys=True)}
    vel = velocity_dataset(da.zeros((n_v, acq.nz, acq.nx), dtype=np.float32, chunks=(VELOCITY_CHUNK, acq.nz, acq.nx)),
                           dz=acq.dz, dx=acq.dx,
                           attrs={**attrs, "vmin": acq.vmin, "vmax": acq.vmax, "generator": "geogen.physics.families"})
    vel.to_zarr(work / "velocity.zarr", mode="w", zarr_format=3, consolidated=False, compute=False,
                encoding=encoding_for(vel, {"velocity": {"model": VELOCITY_CHUNK}}))
    pairs = pairs_dataset(
        da.zeros((n_p, acq.nz, acq.nx), dtype=np.float32, chunks=(PAIRS_BLOCK, acq.nz, acq.nx)),
        da.zeros((n_p, *acq.seismic_shape), dtype=np.float32, chunks=(1, *acq.seismic_shape)),
        acq, origin="simulated", attrs={**attrs, "velocity_store": "velocity.zarr", "n_velocity": n_v})
    pairs.to_zarr(work / "pairs.zarr", mode="w", zarr_format=3, consolidated=False, compute=False,
                  encoding=encoding_for(pairs, {"velocity": {"sample": PAIRS_BLOCK}, "seismic": {"sample": 1}}))


def _write_region(ds: xr.Dataset, path: Path, dim: str, start: int, stop: int) -> None:
    keep = [name for name, var in ds.variables.items() if dim in var.dims]
    ds[keep].drop_vars([c for c in ds[keep].coords if dim not in ds[c].dims]).to_zarr(
        path, region={dim: slice(start, stop)}, zarr_format=3, consolidated=False)


def pair_block(family: str, seed: int, start: int, stop: int, acq: Acquisition) -> tuple[np.ndarray, np.ndarray]:
    """Maps ``start:stop`` and their records; runs in a dask worker or in-process."""
    from geogen.physics.modelling import model_maps

    v = generate_velocity(family, stop - start, acq.shape, seed=seed, vmin=acq.vmin, vmax=acq.vmax, start=start)
    return v, model_maps(v, acq)


def _open_work(out: Path, config: dict[str, Any], acq: Acquisition) -> tuple[Path, dict[str, Any]]:
    work = out / WORK_DIR
    if (work / "state.json").exists():
        state = json.loads((work / "state.json").read_text())
        if state.get("config") != config:
            old = state.get("config", {})
            diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            raise InputError(
                f"holds an interrupted synth run with other settings ({', '.join(diff)} differ); "
                "re-run with the same options to finish it, or delete the directory to start over", path=work)
        return work, state
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _create_stores(work, config, acq)
    state = {"version": STATE_VERSION, "config": config, "velocity_done": [], "pairs_done": []}
    _save_state(work, state)
    return work, state


def synth(
    out_dir: str | os.PathLike[str],
    *,
    family: str = "curvefault",
    n_velocity: int,
    n_paired: int,
    preset: str = "small",
    acquisition: Acquisition | None = None,
    seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    on_block: Callable[[str, int], None] | None = None,
) -> SynthResult:
    """Write an unbalanced synthetic set into ``out_dir``; resumes an interrupted run.

    ``acquisition`` overrides ``preset``.  ``workers`` > 1 (a local cluster) or a
    ``scheduler`` address models the pairs over dask workers.  ``on_block(kind, start)``
    is called after each block is safely on disk (``kind`` is ``velocity`` or ``pairs``).
    """
    if family not in FAMILIES:
        raise InputError(f"--family {family!r}: choose one of {', '.join(FAMILIES)}")
    if n_velocity < 1:
        raise InputError(f"--n-velocity must be at least 1, got {n_velocity}")
    if not 1 <= n_paired <= n_velocity:
        raise InputError(f"--n-paired must be between 1 and --n-velocity ({n_velocity}), got {n_paired}")
    if seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    acq = acquisition if acquisition is not None else Acquisition.preset(preset)
    acq.check_stable()  # the families reach acq.vmax
    if scheduler is not None:
        from geogen.cluster import check_reachable

        check_reachable(scheduler)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory; choose another --out", path=out)
    config = {"family": family, "seed": seed, "n_velocity": n_velocity, "n_paired": n_paired,
              "acquisition": acq.to_json(), "velocity_block": VELOCITY_BLOCK, "pairs_block": PAIRS_BLOCK}
    result = dict(velocity_store=out / "velocity.zarr", pairs_store=out / "pairs.zarr",
                  n_velocity=n_velocity, n_paired=n_paired)
    if _already_complete(out, config):
        return SynthResult(**result, blocks_computed=0, blocks_resumed=0)

    work, state = _open_work(out, config, acq)
    resumed = len(state["velocity_done"]) + len(state["pairs_done"])
    computed = 0

    def block_done(kind: str, start: int) -> None:
        """Record a written block in the state file (the resume point), then call the hook."""
        nonlocal computed
        state[f"{kind}_done"].append(start)
        _save_state(work, state)
        computed += 1
        if on_block:
            on_block(kind, start)

    todo_v = [b for b in _blocks(n_velocity, VELOCITY_BLOCK) if b[0] not in state["velocity_done"]]
    for start, stop in track(todo_v, description="velocity maps"):
        v = generate_velocity(family, stop - start, acq.shape, seed=seed, vmin=acq.vmin, vmax=acq.vmax, start=start)
        ds = velocity_dataset(v, dz=acq.dz, dx=acq.dx).assign_coords(model=np.arange(start, stop))
        _write_region(ds, work / "velocity.zarr", "model", start, stop)
        block_done("velocity", start)

    todo_p = [b for b in _blocks(n_paired, PAIRS_BLOCK) if b[0] not in state["pairs_done"]]
    for (start, stop), (v, seis) in track(_model_blocks(todo_p, family, seed, acq, workers, scheduler),
                                          total=len(todo_p), description="modelling pairs"):
        ds = pairs_dataset(v, seis, acq, origin="simulated", sample=np.arange(start, stop))
        _write_region(ds, work / "pairs.zarr", "sample", start, stop)
        block_done("pairs", start)

    for name in ("velocity.zarr", "pairs.zarr"):  # a run killed between the two moves resumes here
        if (work / name).exists():
            replace_path(work / name, out / name)
        elif not (out / name).exists():
            raise GeogenError(f"the finished {name} is missing from both {work} and {out}; "
                              f"delete {work} and run again", path=out)
    shutil.rmtree(work)
    return SynthResult(**result, blocks_computed=computed, blocks_resumed=resumed)


def _model_blocks(blocks: list[tuple[int, int]], family: str, seed: int, acq: Acquisition, workers: int,
                  scheduler: str | None) -> Iterator[tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]]]:
    """Yield ``(block, (maps, records))`` as blocks finish, in-process or over dask."""
    if not blocks:
        return
    if scheduler is None and workers <= 1:
        for start, stop in blocks:
            yield (start, stop), pair_block(family, seed, start, stop, acq)
        return
    from dask.distributed import as_completed

    from geogen.cluster import dask_client

    with dask_client(workers, scheduler) as client:
        futures = {client.submit(pair_block, family, seed, start, stop, acq, pure=False): (start, stop)
                   for start, stop in blocks}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _already_complete(out: Path, config: dict[str, Any]) -> bool:
    """True when both final stores exist and were written with exactly this config."""
    wanted = json.dumps(config, sort_keys=True)
    for name in ("velocity.zarr", "pairs.zarr"):
        meta = out / name / "zarr.json"
        if not meta.exists():
            return False
        try:
            attrs = json.loads(meta.read_text()).get("attributes", {})
        except (OSError, ValueError):
            return False
        if attrs.get("synth_config") != wanted:
            return False
    return not (out / WORK_DIR).exists()
