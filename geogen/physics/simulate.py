"""``forward`` and ``direct_wave``: modelled records of velocity maps, here or over dask workers.

The maps are validated first (:func:`geogen.physics.modelling.as_velocity_array`); one process
models them with :func:`geogen.physics.modelling.model_maps`, several with
:func:`geogen.physics.parallel.model_parallel`.  See :mod:`geogen.physics.modelling` for the
scheme and the time axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geogen.acquisition import Acquisition
from geogen.errors import InputError
from geogen.physics.modelling import as_velocity_array, direct_wave_maps, model_maps
from geogen.physics.parallel import model_parallel


def forward(velocity: Any, acquisition: Acquisition, *, workers: int | None = None,
            scheduler: str | None = None) -> np.ndarray:
    """Model shot gathers for velocity maps (m/s) with the acquisition's geometry.

    ``velocity`` is ``(z, x)`` or ``(sample, z, x)`` (numpy or xarray); the result is
    float32 ``(sample, source, time, receiver)`` on OpenFWI's time axis (see the module
    docstring).  ``workers`` > 1 or a ``scheduler`` address spreads maps and shots over
    dask worker processes; ``None`` or 1 runs here, without a cluster.  ``workers``
    starts (and stops) a local cluster for this call, a few seconds; for many calls
    start one cluster and pass its ``scheduler`` address instead.  Raises
    :class:`InputError` before any compute for NaN, non-positive or km/s-looking
    velocities, a map shape other than the acquisition's, or a CFL violation at the
    maps' highest velocity.
    """
    if not isinstance(acquisition, Acquisition):
        raise InputError(f"acquisition must be a geogen Acquisition, got {type(acquisition).__name__}")
    v = as_velocity_array(velocity, acquisition)
    if scheduler is None and (workers is None or workers <= 1):
        return model_maps(v, acquisition)
    return model_parallel(v, acquisition, workers=workers, scheduler=scheduler)


def direct_wave(velocity: Any, acquisition: Acquisition, *, workers: int | None = None,
                scheduler: str | None = None) -> np.ndarray:
    """The direct-wave record of each map: Devito in a homogeneous medium at the map's top-row mean velocity.

    Same acquisition, grid, absorbing layer and time axis as :func:`forward`, so
    ``forward(v) - direct_wave(v)`` is the part of the record that the rest of the map
    controls (reflections, refractions, diffractions): the *scattered* part that
    :mod:`geogen.evaluation.physics_check` scores.  A homogeneous map's scattered part is
    exactly zero.  Takes and returns what :func:`forward` does.
    """
    v = as_velocity_array(velocity, acquisition)
    return forward(direct_wave_maps(v), acquisition, workers=workers, scheduler=scheduler)
