"""Dask clusters: a local process cluster for one call, or a running scheduler joined by address.

Used by modelling (:mod:`geogen.physics.parallel`), SEG-Y ingest and the physics check.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

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
