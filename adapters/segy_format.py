"""SEG-Y file layout: byte order, sample format, sample count and trace count, from the bytes.

This is the part of reading SEG-Y that geogen does itself, because segyio 1.9 cannot:

- **Byte order.**  segyio assumes big-endian unless told otherwise and reports a
  little-endian file only as "trace count inconsistent with file size".  Here the binary
  header is read in both byte orders and the one whose sample-format code is valid wins
  (SEG-Y rev 2's byte-order constant at bytes 3297-3300 decides first when present).
- **Sample count.**  segyio takes the count from binary header bytes 3221-3222 and nothing
  else.  Real files carry stale counts (cropped or re-sorted surveys keep the trace headers'
  old count in bytes 115-116; some writers leave the binary field 0 and fill only trace 1),
  and SEG-Y rev 2 adds an extended count (bytes 3269-3272).  Each candidate count is checked
  against the file size, and the first that divides it into whole traces is used; only a
  file that no candidate fits is refused, with one line that says why.

Everything else (samples, trace-header fields) is read through segyio, opened by
:meth:`SegyLayout.open` with the byte order, format and sample count decided here
(segyio's ``segymake`` sets the layout without trusting the binary header).  The raw
headers that export writes back byte for byte are read by
:func:`geogen.adapters.segy_headers.raw_headers` (geogen's own too: segyio gives fields, not bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from geogen.errors import InputError

TEXT_BYTES = 3200
BINARY_BYTES = 400
FILE_HEADER_BYTES = TEXT_BYTES + BINARY_BYTES
TRACE_HEADER_BYTES = 240

#: Sample format code -> (name, bytes per sample).  Codes 4 (fixed point with gain) and
#: 6/7 (8-byte and 3-byte) are rare enough that geogen refuses them with a clear message.
SAMPLE_FORMATS: dict[int, tuple[str, int]] = {
    1: ("ibm", 4),
    2: ("int32", 4),
    3: ("int16", 2),
    5: ("ieee", 4),
    8: ("int8", 1),
}

Endian = Literal["big", "little"]

# Binary-header positions (1-based, as in the standard).
BIN_INTERVAL = 3217
BIN_SAMPLES = 3221
BIN_FORMAT = 3225
BIN_MEASUREMENT = 3255  # 1 = metres, 2 = feet
BIN_EXT_SAMPLES = 3269  # rev 2: unsigned 32-bit, overrides 3221-3222 when non-zero
BIN_EXT_INTERVAL = 3273  # rev 2: IEEE double, overrides 3217-3218 when non-zero
BIN_BYTE_ORDER = 3297
BIN_REVISION = 3501  # one byte: major revision (rev 1 = 0x01, rev 2 = 0x02)
BIN_EXT_HEADERS = 3505
BIN_TRACE_EXTENSIONS = 3507  # rev 2: additional 240-byte headers per trace
BYTE_ORDER_CONSTANT = 16909060  # 0x01020304 written in the file's byte order

#: How many traces the error path walks to name the first one whose own count differs.
EXPLAIN_WALK_LIMIT = 200_000


class SegyWarning(UserWarning):
    """Something in a readable SEG-Y file that the user should know (printed as one line)."""


def prefix(endian: Endian) -> str:
    return ">" if endian == "big" else "<"


def binary_field(binary: bytes, byte: int, size: int, endian: Endian, *, signed: bool = True) -> int:
    """One binary-header integer; ``byte`` is the 1-based file position (3201-3600)."""
    start = byte - TEXT_BYTES - 1
    return int.from_bytes(binary[start:start + size], endian, signed=signed)


def binary_double(binary: bytes, byte: int, endian: Endian) -> float:
    """A binary-header IEEE double (rev 2's extended sample interval)."""
    start = byte - TEXT_BYTES - 1
    return float(struct.unpack(f"{prefix(endian)}d", binary[start:start + 8])[0])


def revision(binary: bytes) -> int:
    """SEG-Y major revision from byte 3501 (0 for the original 1975 standard and unset fields)."""
    return binary[BIN_REVISION - TEXT_BYTES - 1]


@dataclass(frozen=True)
class SegyLayout:
    """Where everything is in a SEG-Y file with fixed-length traces."""

    path: Path
    endian: Endian
    format: int
    n_samples: int
    n_traces: int
    data_offset: int
    text_header: bytes
    extended_text: bytes
    binary_header: bytes
    samples_from: str = "binary header bytes 3221-3222"
    revision: int = 1

    @property
    def sample_size(self) -> int:
        return SAMPLE_FORMATS[self.format][1]

    @property
    def format_name(self) -> str:
        return SAMPLE_FORMATS[self.format][0]

    @property
    def trace_bytes(self) -> int:
        return TRACE_HEADER_BYTES + self.n_samples * self.sample_size

    @property
    def n_extended(self) -> int:
        return len(self.extended_text) // TEXT_BYTES

    def binary(self, byte: int, size: int = 2, *, signed: bool = True) -> int:
        return binary_field(self.binary_header, byte, size, self.endian, signed=signed)

    def open(self, *, mmap: bool = True) -> Any:
        """The file through segyio, laid out as decided here (not as segyio would guess).

        ``mmap=True`` maps the file: reads become copies from the page cache, and only
        the pages a caller touches count as its resident memory, released on close.
        Open, read a window of traces and close again to keep that bounded.
        """
        import segyio
        from segyio import _segyio

        fd = _segyio.segyiofd(str(self.path), "r", 256 if self.endian == "little" else 0)
        fd.segymake(samples=self.n_samples, tracecount=self.n_traces, format=self.format,
                    ext_headers=self.n_extended)
        f = segyio.SegyFile(fd, filename=str(self.path), mode="r", endian=self.endian)
        if mmap:
            f.mmap()
        return f

    def describe(self) -> dict[str, Any]:
        """What geogen decided about the file, as store attributes."""
        return {"segy_endian": self.endian, "segy_format": self.format, "segy_sample_format": self.format_name,
                "segy_traces": self.n_traces, "segy_samples": self.n_samples,
                "segy_samples_from": self.samples_from, "segy_revision": self.revision,
                "segy_data_offset": self.data_offset}


def _valid_format(binary: bytes, endian: Endian) -> bool:
    return binary_field(binary, BIN_FORMAT, 2, endian) in SAMPLE_FORMATS


def detect_endian(binary: bytes, path: Path) -> Endian:
    """Byte order from rev-2's constant, else from which reading gives a valid format code."""
    for endian in ("big", "little"):
        if binary_field(binary, BIN_BYTE_ORDER, 4, endian) == BYTE_ORDER_CONSTANT:  # type: ignore[arg-type]
            if _valid_format(binary, endian):  # type: ignore[arg-type]
                return endian  # type: ignore[return-value]
    candidates = [e for e in ("big", "little") if _valid_format(binary, e)]  # type: ignore[arg-type]
    if len(candidates) == 1:
        return candidates[0]  # type: ignore[return-value]
    if len(candidates) == 2:  # only possible for a zero high byte and low byte: impossible codes
        return "big"
    big = binary_field(binary, BIN_FORMAT, 2, "big")
    if big in (4, 6, 7, 9, 10, 11, 12, 15, 16):
        raise InputError(
            f"sample format code {big} (binary header bytes 3225-3226) is not supported; "
            "geogen reads IBM float (1), int32 (2), int16 (3), IEEE float (5) and int8 (8): "
            "convert the file first", path=path)
    raise InputError(
        "is not a SEG-Y file: the binary header's sample format code (bytes 3225-3226) "
        f"reads {big} big-endian and {binary_field(binary, BIN_FORMAT, 2, 'little')} little-endian, "
        "neither of 1, 2, 3, 5, 8; check that this is the file you meant", path=path)


def sample_count_candidates(binary: bytes, endian: Endian, first_trace_count: int | None) -> list[tuple[int, str]]:
    """Sample counts to try, most authoritative first, each with where it came from.

    Rev 2 says a non-zero extended count (3269-3272) overrides bytes 3221-3222; in older
    files those bytes are unassigned, so there it is tried only when 3221-3222 is 0.
    Trace 1's own count (115-116) comes last, as segyio does when the binary field is 0.
    """
    rev = revision(binary)
    ext = binary_field(binary, BIN_EXT_SAMPLES, 4, endian, signed=False)
    base = binary_field(binary, BIN_SAMPLES, 2, endian, signed=False)
    out: list[tuple[int, str]] = []
    if rev >= 2 and ext:
        out.append((ext, "extended sample count, binary header bytes 3269-3272"))
    if base:
        out.append((base, "binary header bytes 3221-3222"))
    if rev < 2 and ext and not base:
        out.append((ext, "extended sample count, binary header bytes 3269-3272"))
    if first_trace_count:
        out.append((first_trace_count, "trace 1, bytes 115-116"))
    seen: set[int] = set()
    return [(n, src) for n, src in out if not (n in seen or seen.add(n))]  # type: ignore[func-returns-value]


def read_layout(path: str | Path) -> SegyLayout:
    """Detect byte order, format, sample and trace counts; raise InputError where nothing fits."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise InputError("is empty (0 bytes); a SEG-Y file starts with a 3600-byte file header", path=path)
    if size < FILE_HEADER_BYTES:
        raise InputError(
            f"is {size} bytes, shorter than the 3600-byte SEG-Y file header: "
            "it is truncated or not a SEG-Y file", path=path)
    with open(path, "rb") as fh:
        text = fh.read(TEXT_BYTES)
        binary = fh.read(BINARY_BYTES)
    endian = detect_endian(binary, path)
    fmt = binary_field(binary, BIN_FORMAT, 2, endian)
    sample_size = SAMPLE_FORMATS[fmt][1]
    rev = revision(binary)
    if rev >= 2:
        extensions = binary_field(binary, BIN_TRACE_EXTENSIONS, 4, endian)
        if extensions:
            raise InputError(f"declares {extensions} additional 240-byte trace headers per trace (rev 2, binary "
                             "header bytes 3507-3510); geogen reads standard 240-byte trace headers only: "
                             "drop the trace-header extensions first", path=path)
    n_ext = binary_field(binary, BIN_EXT_HEADERS, 2, endian)
    if n_ext < 0:
        raise InputError("declares a variable number of extended text headers (bytes 3505-3506 = -1); "
                         "geogen needs the count: fix the binary header", path=path)
    if FILE_HEADER_BYTES + n_ext * TEXT_BYTES > size:
        raise InputError(f"binary header declares {n_ext} extended text headers (bytes 3505-3506), "
                         "more than the file holds; the binary header is corrupt", path=path)
    offset = FILE_HEADER_BYTES + n_ext * TEXT_BYTES
    extended = b""
    if n_ext:
        with open(path, "rb") as fh:
            fh.seek(FILE_HEADER_BYTES)
            extended = fh.read(n_ext * TEXT_BYTES)
    if size == offset:
        raise InputError("holds the SEG-Y file header but no traces", path=path)
    candidates = sample_count_candidates(binary, endian, _trace_samples_at(path, offset, size, endian))
    if not candidates:
        raise InputError("neither the binary header (bytes 3221-3222, rev 2: 3269-3272) nor trace 1 "
                         "(bytes 115-116) gives a sample count; the file is not usable SEG-Y", path=path)
    data = size - offset
    for ns, source in candidates:
        trace_bytes = TRACE_HEADER_BYTES + ns * sample_size
        if data % trace_bytes == 0:
            return SegyLayout(path=path, endian=endian, format=fmt, n_samples=ns, n_traces=data // trace_bytes,
                              data_offset=offset, text_header=text, extended_text=extended, binary_header=binary,
                              samples_from=source, revision=rev)
    _explain_size_mismatch(path, offset, size, endian, candidates, sample_size)
    raise AssertionError("unreachable")  # pragma: no cover


def _trace_samples_at(path: Path, position: int, size: int, endian: Endian) -> int | None:
    if position + TRACE_HEADER_BYTES > size:
        return None
    with open(path, "rb") as fh:
        fh.seek(position + 114)
        return int.from_bytes(fh.read(2), endian, signed=False)


def _explain_size_mismatch(path: Path, offset: int, size: int, endian: Endian,
                           candidates: list[tuple[int, str]], sample_size: int) -> None:
    """One line for a file that no sample count fits: the trace whose own count differs, an
    incomplete last trace, or the counts that were tried."""
    ns, source = candidates[0]
    trace_bytes = TRACE_HEADER_BYTES + ns * sample_size
    n_full, rest = divmod(size - offset, trace_bytes)
    if len(candidates) > 1:
        tried = ", ".join(f"{n} ({src})" for n, src in candidates)
        raise InputError(f"the file size fits none of the sample counts it gives: {tried}; with {ns} samples of "
                         f"{sample_size} bytes it holds {n_full} whole traces and {rest} bytes more; the file is "
                         "truncated or its headers are wrong", path=path)
    position, number = offset, 1
    with open(path, "rb") as fh:  # walk headers only in this error path, and only so far
        while position + TRACE_HEADER_BYTES <= size and number <= min(n_full + 1, EXPLAIN_WALK_LIMIT):
            fh.seek(position + 114)
            own = int.from_bytes(fh.read(2), endian, signed=False)
            if own not in (0, ns):
                raise InputError(f"trace {number} has {own} samples (bytes 115-116), the {source} says {ns}, and "
                                 "the file size fits neither: geogen reads fixed-length traces only; fix the headers "
                                 "or resample the file", path=path)
            position += trace_bytes
            number += 1
    raise InputError(
        f"trace count does not match the file size: {size} bytes hold {n_full} whole traces of {trace_bytes} bytes "
        f"(240-byte header + {ns} samples x {sample_size} bytes) and {rest} bytes of trace {n_full + 1}; "
        "the file is truncated or its binary header (sample count, format) is wrong", path=path)


# ----------------------------------------------------------------------------- writing (export)

#: Standard trace-header fields stored in 2 bytes (1-based start byte); all others are 4.
TWO_BYTE_FIELDS = frozenset(
    {29, 31, 33, 35, 69, 71, *range(89, 181, 2), 201, 203, 209, 211, 213, 215, 217, 223, 229, 231}
)


def field_size(byte: int) -> int:
    return 2 if byte in TWO_BYTE_FIELDS else 4


def sample_dtype(fmt: int, endian: Endian) -> Any:
    """The on-disk numpy dtype of one sample (IBM words as raw uint32), for writing."""
    import numpy as np

    code = {1: "u4", 2: "i4", 3: "i2", 5: "f4", 8: "i1"}[fmt]
    return np.dtype(f"{prefix(endian)}{code}")


def trace_dtype(fmt: int, endian: Endian, n_samples: int) -> Any:
    """One trace as a record: ``header`` (240 uint8) and ``samples`` (on-disk dtype)."""
    import numpy as np

    return np.dtype([("header", np.uint8, (TRACE_HEADER_BYTES,)), ("samples", sample_dtype(fmt, endian), (n_samples,))])
