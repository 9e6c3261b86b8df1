"""Run modelling over dask worker processes.

Each worker is a separate process with one thread (OpenMP gives nothing on a few
cores; processes do), so each compiles or loads the operator once and keeps it in
:data:`geogen.physics.modelling._CACHE` for every later task.  By default a
``LocalCluster`` is started for the call; ``scheduler=ADDRESS`` joins a running one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geogen.acquisition import Acquisition
from geogen.cluster import dask_client
from geogen.physics.modelling import model_maps


def model_task(velocity: np.ndarray, acquisition: Acquisition, sources: list[int] | None) -> np.ndarray:
    """Worker side: model ``(k, z, x)`` maps with the process's cached operator."""
    return model_maps(velocity, acquisition, sources)


def plan_tasks(n_samples: int, n_sources: int, workers: int) -> list[tuple[slice, list[int] | None]]:
    """Split the work: whole maps when there are enough of them, else single shots."""
    if n_samples >= 2 * workers:
        per = max(1, n_samples // (4 * workers))
        return [(slice(i, min(i + per, n_samples)), None) for i in range(0, n_samples, per)]
    return [(slice(i, i + 1), [s]) for i in range(n_samples) for s in range(n_sources)]


def model_parallel(velocity: np.ndarray, acquisition: Acquisition, *, workers: int | None = None,
                   scheduler: str | None = None, client: Any = None) -> np.ndarray:
    """Model validated ``(sample, z, x)`` maps over dask workers; same result as in-process."""
    if client is None:
        with dask_client(workers, scheduler) as own:
            return model_parallel(velocity, acquisition, client=own)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    out = np.empty((velocity.shape[0], *acquisition.seismic_shape), dtype=np.float32)
    tasks = plan_tasks(velocity.shape[0], acquisition.n_sources, n_workers)
    futures = {client.submit(model_task, velocity[rows], acquisition, sources, pure=False): (rows, sources)
               for rows, sources in tasks}
    from dask.distributed import as_completed

    for future in as_completed(futures):
        rows, sources = futures[future]
        result = future.result()
        if sources is None:
            out[rows] = result
        else:
            out[rows, sources] = result
    return out
