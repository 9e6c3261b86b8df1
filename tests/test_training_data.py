"""Streaming from Zarr: every sample once per epoch, reproducible order, reads bounded by chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from geogen.data.datasets import velocity_dataset
from geogen.data.loader import ChunkStream, batches, chunk_blocks, scan_ranges
from geogen.data.store import write_store
from geogen.errors import InputError


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    v = (1500 + np.arange(100, dtype=np.float32))[:, None, None] * np.ones((1, 4, 5), np.float32)
    v[37, 0, 0] = np.inf
    return write_store(velocity_dataset(v, dz=10.0, dx=10.0), tmp_path_factory.mktemp("s") / "v.zarr",
                       chunks={"velocity": {"model": 10}})


def _order(stream: ChunkStream) -> list[int]:
    return [int(item[0]) for item in stream]


def test_each_sample_once_per_epoch_and_values_match(store: Path) -> None:
    wanted = np.array([3, 4, 5, 17, 18, 55, 90, 99, 0])
    stream = ChunkStream(store, ("velocity",), wanted, transforms=[lambda a: a - 1500], buffer_chunks=2)
    items = list(stream)
    assert sorted(i for i, _ in items) == sorted(wanted.tolist())
    for i, v in items:
        assert v.shape == (4, 5) and v.dtype == torch.float32
        if i != 37:
            assert float(v[1, 1]) == i  # the transform ran, on the right sample


def test_order_is_shuffled_per_epoch_and_reproducible(store: Path) -> None:
    idx = np.arange(100)
    a = ChunkStream(store, ("velocity",), idx, seed=3)
    first = _order(a)
    a.set_epoch(1)
    second = _order(a)
    assert first != second and sorted(first) == sorted(second) == list(range(100))
    b = ChunkStream(store, ("velocity",), idx, seed=3)
    b.set_epoch(1)
    assert _order(b) == second
    assert _order(ChunkStream(store, ("velocity",), idx, shuffle=False)) == list(range(100))


def test_shuffle_stays_within_a_buffer_of_chunks(store: Path) -> None:
    order = _order(ChunkStream(store, ("velocity",), np.arange(100), buffer_chunks=2, seed=1))
    for start in range(0, 100, 20):  # each group of two 10-sample chunks is read, then emptied
        assert len({i // 10 for i in order[start:start + 20]}) == 2


def test_workers_split_the_chunks(store: Path) -> None:
    stream = ChunkStream(store, ("velocity",), np.arange(100), seed=0)
    seen = [int(i) for batch in batches(stream, 7, num_workers=2) for i in batch[0]]
    assert sorted(seen) == list(range(100))


def test_chunk_blocks_and_ranges(store: Path) -> None:
    blocks = chunk_blocks(np.array([25, 1, 2, 11, 19, 20]), 10)
    assert [b.tolist() for b in blocks] == [[1, 2], [11, 19], [20, 25]]
    lo, hi = scan_ranges(store, "velocity", np.arange(30, 45))
    assert (lo, hi) == (1530.0, 1544.0)  # the Inf of sample 37 is skipped, reported later by training
    with pytest.raises(InputError, match="outside the store's 100 samples"):
        ChunkStream(store, ("velocity",), [5, 100])
    with pytest.raises(InputError, match="no variable 'seismic'"):
        ChunkStream(store, ("seismic",), [0])
