"""training.threads: a count, auto (the cores idle now) or torch's choice."""

from __future__ import annotations

import os

import psutil
import pytest
from pydantic import ValidationError

from geogen.training.config import TrainingConfig
from geogen.training.context import idle_cores, torch_threads


@pytest.mark.parametrize("busy_percent, cores, expected", [(0.0, 2, 2), (50.0, 2, 1), (100.0, 2, 1),
                                                           (30.0, 16, 11), (95.0, 4, 1)])
def test_idle_cores_counts_the_cores_no_one_keeps_busy(monkeypatch, busy_percent, cores, expected):
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval: busy_percent)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert idle_cores() == expected


def test_auto_measures_the_machine_and_counts_pass_through():
    assert 1 <= torch_threads("auto") <= (os.cpu_count() or 1)
    assert torch_threads(3) == 3
    assert torch_threads(None) is None


@pytest.mark.parametrize("bad", [0, -2, "many"])
def test_bad_thread_settings_are_refused(bad):
    with pytest.raises(ValidationError, match="threads"):
        TrainingConfig(threads=bad)
