"""A run directory and checkpoint written before the run-artifacts layer (issue 14) still load and generate the
same pairs.  ``tests/fixtures/old_run`` was made by ``tests/fixtures/make_old_run.py`` with the code of commit
a6ccab1; ``old_run_expected.npz`` holds the pairs that code sampled from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from geogen.data.store import open_store
from geogen.generation import generate
from geogen.models.ubdiff import UBDiff

FIXTURES = Path(__file__).parent / "fixtures"


def _assert_same_pairs(velocity: np.ndarray, seismic: np.ndarray, expected: np.lib.npyio.NpzFile) -> None:
    """Equal to float32 rounding: another CPU's BLAS kernels sum in another order (an AMD EPYC gives 12 of the
    432 velocities 1 ulp apart from the machine that wrote the fixture); a wrongly loaded run is off by far more."""
    np.testing.assert_allclose(velocity, expected["velocity"], rtol=1e-6, atol=0)
    np.testing.assert_allclose(seismic, expected["seismic"], rtol=1e-5, atol=1e-6 * np.abs(expected["seismic"]).max())


def _old_run(tmp_path: Path) -> Path:
    run = tmp_path / "old_run"
    shutil.copytree(FIXTURES / "old_run", run)
    return run


def test_an_old_run_directory_samples_the_pairs_it_sampled_before(tmp_path: Path) -> None:
    expected = np.load(FIXTURES / "old_run_expected.npz")
    model = UBDiff.load(_old_run(tmp_path))
    velocity, seismic = model.sample(3, steps=4, seed=5, batch_size=2)
    _assert_same_pairs(velocity, seismic, expected)


def test_an_old_checkpoint_file_loads_directly_and_generate_writes_the_same_pairs(tmp_path: Path) -> None:
    expected = np.load(FIXTURES / "old_run_expected.npz")
    run = _old_run(tmp_path)
    model = UBDiff.load(run / "checkpoints" / "diffusion.pt")
    assert model.config.latent_dim == 4 and model.acquisition.shape == (12, 12)
    generate(run, 3, tmp_path / "gen.zarr", steps=4, seed=5, batch_size=2)
    ds = open_store(tmp_path / "gen.zarr", kind="pairs")
    _assert_same_pairs(ds["velocity"].values, ds["seismic"].transpose("sample", "source", "time", "receiver").values,
                       expected)
