"""Torch datasets that stream samples from Zarr stores chunk by chunk.

Training sets (24 000 velocity maps, thousands of 1.4 MB shot records) do not fit in
memory, and random access to single samples would decode a whole compressed chunk per
sample.  :class:`ChunkStream` therefore visits the store's chunks in a shuffled order,
decodes each chunk once, keeps the samples of the wanted split, and shuffles them
within a buffer of a few chunks: memory is bounded by the buffer, reads are
contiguous, and the order is reproducible from ``(seed, epoch)``.  Work is divided
between torch ``DataLoader`` workers and between data-parallel ranks by chunk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from geogen.errors import InputError

Transform = Callable[[np.ndarray], np.ndarray]


def open_arrays(store: str | os.PathLike[str], names: Sequence[str]) -> list:
    """The named Zarr arrays of a store, opened read-only (no data is read)."""
    import zarr

    group = zarr.open_group(str(store), mode="r")
    for name in names:
        if name not in group:
            raise InputError(f"has no variable '{name}'; is it a geogen store of the right kind?", path=store)
    return [group[name] for name in names]


def chunk_blocks(indices: np.ndarray, chunk: int) -> list[np.ndarray]:
    """Split sorted sample indices into groups that share a chunk along the first axis."""
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    if indices.size == 0:
        return []
    ids = indices // chunk
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return np.split(indices, cuts)


def rank_and_world() -> tuple[int, int]:
    """This process's data-parallel rank and the world size (1 outside torchrun)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ChunkStream(IterableDataset):
    """Yield ``(index, array_1, array_2, ...)`` for the chosen samples of a store.

    ``names`` are the store variables to read (e.g. ``("velocity",)`` or
    ``("velocity", "seismic")``); ``transforms`` map each raw block to the model's
    scale and must return new arrays.  ``buffer_chunks`` chunks are decoded and
    shuffled together; with ``shuffle=False`` the order is the store's.
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        names: Sequence[str],
        indices: Sequence[int] | np.ndarray,
        *,
        transforms: Sequence[Transform | None] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        buffer_chunks: int = 4,
        max_block: int = 256,
        shard: bool = True,
    ) -> None:
        super().__init__()
        self.store = Path(store)
        self.names = tuple(names)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transforms = tuple(transforms) if transforms is not None else (None,) * len(self.names)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.buffer_chunks = max(1, buffer_chunks)
        self.shard = shard
        arrays = open_arrays(self.store, self.names)
        # Read in blocks aligned to the first array's chunks but never more than
        # max_block samples at once, whatever chunking the store was written with.
        chunk = int(arrays[0].chunks[0])
        self.block = chunk if chunk <= max_block else max_block
        n = int(arrays[0].shape[0])
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise InputError(
                f"sample index {int(self.indices.max())} is outside the store's {n} samples", path=self.store
            )

    def __len__(self) -> int:
        return int(self.indices.size)

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle of the next pass (call before iterating, as with DistributedSampler)."""
        self.epoch = epoch

    def _my_blocks(self) -> tuple[list[np.ndarray], int | None]:
        """This worker's blocks, and under data parallelism the exact number of samples to yield.

        Every rank must take the same number of optimiser steps or DDP deadlocks, so
        with ``WORLD_SIZE > 1`` each (rank, worker) part yields exactly
        ``ceil(n / parts)`` samples: a short part cycles over its blocks, a long one
        stops early (the shuffle changes which samples each epoch).
        """
        blocks = chunk_blocks(self.indices, self.block)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.shuffle:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        rank, world = rank_and_world() if self.shard else (0, 1)
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        share, part = world * workers, rank * workers + worker
        mine = blocks[part::share]
        if world == 1 or not blocks:
            return mine, None
        return (mine or [blocks[part % len(blocks)]]), math.ceil(self.indices.size / share)

    def _read(self, arrays: list, group: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        parts: list[list[np.ndarray]] = [[] for _ in self.names]
        for idx in group:
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            for k, arr in enumerate(arrays):
                raw = np.asarray(arr[lo:hi])[idx - lo]
                tf = self.transforms[k]
                parts[k].append(np.asarray(tf(raw) if tf is not None else raw, dtype=np.float32))
        return np.concatenate(group), [np.concatenate(p) for p in parts]

    def __iter__(self) -> Iterator[tuple]:
        arrays = open_arrays(self.store, self.names)
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        blocks, quota = self._my_blocks()
        count = 0
        while True:
            for start in range(0, len(blocks), self.buffer_chunks):
                index, data = self._read(arrays, blocks[start:start + self.buffer_chunks])
                order = rng.permutation(index.size) if self.shuffle else np.arange(index.size)
                for i in order:
                    if quota is not None and count >= quota:
                        return
                    count += 1
                    yield (int(index[i]), *(torch.from_numpy(d[i]) for d in data))
            if quota is None or count >= quota or not blocks:
                return


def batches(dataset: ChunkStream, batch_size: int, *, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over a :class:`ChunkStream` (keeps the last short batch)."""
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                                       persistent_workers=False, drop_last=False)


def scan_ranges(store: str | os.PathLike[str], name: str, indices: np.ndarray, *, max_block: int = 256
                ) -> tuple[float, float]:
    """Minimum and maximum of the finite values of ``name`` over the chosen samples, chunk by chunk.

    Non-finite values are skipped here so that the training loop can report the
    exact step and sample that holds them.
    """
    (arr,) = open_arrays(store, (name,))
    block = min(int(arr.chunks[0]), max_block)
    lo, hi = np.inf, -np.inf
    for idx in chunk_blocks(indices, block):
        a, b = int(idx[0]), int(idx[-1]) + 1
        raw = np.asarray(arr[a:b])[idx - a]
        finite = raw[np.isfinite(raw)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    if not np.isfinite(lo):
        raise InputError(f"'{name}' holds no finite values in the training split", path=store)
    return lo, hi
