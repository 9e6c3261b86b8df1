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
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from geogen.data.loader import chunk_blocks, open_arrays
from geogen.data.store import atomic_path
from geogen.errors import InputError
from geogen.training.config import SplitConfig

NAMES = ("train", "validation", "test")


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


def make_splits(velocity_store: Path, pairs_store: Path, cfg: SplitConfig) -> dict[str, Any]:
    """Draw both stores' splits and move velocity maps whose pair is held out."""
    v_hash = content_hashes(velocity_store)
    p_hash = content_hashes(pairs_store)
    pairs = draw(len(p_hash), cfg.validation, cfg.test, cfg.seed)
    velocity = draw(len(v_hash), cfg.validation, cfg.test, cfg.seed + 1)
    where = {h: i for i, h in enumerate(v_hash)}
    pair_to_velocity = {str(p): where[p_hash[p]] for p in range(len(p_hash)) if p_hash[p] in where}
    part_of = {i: k for k in NAMES for i in velocity[k]}
    for held in ("validation", "test"):
        for p in pairs[held]:
            v = pair_to_velocity.get(str(p))
            if v is not None and part_of[v] != held:
                part_of[v] = held
    velocity = {k: sorted(i for i, part in part_of.items() if part == k) for k in NAMES}
    if not velocity["train"]:
        raise InputError("no velocity map is left for training once held-out pairs are removed", path=velocity_store)
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
    }


def load_or_make_splits(run_dir: Path, velocity_store: Path, pairs_store: Path, cfg: SplitConfig,
                        n_velocity: int, n_pairs: int) -> dict[str, Any]:
    """The run's saved splits, or new ones written atomically; a mismatch with the stores is an error."""
    path = run_dir / "splits.json"
    if path.is_file():
        splits = json.loads(path.read_text())
        if splits.get("n_velocity") != n_velocity or splits.get("n_pairs") != n_pairs:
            raise InputError(
                f"was drawn for {splits.get('n_velocity')} maps and {splits.get('n_pairs')} pairs, the stores hold "
                f"{n_velocity} and {n_pairs}; use a new run directory for other data", path=path)
        return splits
    splits = make_splits(velocity_store, pairs_store, cfg)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(splits))
    return splits
