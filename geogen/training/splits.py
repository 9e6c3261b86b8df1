"""Train / validation / test splits, drawn once per run and saved in ``run_dir/splits.json``.

Two stores feed a run: many velocity maps, and few pairs.  A paired sample's map is
usually also among the velocity maps (``geogen synth`` writes the first ``n_paired``
maps into both), and nothing guarantees the same index.  Maps are therefore matched
by *content*: the SHA-1 of the map's float32 bytes.  A velocity map equal to a paired
validation (test) sample is forced into the velocity validation (test) split, so that
step 1 and the diffusion never train on a map whose pair is held out.  Equal bytes is
the right test for maps that were copied between stores; maps that were resampled or
rounded on the way will not match, which the report in ``splits.json`` makes visible
(``matched_pairs``).

Windows cut along one recorded line overlap their neighbours, so a random split would
test on ground the model trained on.  :func:`block_split` splits them in blocks along
the line instead, and a pairs store that carries the result as a ``split_part(sample)``
coordinate (``train``, ``validation``, ``test``, or ``dropped``; empty for pairs from
elsewhere) keeps it: :func:`make_splits` draws only the other pairs at random.  A
dropped window's velocity map is left out of every velocity split too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from geogen.data.loader import chunk_blocks, open_arrays
from geogen.errors import InputError
from geogen.run.atomic import atomic_write_json
from geogen.run.rundir import RunDir
from geogen.training.config import SplitConfig

NAMES = ("train", "validation", "test")
#: Blocks a line is cut into by default (with 10 % validation and 10 % test: one block each).
DEFAULT_BLOCKS = 5


def content_hashes(store: str | os.PathLike[str], name: str = "velocity", *, block: int = 256) -> list[str]:
    """SHA-1 of every sample's float32 bytes, read chunk by chunk."""
    (arr,) = open_arrays(store, (name,))
    n = int(arr.shape[0])
    step = min(int(arr.chunks[0]), block)
    out: list[str] = []
    for idx in chunk_blocks(np.arange(n), step):
        raw = np.ascontiguousarray(np.asarray(arr[int(idx[0]):int(idx[-1]) + 1], dtype=np.float32))
        out.extend(hashlib.sha1(m.tobytes()).hexdigest() for m in raw)
    return out


def draw(n: int, validation: float, test: float, seed: int) -> dict[str, list[int]]:
    """Random split of ``range(n)`` by fractions; each part sorted (chunk-friendly reads)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = int(round(n * validation)), int(round(n * test))
    if n - n_val - n_test < 1:
        raise InputError(f"{n} samples leave none for training with validation={validation}, test={test}")
    parts = {"validation": perm[:n_val], "test": perm[n_val:n_val + n_test], "train": perm[n_val + n_test:]}
    return {k: sorted(int(i) for i in parts[k]) for k in NAMES}


def block_split(x0: np.ndarray, width: float, validation: float, test: float, seed: int,
                blocks: int = DEFAULT_BLOCKS) -> dict[str, Any]:
    """Split the windows of one line (starts ``x0``, each ``width`` m wide) in blocks along it.

    The line's span of window centres is cut into ``blocks`` blocks of equal length; each
    window belongs to the block of its centre.  ``round(blocks * fraction)`` blocks (at
    least one when the fraction is above 0) are drawn at random (``seed``) for test, then
    for validation (redrawn, up to 100 times, while a validation block touches a test
    block); the rest train.  A training window that overlaps any held-out window,
    or a validation window that overlaps a test window, is dropped (it shares ground with
    them).  Returns ``part`` (one of train/validation/test/dropped per window, in the
    order of ``x0``), the ``blocks`` table and the ``dropped`` windows with why.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    n = len(x0)
    if n == 0:
        return {"part": [], "blocks": [], "dropped": []}
    b = max(1, min(int(blocks), n))
    centre = x0 + width / 2
    lo, hi = float(centre.min()), float(centre.max())
    edges = np.linspace(lo, hi, b + 1)
    block = np.clip(np.searchsorted(edges, centre, side="right") - 1, 0, b - 1)
    n_test = max(1, round(b * test)) if test > 0 else 0
    n_val = max(1, round(b * validation)) if validation > 0 else 0
    if n_test + n_val >= b:
        raise InputError(f"a line of {n} windows in {b} blocks cannot hold {n_test} test and {n_val} validation "
                         f"block(s) and still train; use more blocks (data.field.blocks), smaller held-out "
                         "fractions, or a longer line")
    rng = np.random.default_rng(seed)
    for _ in range(100):  # prefer validation blocks that do not touch a test block
        order = rng.permutation(b)
        role = np.array(["train"] * b, dtype=object)
        role[order[:n_test]] = "test"
        role[order[n_test:n_test + n_val]] = "validation"
        touching = [k for k in range(b - 1) if {role[k], role[k + 1]} == {"test", "validation"}]
        if not touching:
            break
    part = role[block].astype(object)
    overlap = np.abs(x0[:, None] - x0[None, :]) < width * (1 - 1e-9)
    dropped = []
    for i in range(n):
        for held, losers in (("test", ("train", "validation")), ("validation", ("train",))):
            if part[i] in losers and np.any(overlap[i] & (role[block] == held)):
                dropped.append({"window": i, "x0": float(x0[i]), "block": int(block[i]),
                                "was": str(part[i]), "overlaps": held})
                break
    for d in dropped:
        part[d["window"]] = "dropped"
    table = [{"block": k, "centres_from_m": float(edges[k]), "centres_to_m": float(edges[k + 1]),
              "part": str(role[k]), "windows": int((block == k).sum()),
              "kept": int(((block == k) & (part != "dropped")).sum())} for k in range(b)]
    if n_val and not np.any(part == "validation"):
        raise InputError(f"every validation window of the line overlaps a test window ({width:g} m wide); use "
                         "fewer blocks (data.field.blocks) or a longer line")
    if not np.any(part == "train"):
        raise InputError(f"no window of the line is left for training: all {n} overlap held-out windows "
                         f"({width:g} m wide); use more blocks (data.field.blocks) or a longer line")
    return {"part": [str(p) for p in part], "blocks": table, "dropped": dropped}


def _fixed_parts(pairs_store: Path, n: int) -> np.ndarray | None:
    """The ``split_part(sample)`` coordinate of a pairs store, or None."""
    import xarray as xr

    try:
        ds = xr.open_zarr(pairs_store, consolidated=False, zarr_format=3)
    except Exception:  # noqa: BLE001 - not a Zarr store: no fixed parts
        return None
    if "split_part" not in ds.variables or ds["split_part"].dims != ("sample",):
        return None
    parts = np.array([str(p) for p in np.asarray(ds["split_part"].values)], dtype=object)
    return parts if parts.shape == (n,) else None


def make_splits(velocity_store: Path, pairs_store: Path, cfg: SplitConfig) -> dict[str, Any]:
    """Draw both stores' splits and move velocity maps whose pair is held out.

    Pairs with a ``split_part`` (windows of a line split in blocks) keep it; the others
    are drawn at random with ``cfg``'s fractions.
    """
    v_hash = content_hashes(velocity_store)
    p_hash = content_hashes(pairs_store)
    fixed = _fixed_parts(Path(pairs_store), len(p_hash))
    marked = np.zeros(len(p_hash), bool) if fixed is None else np.array([p in NAMES + ("dropped",) for p in fixed])
    free = np.flatnonzero(~marked)
    pairs = {k: [] for k in NAMES}
    if len(free):
        drawn = draw(len(free), cfg.validation, cfg.test, cfg.seed)
        pairs = {k: [int(free[i]) for i in drawn[k]] for k in NAMES}
    dropped_pairs: list[int] = []
    if fixed is not None:
        for k in NAMES:
            pairs[k] = sorted(pairs[k] + [int(i) for i in np.flatnonzero(fixed == k)])
        dropped_pairs = [int(i) for i in np.flatnonzero(fixed == "dropped")]
        if not pairs["train"]:
            raise InputError("no pair is left for training", path=pairs_store)
    velocity = draw(len(v_hash), cfg.validation, cfg.test, cfg.seed + 1)
    where = {h: i for i, h in enumerate(v_hash)}
    pair_to_velocity = {str(p): where[p_hash[p]] for p in range(len(p_hash)) if p_hash[p] in where}
    part_of = {i: k for k in NAMES for i in velocity[k]}
    for held in ("validation", "test"):
        for p in pairs[held]:
            v = pair_to_velocity.get(str(p))
            if v is not None and part_of[v] != held:
                part_of[v] = held
    for p in dropped_pairs:  # a dropped window's map shares ground with held-out windows
        v = pair_to_velocity.get(str(p))
        if v is not None and part_of.get(v) == "train":
            part_of.pop(v)
    velocity = {k: sorted(i for i, part in part_of.items() if part == k) for k in NAMES}
    if not velocity["train"]:
        raise InputError("no velocity map is left for training once held-out pairs are removed", path=velocity_store)
    extra = {} if fixed is None else {"fixed_pairs": int(marked.sum()),
                                      "dropped_pairs": dropped_pairs}
    return {
        "seed": cfg.seed,
        "fractions": {"validation": cfg.validation, "test": cfg.test},
        "matching": "sha1 of each map's float32 bytes",
        "velocity_store": str(velocity_store),
        "pairs_store": str(pairs_store),
        "n_velocity": len(v_hash),
        "n_pairs": len(p_hash),
        "matched_pairs": len(pair_to_velocity),
        "pair_to_velocity": pair_to_velocity,
        "velocity": velocity,
        "pairs": pairs,
        **extra,
    }


def load_or_make_splits(run_dir: Path, velocity_store: Path, pairs_store: Path, cfg: SplitConfig,
                        n_velocity: int, n_pairs: int) -> dict[str, Any]:
    """The run's saved splits, or new ones written atomically; a mismatch with the stores is an error."""
    path = RunDir(run_dir).splits
    if path.is_file():
        splits = json.loads(path.read_text())
        if splits.get("n_velocity") != n_velocity or splits.get("n_pairs") != n_pairs:
            raise InputError(
                f"was drawn for {splits.get('n_velocity')} maps and {splits.get('n_pairs')} pairs, the stores hold "
                f"{n_velocity} and {n_pairs}; use a new run directory for other data", path=path)
        return splits
    splits = make_splits(velocity_store, pairs_store, cfg)
    atomic_write_json(path, splits, indent=None)
    return splits
