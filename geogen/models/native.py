"""C kernels of our own, compiled once per machine with the system compiler and loaded with ctypes.

Why not torch inductor: for the layered prior's recursion it generates one loop per layer
that streams every cell through memory, and each fresh process pays 8-16 s to load the
compiled graphs and check dynamo's guards; the fused C loop is 3 x faster and loads in
milliseconds (measured on the openfwi preset, 2 cores).  Like Devito's operators, the
shared library is cached in the temp dir, keyed by the source, the flags, the compiler
and the CPU, so a second process (or a different machine sharing a home) never loads a
stale or foreign build.  Where no compiler works, :func:`load` returns None once with a
warning and the caller runs its torch path (same maths, slower); ``GEOGEN_COMPILE=0``
asks for that path.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

#: -ffast-math lets gcc call glibc's vector expf (libmvec) and vectorise the loops; -fno-associative-math
#: keeps the order of sums that range reduction depends on (sin/cos to 1e-7 instead of 2e-5 at 600 rad); the
#: kernels change results only at float32 rounding (checked against the torch path in the tests)
FLAGS = ("-O3", "-ffast-math", "-fno-associative-math", "-march=native", "-fopenmp-simd", "-fPIC", "-shared")

_LOADED: dict[str, ctypes.CDLL | None] = {}


def enabled() -> bool:
    """False when ``GEOGEN_COMPILE=0`` asks for the torch path."""
    return os.environ.get("GEOGEN_COMPILE", "1") != "0"


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$GEOGEN_KERNEL_CACHE`` or a per-user folder in the temp dir."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(os.environ.get("GEOGEN_KERNEL_CACHE") or Path(tempfile.gettempdir()) / f"geogen-kernels-{uid}")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return name
    return None


def _cpu_signature() -> str:
    """The CPU's model and feature flags (``-march=native`` builds for them)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            lines = [line for line in fh if line.startswith(("model name", "flags"))][:2]
        return "".join(lines)
    except OSError:
        return platform.processor() or platform.machine()


def _build(source: Path, compiler: str) -> Path:
    """Compile ``source`` into the cache (atomically: a concurrent process sees the old file or the new one)."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    key = hashlib.blake2b("\0".join((source.read_text(), " ".join(FLAGS), version, _cpu_signature(),
                                     platform.machine())).encode(), digest_size=10).hexdigest()
    target = cache_dir() / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    out = subprocess.run([compiler, *FLAGS, str(source), "-o", str(partial), "-lm"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        partial.unlink(missing_ok=True)
        first = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[0]
        raise RuntimeError(f"{compiler} failed: {first}")
    os.replace(partial, target)
    return target


def load(source: str | os.PathLike[str]) -> ctypes.CDLL | None:
    """The compiled library of C file ``source``, or None (with one warning) if it cannot be built or loaded."""
    path = Path(source)
    key = str(path)
    if key not in _LOADED:
        library = None
        compiler = _compiler()
        if not enabled():
            pass
        elif compiler is None:
            log.warning("no C compiler (gcc, cc or $CC) found: %s runs on torch instead (slower, same result)",
                        path.name)
        else:
            try:
                library = ctypes.CDLL(str(_build(path, compiler)))
            except (OSError, RuntimeError) as exc:
                log.warning("could not build %s (%s): running on torch instead (slower, same result)",
                            path.name, str(exc).splitlines()[0])
        _LOADED[key] = library
    return _LOADED[key]


def run_in_ranges(call: Callable[[int, int], None], n: int, threads: int, pieces: int = 4) -> None:
    """``call(first, last)`` over ``[0, n)`` cut into ``pieces`` ranges per thread, on ``threads`` threads.

    ctypes releases the GIL for the length of a foreign call, so the ranges of a C kernel
    run in parallel; a few ranges per thread even out ranges of unequal cost.
    """
    threads = max(1, min(int(threads), n))
    if threads == 1:
        call(0, n)
        return
    bounds = [round(n * i / (pieces * threads)) for i in range(pieces * threads + 1)]
    ranges = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda r: call(*r), ranges))
