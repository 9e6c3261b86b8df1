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
