"""geogen: paired velocity/seismic data generation (UB-Diff) for data-driven FWI.

Every command-line verb is also a function here that takes and returns xarray
objects or paths, for use from existing processing scripts::

    import geogen
    survey = geogen.ingest("line.sgy", "line.zarr")
    pairs = geogen.open_store("run/generated.zarr")

Attributes are imported on first use so that ``import geogen`` stays cheap (torch and
Devito load only when a verb that needs them is called).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "ingest": "geogen.io",
    "export": "geogen.io",
    "open_store": "geogen.data.store",
    "write_store": "geogen.data.store",
    "info": "geogen.summary",
    "Acquisition": "geogen.acquisition",
    "GeogenError": "geogen.errors",
    "InputError": "geogen.errors",
    "forward": "geogen.physics",
    "direct_wave": "geogen.physics",
    "synth": "geogen.physics.synth",
    "UBDiff": "geogen.models.ubdiff",
    "generate": "geogen.generation",
    "validate": "geogen.evaluation.physics_check",
    "evaluate": "geogen.evaluation.downstream",
    "Workflow": "geogen.workflow.runner",
    "train": "geogen.workflow.runner",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'geogen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
