"""SEG-Y file layout: byte order, sample format and trace size, found from the bytes.

segyio 1.9 assumes big-endian unless told otherwise and reports a little-endian file
only as "trace count inconsistent with file size".  Here the binary header is read in
both byte orders and the one whose sample-format code is valid wins (SEG-Y rev 2's
byte-order constant at bytes 3297-3300 decides first when present).  Everything else
(sample count, trace count, incomplete traces) is checked against the file size, so
that a broken file is named precisely before any store is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

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
BIN_BYTE_ORDER = 3297
BIN_EXT_HEADERS = 3505
BYTE_ORDER_CONSTANT = 16909060  # 0x01020304 written in the file's byte order


def prefix(endian: Endian) -> str:
    return ">" if endian == "big" else "<"


def binary_field(binary: bytes, byte: int, size: int, endian: Endian, *, signed: bool = True) -> int:
    """One binary-header integer; ``byte`` is the 1-based file position (3201-3600)."""
    start = byte - TEXT_BYTES - 1
    return int.from_bytes(binary[start:start + size], endian, signed=signed)


@dataclass(frozen=True)
class SegyLayout:
    """Where everything is in a SEG-Y file with fixed-length traces."""

    path: Path
    endian: Endian
    format: int
    n_samples: int
    interval: int  # binary-header sample interval (us for time data; depth units vary)
    n_traces: int
    data_offset: int
    text_header: bytes
    extended_text: bytes
    binary_header: bytes

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
    def trace_dtype(self) -> np.dtype:
        """One trace as a record: ``header`` (240 uint8) and ``samples`` (on-disk dtype)."""
        return trace_dtype(self.format, self.endian, self.n_samples)

    def memmap(self) -> np.ndarray:
        """The traces as a read-only memory map of :attr:`trace_dtype` records."""
        return np.memmap(self.path, dtype=self.trace_dtype, mode="r", offset=self.data_offset,
                         shape=(self.n_traces,))


def sample_dtype(fmt: int, endian: Endian) -> np.dtype:
    """The on-disk numpy dtype of one sample (IBM words read as raw uint32)."""
    code = {1: "u4", 2: "i4", 3: "i2", 5: "f4", 8: "i1"}[fmt]
    return np.dtype(f"{prefix(endian)}{code}")


def trace_dtype(fmt: int, endian: Endian, n_samples: int) -> np.dtype:
    return np.dtype([("header", np.uint8, (TRACE_HEADER_BYTES,)), ("samples", sample_dtype(fmt, endian), (n_samples,))])


def _valid_format(binary: bytes, endian: Endian) -> bool:
    return binary_field(binary, BIN_FORMAT, 2, endian) in SAMPLE_FORMATS


def detect_endian(binary: bytes, path: Path) -> Endian:
    """Byte order from rev-2's constant, else from which reading gives a valid format code."""
    for endian in ("big", "little"):
        if binary_field(binary, BIN_BYTE_ORDER, 4, endian) == BYTE_ORDER_CONSTANT:  # type: ignore[arg-type]
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


def read_layout(path: str | Path) -> SegyLayout:
    """Detect byte order, format, sample and trace counts; raise InputError on any mismatch."""
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
    interval = binary_field(binary, BIN_INTERVAL, 2, endian, signed=False)
    ns = binary_field(binary, BIN_SAMPLES, 2, endian, signed=False)
    first_ns = _trace_samples_at(path, offset, size, endian)
    if ns == 0:
        ns = first_ns or 0
        if ns == 0:
            raise InputError("neither the binary header (bytes 3221-3222) nor trace 1 (bytes 115-116) "
                             "gives a sample count; the file is not usable SEG-Y", path=path)
    trace_bytes = TRACE_HEADER_BYTES + ns * sample_size
    if size == offset:
        raise InputError("holds the SEG-Y file header but no traces", path=path)
    n_full, rest = divmod(size - offset, trace_bytes)
    if rest:
        _explain_size_mismatch(path, offset, size, endian, ns, sample_size, n_full, rest)
    return SegyLayout(path=path, endian=endian, format=fmt, n_samples=ns, interval=interval,
                      n_traces=n_full, data_offset=offset, text_header=text, extended_text=extended,
                      binary_header=binary)


def _trace_samples_at(path: Path, position: int, size: int, endian: Endian) -> int | None:
    if position + TRACE_HEADER_BYTES > size:
        return None
    with open(path, "rb") as fh:
        fh.seek(position + 114)
        return int.from_bytes(fh.read(2), endian, signed=False)


def _explain_size_mismatch(path: Path, offset: int, size: int, endian: Endian, ns: int,
                           sample_size: int, n_full: int, rest: int) -> None:
    """Name the first trace whose own sample count differs, else the incomplete last trace."""
    trace_bytes = TRACE_HEADER_BYTES + ns * sample_size
    position, number = offset, 1
    with open(path, "rb") as fh:  # walk headers only in this error path
        while position + TRACE_HEADER_BYTES <= size and number <= n_full + 1:
            fh.seek(position + 114)
            own = int.from_bytes(fh.read(2), endian, signed=False)
            if own not in (0, ns):
                raise InputError(f"trace {number} has {own} samples (bytes 115-116), the binary header says {ns}; "
                                 "geogen reads fixed-length traces only: fix the headers or resample the file",
                                 path=path)
            position += trace_bytes
            number += 1
    raise InputError(
        f"trace count does not match the file size: {size} bytes hold {n_full} whole traces of {trace_bytes} bytes "
        f"(240-byte header + {ns} samples x {sample_size} bytes) and {rest} bytes of trace {n_full + 1}; "
        "the file is truncated or its binary header (sample count, format) is wrong", path=path)


# ----------------------------------------------------------------------------- headers

#: Standard trace-header fields stored in 2 bytes (1-based start byte); all others are 4.
TWO_BYTE_FIELDS = frozenset({29, 31, 33, 35, 69, 71, *range(89, 181, 2), 201, 203, 209, 211, 213, 215, 217, 223, 229, 231})


def field_size(byte: int) -> int:
    return 2 if byte in TWO_BYTE_FIELDS else 4


def header_field(headers: np.ndarray, byte: int, endian: Endian, size: int | None = None) -> np.ndarray:
    """One integer field from every row of ``headers`` (``(n, >=240)`` uint8), as int64."""
    size = size or field_size(byte)
    raw = np.ascontiguousarray(headers[:, byte - 1:byte - 1 + size])
    return raw.view(f"{prefix(endian)}i{size}")[:, 0].astype(np.int64)
