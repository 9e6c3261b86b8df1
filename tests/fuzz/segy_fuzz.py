"""Fuzzing geogen's SEG-Y reader with hypothesis: mutated headers and samples, truncation, extension.

The property, for every case: ``geogen ingest`` (the command, run in this process) either

- exits 0 and leaves a correct store: it opens with plain ``xarray.open_zarr`` without a
  warning, every live trace's samples equal segyio's reading of that trace (segyio opened
  with the layout the store records), every raw header equals the file's bytes, and the
  mask, trace numbers and shape agree; or
- exits 2 with exactly one ``error: <file>: ...`` line on stderr and leaves the existing
  target store byte for byte as it was;

and never raises anything else, never runs past :data:`CASE_SECONDS`, and never leaves a
temporary sibling behind.  Used by ``tests/test_segy_fuzz.py`` (a fast, derandomised slice)
and ``tests/fuzz/run_segy_fuzz.py`` (the long campaign).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import signal
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: segy_fixtures

CASE_SECONDS = 60
#: Outcome of every case run in this process: "store <kind>", "exit 2: <message family>".
OUTCOMES: Counter[str] = Counter()

# Binary-header and trace-header positions (1-based) that a mutation aims at most of the time.
BINARY_FIELDS = (3213, 3217, 3221, 3225, 3255, 3269, 3273, 3277, 3297, 3501, 3505, 3507)
TRACE_FIELDS = (1, 9, 13, 21, 37, 41, 69, 71, 73, 81, 89, 109, 115, 117, 181, 185, 189, 193, 215)
INTERESTING = (0, 1, -1, 2, 3, 5, 8, 10, -10, 100, -100, 7, 4, 6, 255, 256, 0x7FFF, -0x8000, 0xFFFF, 60000,
               0x7FFFFFFF, -0x80000000, 0x01020304, 0x04030201, 462, 75)

_BASES: dict[str, tuple[bytes, tuple[str, ...]]] = {}


def bases() -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """Small valid files (bytes) and the extra CLI options each needs, built once per process."""
    if _BASES:
        return _BASES
    from segy_fixtures import write_shots, write_stacked

    with tempfile.TemporaryDirectory(prefix="geogen-fuzz-base-") as tmp:
        root = Path(tmp)
        made = {
            "shots-ieee-big": (write_shots(root / "a.sgy", n_shots=3, n_receivers=4, ns=12, missing=((1, 2),),
                                           delay_ms=8).path, ()),
            "shots-ibm-little": (write_shots(root / "b.sgy", n_shots=2, n_receivers=5, ns=10, fmt=1,
                                             endian="little").path, ()),
            "shots-int16": (write_shots(root / "c.sgy", n_shots=3, n_receivers=3, ns=9, fmt=3).path, ()),
        }
        il, xl = np.meshgrid(10 + np.arange(3), 100 + np.arange(3), indexing="ij")
        rng = np.random.default_rng(0)
        made["cube"] = (write_stacked(root / "d.sgy", rng.standard_normal((9, 11)).astype(np.float32),
                                      inlines=il.ravel(), crosslines=xl.ravel(), cdp_x=10.0 * xl.ravel(),
                                      cdp_y=20.0 * il.ravel()), ())
        v = (1500.0 + 100.0 * np.arange(7)[None, :] + np.zeros((6, 1))).astype(np.float32)
        made["section"] = (write_stacked(root / "e.sgy", v, cdp_x=10.0 * np.arange(6), interval=10000),
                           ("--kind", "velocity"))
        for name, (path, opts) in made.items():
            _BASES[name] = (Path(path).read_bytes(), opts)
    return _BASES


@st.composite
def edits(draw, size: int) -> tuple[int, bytes]:
    """One overwrite: (file offset, bytes), aimed at a header field most of the time."""
    where = draw(st.sampled_from(["binary-field", "trace-field", "anywhere", "text"]))
    width = draw(st.sampled_from([1, 2, 4, 8]))
    if where == "binary-field":
        offset = draw(st.sampled_from(BINARY_FIELDS)) - 1
    elif where == "trace-field":
        trace = draw(st.integers(0, 40))
        offset = 3600 + trace * draw(st.sampled_from([240 + 12 * 4, 240 + 10 * 4, 240 + 9 * 2, 240 + 11 * 4,
                                                       240 + 7 * 4])) + draw(st.sampled_from(TRACE_FIELDS)) - 1
    elif where == "text":
        offset = draw(st.integers(0, 3199))
    else:
        offset = draw(st.integers(0, max(0, size - 1)))
    if draw(st.booleans()):
        value = draw(st.sampled_from(INTERESTING))
        order = draw(st.sampled_from(["big", "little"]))
        width = max(width, 2) if width != 8 else 4
        data = (value % (1 << (8 * width))).to_bytes(width, order)
    else:
        data = draw(st.binary(min_size=1, max_size=16))
    return offset, data


@st.composite
def cases(draw) -> dict:
    """A base file, its mutations, and the command's options."""
    name = draw(st.sampled_from(sorted(bases())))
    data, opts = bases()[name]
    mutated = bytearray(data)
    for offset, chunk in draw(st.lists(edits(len(data)), max_size=6)):
        if offset < len(mutated):
            mutated[offset:offset + len(chunk)] = chunk[:len(mutated) - offset]
    cut = draw(st.sampled_from(["none", "none", "truncate", "extend"]))
    if cut == "truncate":
        mutated = mutated[:draw(st.integers(0, len(mutated)))]
    elif cut == "extend":
        mutated += draw(st.binary(min_size=1, max_size=300))
    extra = list(opts)
    extra += ["--workers", str(draw(st.sampled_from([1, 2])))]
    extra += ["--duplicates", draw(st.sampled_from(["error", "first", "last"]))]
    if "--kind" not in extra and draw(st.integers(0, 4)) == 0:
        extra += ["--kind", draw(st.sampled_from(["survey", "poststack", "velocity"]))]
    if "velocity" in extra and draw(st.booleans()):
        extra += ["--dz", "5"]
    return {"base": name, "bytes": bytes(mutated), "options": extra}


# ----------------------------------------------------------------------------- running one case


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise CaseTimeout(f"a case ran past {CASE_SECONDS} s")


def run_case(case: dict) -> str:
    """Run one case through the command line in this process; assert the property; return the outcome."""
    from geogen import progress
    from geogen.cli import main

    progress.set_enabled(False)
    base_bytes, base_opts = bases()[case["base"]]
    with tempfile.TemporaryDirectory(prefix="geogen-fuzz-") as tmp:
        root = Path(tmp)
        good = root / "good.sgy"
        good.write_bytes(base_bytes)
        target = root / "out.zarr"
        assert _cli(main, ["ingest", str(good), "--out", str(target), *base_opts])[0] == 0
        before = _tree_digest(target)
        path = root / "case.sgy"
        path.write_bytes(case["bytes"])
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(CASE_SECONDS)
        try:
            code, err = _cli(main, ["ingest", str(path), "--out", str(target), *case["options"]])
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        leftovers = sorted(p.name for p in root.iterdir() if p.name not in ("good.sgy", "case.sgy", "out.zarr"))
        assert not leftovers, f"left behind: {leftovers}"
        lines = err.strip().splitlines()
        if code == 0:
            assert all(line.startswith("warning: ") for line in lines), err
            kind = check_store(path, target)
            outcome = f"store {kind}" + (" (with a warning)" if lines else "")
        else:
            assert code == 2, f"exit {code}: {err}"
            assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), err
            assert _tree_digest(target) == before, "the existing target store changed"
            outcome = "exit 2: " + family(lines[0][len(f"error: {path}: "):])
    OUTCOMES[outcome] += 1
    return outcome


def _cli(main, argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


def family(message: str) -> str:
    """A short name for an error message: its first words up to a colon or semicolon, numbers as N."""
    words = []
    for word in message.split()[:8]:
        words.append("N" if any(ch.isdigit() for ch in word) else word.rstrip(":;,"))
        if word.endswith((":", ";")):
            break
    return " ".join(words)


def check_store(path: Path, target: Path) -> str:
    """The store at ``target`` is what segyio reads from ``path`` under the layout the store records."""
    import segyio
    import xarray as xr
    from segyio import _segyio

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(target)
    a = ds.attrs
    ns, n, fmt, endian, offset = (a["segy_samples"], a["segy_traces"], a["segy_format"], a["segy_endian"],
                                  a["segy_data_offset"])
    size = path.stat().st_size
    sample_size = {1: 4, 2: 4, 3: 2, 5: 4, 8: 1}[fmt]
    assert offset + n * (240 + ns * sample_size) == size, "the recorded layout does not cover the file"
    fd = _segyio.segyiofd(str(path), "r", 256 if endian == "little" else 0)
    fd.segymake(samples=ns, tracecount=n, format=fmt, ext_headers=(offset - 3600) // 3200)
    with segyio.SegyFile(fd, filename=str(path), mode="r", endian=endian) as f:
        traces = f.trace.raw[:].reshape(n, ns).astype(np.float32)
    raw = np.frombuffer(path.read_bytes()[offset:], np.uint8).reshape(n, 240 + ns * sample_size)[:, :240]
    name = "velocity" if "velocity" in ds.data_vars else "seismic"
    numbers = np.asarray(ds["trace_number"].values)
    live = numbers > 0
    kept = numbers[live]
    assert np.unique(kept).size == kept.size and kept.max(initial=0) <= n, "a trace is used twice or does not exist"
    values = np.asarray(ds[name].values)
    headers = np.asarray(ds["trace_header"].values)
    if name == "velocity" and values.ndim == 3 and "model" in ds[name].dims:  # a section: velocity(model, z, x)
        values = values[0].T
    np.testing.assert_array_equal(values[live], traces[kept - 1])
    np.testing.assert_array_equal(headers[live], raw[kept - 1])
    if "trace_mask" in ds:
        np.testing.assert_array_equal(ds["trace_mask"].values, live)
        assert not values[~live].any(), "samples where no trace was recorded"
    assert ds[name].shape[-1] == ns or values.shape[-1] == ns
    return a["geogen_kind"]
