"""Checks of the two training stores before any work: kind, geometry, map size.

Every mismatch is one :class:`~geogen.errors.InputError` that names the store, what
differs and what to do, raised before a checkpoint or split is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geogen.acquisition import Acquisition
from geogen.data.datasets import open_pairs
from geogen.data.store import open_store
from geogen.errors import InputError


@dataclass(frozen=True)
class TrainingInputs:
    velocity_store: Path
    pairs_store: Path
    acquisition: Acquisition
    n_velocity: int
    n_pairs: int


def _spacing(ds, dim: str) -> float | None:
    if dim not in ds.coords or ds.sizes[dim] < 2:
        return None
    return float(np.diff(np.asarray(ds[dim].values, dtype=np.float64)).mean())


def check_inputs(velocity_store: str | os.PathLike[str], pairs_store: str | os.PathLike[str]) -> TrainingInputs:
    vpath, ppath = Path(velocity_store), Path(pairs_store)
    vds = open_store(vpath, kind="velocity")
    pds, acq = open_pairs(ppath)
    if "velocity" not in vds or vds["velocity"].ndim != 3:
        raise InputError("needs a variable 'velocity(model, z, x)'", path=vpath)
    v_shape = tuple(int(s) for s in vds["velocity"].shape[1:])
    if v_shape != acq.shape:
        raise InputError(
            f"velocity maps are {v_shape[0]} x {v_shape[1]}, the paired data ({ppath.name}) are "
            f"{acq.nz} x {acq.nx}; resample the maps to the paired grid or use matching stores",
            path=vpath,
        )
    for dim, step in (("z", acq.dz), ("x", acq.dx)):
        got = _spacing(vds, dim)
        if got is not None and abs(got - step) > 1e-3 * step:
            raise InputError(f"grid spacing along {dim} is {got:g} m, the paired data's is {step:g} m; "
                             "resample the maps to the paired grid", path=vpath)
    return TrainingInputs(vpath, ppath, acq, int(vds.sizes[vds["velocity"].dims[0]]), int(pds.sizes["sample"]))
