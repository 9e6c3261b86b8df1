"""Fill the sample and raw-header chunks of a SEG-Y store in worker processes.

The threaded fill (:func:`geogen.adapters.segy_ingest.fill`) runs at one core: Blosc
encodes from Python threads serialise and Zarr's write path adds as much CPU again as
the codec.  Here ``workers`` forked processes each take every ``workers``-th block of
grid rows, read it with ``pread``, decode it, encode every chunk with the codec the
array's metadata declares (numcodecs Blosc, the object Zarr itself calls) and write the
chunk file under Zarr v3's default chunk key (``<array>/c/<i>/0/0``).  They start as soon
as the grid is planned and write into a staging folder beside the store, so they run
while xarray lays the store out; then the parent checks that the metadata xarray wrote
declares exactly the chunk grid, key encoding and codecs the workers used, and renames
each array's ``c`` folder into place.  If it does not (another Zarr version, say), the
staged chunks are dropped and the caller falls back to the Zarr path.

A worker holds one block (a few shots) at a time, so memory stays bounded.  An error in
a worker (a file that shrank, a bad velocity) comes back to the parent and is raised
there as the same :class:`~geogen.errors.GeogenError`, after the other workers are
stopped; the caller's atomic write then leaves no store.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numcodecs import Blosc, blosc

from geogen import errors
from geogen.progress import track

_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def available() -> bool:
    """Forked workers need ``os.fork`` (POSIX) and a little-endian host (chunks are written as is)."""
    return hasattr(os, "fork") and sys.byteorder == "little"


@dataclass(frozen=True)
class ChunkLayout:
    """How one array's chunks are cut, encoded and named: chunks span whole rows of axis 0."""

    name: str
    shape: tuple[int, ...]
    chunk_rows: int
    dtype: str  # Zarr v3 data type name, e.g. "float32"
    blosc: dict[str, Any]  # Zarr's blosc codec configuration (typesize, cname, clevel, shuffle, blocksize)

    @classmethod
    def from_encoding(cls, name: str, shape: tuple[int, ...], dtype: np.dtype, enc: dict[str, Any]) -> ChunkLayout | None:
        """The layout xarray's ``encoding`` for ``name`` asks for, or None if this module cannot write it."""
        chunks = tuple(enc.get("chunks") or ())
        compressors = tuple(enc.get("compressors") or ())
        if len(chunks) != len(shape) or chunks[1:] != shape[1:] or len(compressors) != 1 or set(enc) - {"chunks", "compressors"}:
            return None
        codec = compressors[0]
        if type(codec).__name__ != "BloscCodec" or dtype.byteorder not in "=<|":
            return None
        # Zarr fills in the parameters left unset for the array's dtype (BloscCodec.evolve_from_array_spec);
        # :meth:`matches` checks the guess against the metadata Zarr writes.
        tunable = getattr(codec, "_tunable_attrs", ())
        shuffle = ("bitshuffle" if dtype.itemsize == 1 else "shuffle") if "shuffle" in tunable else _value(codec.shuffle)
        config = {"typesize": dtype.itemsize if "typesize" in tunable else int(codec.typesize),
                  "cname": _value(codec.cname), "clevel": int(codec.clevel), "shuffle": shuffle,
                  "blocksize": int(codec.blocksize)}
        if config["shuffle"] not in _SHUFFLE:
            return None
        return cls(name, tuple(int(n) for n in shape), int(chunks[0]), dtype.name, config)

    def codec(self) -> Any:
        """The numcodecs Blosc object Zarr builds from this configuration (zarr.codecs.BloscCodec)."""
        c = self.blosc
        return Blosc(cname=c["cname"], clevel=c["clevel"], shuffle=_SHUFFLE[c["shuffle"]], blocksize=c["blocksize"],
                     typesize=c["typesize"])

    def key(self, i: int) -> str:
        """Zarr v3 default chunk key of chunk row ``i``."""
        return "/".join([self.name, "c", str(i), *["0"] * (len(self.shape) - 1)])

    def matches(self, meta: dict[str, Any]) -> bool:
        """Whether the array metadata xarray wrote (zarr.json) declares exactly this layout."""
        codecs = meta.get("codecs") or []
        names = [c.get("name") for c in codecs]
        if names != ["bytes", "blosc"]:
            return False
        endian = (codecs[0].get("configuration") or {}).get("endian", "little")
        return (meta.get("zarr_format") == 3 and meta.get("node_type") == "array"
                and tuple(meta.get("shape", ())) == self.shape and meta.get("data_type") == self.dtype
                and meta.get("chunk_grid") == {"name": "regular",
                                               "configuration": {"chunk_shape": [self.chunk_rows, *self.shape[1:]]}}
                and meta.get("chunk_key_encoding") == {"name": "default", "configuration": {"separator": "/"}}
                and not meta.get("storage_transformers")
                and (endian == "little" or np.dtype(self.dtype).itemsize == 1)
                and codecs[1].get("configuration") == self.blosc)

    def rows_of(self, r0: int, r1: int) -> Iterator[tuple[int, int, int]]:
        """(chunk index, first row, last row + 1) of the chunks that rows ``[r0, r1)`` fill exactly."""
        if r0 % self.chunk_rows:
            raise ValueError(f"{self.name}: block start {r0} is not on a chunk boundary")
        for c0 in range(r0, r1, self.chunk_rows):
            yield c0 // self.chunk_rows, c0, min(r1, c0 + self.chunk_rows)


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


Block = Callable[[int, int, dict[str, np.ndarray]], dict[str, np.ndarray]]


class ChunkFill:
    """Workers filling ``layouts``' chunks from blocks of ``rows`` grid rows, staged beside ``out``.

    Use as a context manager around the metadata write, then call :meth:`finish`::

        with ChunkFill(out, layouts, read_block, n_rows, rows, workers) as job:
            ds.to_zarr(out, ...)            # runs while the workers encode
            done = job.finish()             # False: layouts did not match, nothing moved
    """

    def __init__(self, out: Path, layouts: list[ChunkLayout], read_block: Block, n_rows: int, rows: int,
                 workers: int) -> None:
        self.out = Path(out)
        self.layouts = layouts
        self.read_block = read_block
        self.n_rows, self.rows = n_rows, rows
        self.starts = list(range(0, n_rows, rows))
        self.workers = max(1, min(workers, len(self.starts)))
        self.stage = self.out.parent / f"{self.out.name}.chunks"
        self.children: dict[int, int] = {}  # pid -> read end of its pipe
        for layout in layouts:
            if rows % layout.chunk_rows and rows < n_rows:
                raise ValueError(f"{layout.name}: blocks of {rows} rows cut chunks of {layout.chunk_rows}")

    # -- parent -------------------------------------------------------------------------

    def __enter__(self) -> ChunkFill:
        self.stage.mkdir()
        try:
            for k in range(self.workers):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # the worker: never returns into the caller's code
                    status = 1
                    try:
                        os.close(read_fd)
                        for fd in self.children.values():
                            os.close(fd)
                        status = self._work(k, write_fd)
                    finally:
                        os._exit(status)
                os.close(write_fd)
                self.children[pid] = read_fd
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def finish(self) -> bool:
        """Wait for the workers (re-raising their first error); move the chunks in if the metadata matches."""
        self._wait()
        ok = all(layout.matches(_metadata(self.out / layout.name)) and not (self.out / layout.name / "c").exists()
                 for layout in self.layouts)
        ok = ok and all((self.stage / layout.key(i)).is_file()
                        for layout in self.layouts for i in range(-(-layout.shape[0] // layout.chunk_rows)))
        if ok:
            for layout in self.layouts:
                os.rename(self.stage / layout.name / "c", self.out / layout.name / "c")
        shutil.rmtree(self.stage, ignore_errors=True)
        return ok

    def _wait(self) -> None:
        """Count finished blocks (one ``.`` each) until every pipe closes; a ``!`` starts an error."""
        sel = selectors.DefaultSelector()
        failed: dict[int, bytearray] = {}
        for pid, fd in self.children.items():
            sel.register(fd, selectors.EVENT_READ, pid)

        def blocks() -> Iterator[None]:
            left = len(self.children)
            while left:
                for key, _ in sel.select():
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fd)
                        left -= 1
                        if key.data in failed:
                            self._reap(key.data)
                            _raise(failed[key.data])
                        continue
                    if key.data in failed:
                        failed[key.data] += data
                        continue
                    dots, bang, rest = data.partition(b"!")
                    if bang:
                        failed[key.data] = bytearray(rest)
                    yield from (None for _ in range(len(dots)))

        try:
            for _ in track(blocks(), total=len(self.starts), description="ingest"):
                pass
        finally:
            sel.close()
        for pid in list(self.children):
            status = self._reap(pid)
            if status:
                raise RuntimeError(f"an ingest worker (process {pid}) ended with status {status}")

    def _reap(self, pid: int) -> int:
        fd = self.children.pop(pid)
        try:
            os.close(fd)
        except OSError:
            pass
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _stop(self) -> None:
        """Stop and reap every worker still running (after an error), drop the staging folder."""
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(pid)
        shutil.rmtree(self.stage, ignore_errors=True)

    # -- worker -------------------------------------------------------------------------

    def _work(self, k: int, fd: int) -> int:
        try:
            blosc.use_threads = False  # contextual, single-threaded Blosc: no state shared with the parent
            codecs = {layout.name: layout.codec() for layout in self.layouts}
            scratch: dict[str, np.ndarray] = {}
            made: set[str] = set()
            for r0 in self.starts[k::self.workers]:
                r1 = min(self.n_rows, r0 + self.rows)
                arrays = self.read_block(r0, r1, scratch)
                for layout in self.layouts:
                    values = arrays[layout.name]
                    for i, c0, c1 in layout.rows_of(r0, r1):
                        chunk = values[c0 - r0:c1 - r0]
                        if c1 - c0 < layout.chunk_rows:  # an edge chunk is stored at full size
                            full = np.zeros((layout.chunk_rows, *chunk.shape[1:]), chunk.dtype)
                            full[:c1 - c0] = chunk
                            chunk = full
                        _write(self.stage, layout.key(i), codecs[layout.name].encode(np.ascontiguousarray(chunk)), made)
                os.write(fd, b".")
            return 0
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            try:
                _send(fd, _pack(exc))
            except BaseException:  # noqa: BLE001
                pass
            return 1


def _write(root: Path, key: str, data: bytes, made: set[str]) -> None:
    folder, _, _ = key.rpartition("/")
    if folder not in made:
        os.makedirs(root / folder, exist_ok=True)
        made.add(folder)
    fd = os.open(root / key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _metadata(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "zarr.json").read_text())
    except (OSError, ValueError):
        return {}


def _pack(exc: BaseException) -> bytes:
    """An error as the bytes ``!`` + JSON [kind, class name, message, path, traceback text]."""
    if isinstance(exc, errors.GeogenError):
        payload = ("geogen", type(exc).__name__, exc.detail, exc.path, "")
    else:
        payload = ("other", type(exc).__name__, str(exc), None, traceback.format_exc())
    return b"!" + json.dumps(payload).encode()


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _raise(message: bytearray) -> None:
    """Re-raise a worker's error in the parent, as the same class for geogen's own errors."""
    try:
        kind, name, detail, path, tb = json.loads(bytes(message))
    except Exception:  # noqa: BLE001 - the message was cut short: the worker died mid-write
        raise RuntimeError("an ingest worker failed without saying why") from None
    if kind == "geogen":
        cls = getattr(errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, errors.GeogenError)):
            cls = errors.GeogenError
        raise cls(detail, path=path)
    raise RuntimeError(f"ingest worker failed: {name}: {detail}\n{tb}")
