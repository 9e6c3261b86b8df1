"""Shared fixtures: everything is written by the tests themselves, nothing downloaded."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DEVITO_LOGGING", "ERROR")


@pytest.fixture(autouse=True)
def _quiet_progress():
    from geogen import progress

    progress.set_enabled(False)
    yield
    progress.set_enabled(None)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread per test: on a 2-core machine more threads only contend (measured 10x+ slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
