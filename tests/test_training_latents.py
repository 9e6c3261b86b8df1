"""The diffusion's cached co-latents belong to the encoder that made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from geogen.acquisition import Acquisition
from geogen.data.datasets import velocity_dataset
from geogen.data.loader import ChunkStream
from geogen.data.store import write_store
from geogen.models.config import ModelConfig
from geogen.models.ubdiff import UBDiffNet
from geogen.run.rundir import RunDir
from geogen.training.context import DeviceContext
from geogen.training.loops import cached_latents, encoder_digest

ACQ = Acquisition.preset("small")


@pytest.fixture()
def streams(tmp_path: Path) -> dict[str, ChunkStream]:
    rng = np.random.default_rng(0)
    v = rng.uniform(1500, 4500, size=(10, *ACQ.shape)).astype(np.float32)
    store = write_store(velocity_dataset(v, dz=ACQ.dz, dx=ACQ.dx), tmp_path / "v.zarr",
                        chunks={"velocity": {"model": 4}})
    scale = [lambda a: (a - 3000.0) / 1500.0]
    return {"train": ChunkStream(store, ("velocity",), np.arange(7), transforms=scale, shuffle=False, shard=False),
            "validation": ChunkStream(store, ("velocity",), np.arange(7, 10), transforms=scale, shuffle=False,
                                      shard=False)}


def _net(seed: int) -> UBDiffNet:
    torch.manual_seed(seed)
    return UBDiffNet(ModelConfig(latent_dim=8, encoder_channels=[4, 8, 8], transformer_dim=16, transformer_depth=1,
                                 transformer_heads=2, patch_time=40), ACQ).eval()


def _expected(net: UBDiffNet, stream: ChunkStream) -> np.ndarray:
    with torch.no_grad():
        return net.encode(torch.stack([item[1] for item in stream])).numpy()


def test_latents_are_reused_for_the_same_encoder_and_redone_for_another(tmp_path: Path, streams) -> None:
    run, ctx = RunDir(tmp_path / "run"), DeviceContext(device=torch.device("cpu"))
    run.root.mkdir()
    first = _net(0)
    got = cached_latents(run, first, streams, 4, ctx)
    np.testing.assert_allclose(got["train"], _expected(first, streams["train"]), rtol=1e-5, atol=1e-6)
    assert set(got) == {"train", "validation"} and got["validation"].shape == (3, 8)
    written = run.latents.stat().st_mtime_ns

    again = cached_latents(run, first, streams, 4, ctx)  # same weights: the file is read, not rewritten
    assert run.latents.stat().st_mtime_ns == written
    np.testing.assert_array_equal(again["train"], got["train"])

    # step 1 retrained (other weights), run directory reused: the latents must be the new encoder's
    other = _net(1)
    assert encoder_digest(other) != encoder_digest(first)
    redone = cached_latents(run, other, streams, 4, ctx)
    np.testing.assert_allclose(redone["train"], _expected(other, streams["train"]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(redone["train"], got["train"])


def test_a_latents_file_without_a_digest_is_encoded_again(tmp_path: Path, streams) -> None:
    """Files written before the digest existed cannot be trusted to match the encoder."""
    run, ctx = RunDir(tmp_path / "run"), DeviceContext(device=torch.device("cpu"))
    run.root.mkdir()
    np.savez(run.latents, train=np.zeros((7, 8), np.float32), validation=np.zeros((3, 8), np.float32))
    net = _net(2)
    got = cached_latents(run, net, streams, 4, ctx)
    np.testing.assert_allclose(got["validation"], _expected(net, streams["validation"]), rtol=1e-5, atol=1e-6)
