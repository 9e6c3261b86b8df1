"""Run modelling over dask worker processes.

Each worker is a separate process with one thread (OpenMP gives nothing on a few
cores; processes do), so each compiles or loads the operator once and keeps it in
:data:`geogen.physics.modelling._CACHE` for every later task.  By default a
``LocalCluster`` is started for the call; ``scheduler=ADDRESS`` joins a running one.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np

from geogen.acquisition import Acquisition
from geogen.errors import GeogenError, InputError


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask ``Client``: on ``scheduler`` if given, else on a fresh local process cluster."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise GeogenError("parallel modelling needs dask.distributed; install geogen's dependencies") from exc
    if scheduler is not None:
        check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"--scheduler {scheduler}: cannot connect ({exc}); start the scheduler or drop the option"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = max(1, int(workers or 1))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        yield client


def check_reachable(address: str) -> None:
    """Fail fast, with the address in the message, when nothing listens there (TCP only)."""
    from urllib.parse import urlsplit

    if "://" not in address:
        address = f"tcp://{address}"
    parts = urlsplit(address)
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        return  # other transports: let dask connect and report
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except OSError as exc:
        raise InputError(f"--scheduler {address}: no dask scheduler answers there ({exc.strerror or exc}); "
                         "start one (dask scheduler) or drop the option to use a local cluster") from None


def model_task(velocity: np.ndarray, acquisition: Acquisition, sources: list[int] | None) -> np.ndarray:
    """Worker side: model ``(k, z, x)`` maps with the process's cached operator."""
    from geogen.physics.modelling import model_maps

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
