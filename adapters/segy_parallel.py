"""Run a SEG-Y fill (:class:`geogen.adapters.segy_ingest.FillJob`) over workers.

Three ways, same chunks:

- **forked processes** (the default on POSIX, ``workers`` of them, one per core): each
  takes every ``workers``-th block of grid rows, opens the file through segyio itself,
  reads, encodes and writes the block's chunks, and reports one JSON line per block on a
  pipe.  The job (layout, grid of trace numbers) is inherited through ``fork``.
- **a dask cluster** (``scheduler=ADDRESS``, as for ``geogen synth --scheduler``): the job
  is scattered once to every worker and each block is a task; the workers must see the
  SEG-Y file and the store's folder at the same paths (a shared file system).
- **this process**, one block after another (one worker, or no ``fork``).

A worker holds one block (a few shots) at a time, so memory stays bounded.  The first
error in any worker (a file that shrank, a bad velocity) stops the others and is raised
in the caller as the same :class:`~geogen.errors.GeogenError`; the caller's atomic write
then leaves no store.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import traceback
from collections.abc import Iterator
from typing import Any

from geogen import errors
from geogen.progress import track


def available() -> bool:
    """Forked workers need ``os.fork`` (POSIX)."""
    return hasattr(os, "fork")


def run(job: Any, *, workers: int | None = None, scheduler: str | None = None) -> dict[str, Any]:
    """Fill every block of ``job``; returns the merged block statistics."""
    starts = job.starts
    if scheduler:
        results = _run_dask(job, starts, scheduler)
    else:
        n = max(1, min(int(workers or os.cpu_count() or 1), len(starts)))
        if n > 1 and available():
            results = _run_forked(job, starts, n)
        else:
            codecs: dict[str, Any] = {}
            results = [job.fill(r0, codecs) for r0 in track(starts, total=len(starts), description="ingest")]
    return merge(results)


def merge(results: Any) -> dict[str, Any]:
    """Sum live traces and take the envelope of every (min, max) range."""
    out: dict[str, Any] = {"live": 0}
    for stats in results:
        for key, value in stats.items():
            if key == "live":
                out["live"] += int(value)
            elif key in out:
                out[key] = (min(out[key][0], value[0]), max(out[key][1], value[1]))
            else:
                out[key] = tuple(value)
    return out


# ----------------------------------------------------------------------------- forked processes


def _run_forked(job: Any, starts: list[int], workers: int) -> list[dict[str, Any]]:
    children: dict[int, int] = {}  # pid -> read end of its pipe
    try:
        for k in range(workers):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the caller's code
                status = 1
                try:
                    os.close(read_fd)
                    for fd in children.values():
                        os.close(fd)
                    status = _work(job, starts[k::workers], write_fd)
                finally:
                    os._exit(status)
            os.close(write_fd)
            children[pid] = read_fd
        return list(track(_collect(children), total=len(starts), description="ingest"))
    finally:
        _stop(children)


def _work(job: Any, starts: list[int], fd: int) -> int:
    try:
        from numcodecs import blosc

        blosc.use_threads = False  # contextual, single-threaded Blosc: no state shared with the parent
        codecs: dict[str, Any] = {}
        for r0 in starts:
            _send(fd, json.dumps({"ok": job.fill(r0, codecs)}).encode() + b"\n")
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        try:
            _send(fd, json.dumps({"error": _pack(exc)}).encode() + b"\n")
        except BaseException:  # noqa: BLE001
            pass
        return 1


def _collect(children: dict[int, int]) -> Iterator[dict[str, Any]]:
    """Block statistics as workers report them; the first error stops everything and is raised."""
    sel = selectors.DefaultSelector()
    pending: dict[int, bytearray] = {}
    for pid, fd in children.items():
        sel.register(fd, selectors.EVENT_READ, pid)
        pending[pid] = bytearray()
    try:
        left = len(children)
        while left:
            for key, _ in sel.select():
                pid = key.data
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                    left -= 1
                    status = _reap(children, pid)
                    if pending[pid].strip():
                        _raise({"kind": "other", "name": "RuntimeError", "detail": "a worker's report was cut short"})
                    if status:
                        raise RuntimeError(f"an ingest worker (process {pid}) ended with status {status}")
                    continue
                pending[pid] += data
                *lines, rest = pending[pid].split(b"\n")
                pending[pid] = bytearray(rest)
                for line in lines:
                    message = json.loads(line)
                    if "error" in message:
                        _raise(message["error"])
                    yield message["ok"]
    finally:
        sel.close()


def _reap(children: dict[int, int], pid: int) -> int:
    fd = children.pop(pid)
    try:
        os.close(fd)
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _stop(children: dict[int, int]) -> None:
    """Stop and reap every worker still running (after an error)."""
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(children, pid)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ----------------------------------------------------------------------------- dask


def fill_task(job: Any, r0: int) -> dict[str, Any]:
    """One block on a dask worker; errors come back as data, not as pickled exceptions."""
    try:
        return {"ok": job.fill(r0)}
    except BaseException as exc:  # noqa: BLE001 - reported to the client, raised there
        return {"error": _pack(exc)}


def _run_dask(job: Any, starts: list[int], scheduler: str) -> list[dict[str, Any]]:
    from dask.distributed import as_completed

    from geogen.cluster import dask_client

    results = []
    with dask_client(scheduler=scheduler) as client:
        [remote] = client.scatter([job], broadcast=True)
        futures = [client.submit(fill_task, remote, r0, pure=False) for r0 in starts]
        try:
            for future in track(as_completed(futures), total=len(futures), description="ingest"):
                message = future.result()
                if "error" in message:
                    _raise(message["error"])
                results.append(message["ok"])
        except BaseException:
            client.cancel(futures)
            raise
    return results


# ----------------------------------------------------------------------------- errors across processes


def _pack(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.GeogenError):
        return {"kind": "geogen", "name": type(exc).__name__, "detail": exc.detail, "path": exc.path}
    return {"kind": "other", "name": type(exc).__name__, "detail": str(exc), "traceback": traceback.format_exc()}


def _raise(error: dict[str, Any]) -> None:
    """Re-raise a worker's error here, as the same class for geogen's own errors."""
    if error.get("kind") == "geogen":
        cls = getattr(errors, str(error.get("name")), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.GeogenError)):
            cls = errors.GeogenError
        raise cls(error["detail"], path=error.get("path"))
    exc = RuntimeError(f"ingest worker failed: {error.get('name')}: {error.get('detail')}")
    if error.get("traceback"):
        exc.add_note(f"in the worker:\n{error['traceback']}")  # shown with --debug only
    raise exc
