"""Trace samples <-> float32, vectorised with numpy for every format geogen reads.

IBM floats are decoded with a 256-entry table indexed by the sign+exponent byte and
one float32 multiply: the 24-bit IBM fraction fits float32's significand exactly, so
the conversion is exact for every value inside float32's range.  Encoding back to IBM
shifts the IEEE significand onto a hex boundary (truncating at most three bits), which
is exact for every value that came from an IBM file, so IBM -> store -> IBM is lossless
(for normalised IBM input, which is what every writer produces).  int32 samples beyond
2**24 lose their lowest bits in float32, as in every float-based seismic store.
"""

from __future__ import annotations

import numpy as np

from geogen.adapters.segy_format import SAMPLE_FORMATS, Endian, sample_dtype

# value = fraction24 * 16**(exp - 64) / 2**24, sign in the top bit: one table entry per byte.
_exponents = 4.0 * (np.arange(128) - 64) - 24
with np.errstate(over="ignore"):  # exponents beyond float32 become inf, as they must
    _IBM_SCALE = np.concatenate([2.0 ** _exponents, -(2.0 ** _exponents)]).astype(np.float32)


ROWS_PER_PASS = 64  # traces decoded per numpy pass: temporaries stay in the CPU cache
#: IEEE exponent bits of the IBM scale 16**(e - 64) / 2**24 are (4e - 153) << 23.
_IBM_BIAS = np.uint32((-153 << 23) % 2**32)


def decode(disk: np.ndarray, fmt: int, out: np.ndarray | None = None) -> np.ndarray:
    """On-disk samples ``(n, ns)`` (dtype from :func:`sample_dtype`) -> float32, into ``out`` if given.

    IBM floats take the fast route of :func:`_decode_ibm_bits` pass by pass; a pass
    holding an exponent outside its range falls back to :func:`decode_ibm_table`, so
    the result is bit-for-bit the table's for every input.
    """
    if out is None:
        out = np.empty(disk.shape, np.float32)
    for i in range(0, disk.shape[0], ROWS_PER_PASS):
        rows = slice(i, i + ROWS_PER_PASS)
        if fmt != 1:
            out[rows] = disk[rows]
        elif not _decode_ibm_bits(disk[rows], out[rows]):
            decode_ibm_table(disk[rows], out[rows])
    return out


def decode_ibm_table(disk: np.ndarray, out: np.ndarray) -> None:
    """The reference IBM decode: one table look-up of the scale per sign+exponent byte."""
    words = disk.astype(np.uint32)  # byte-swaps big-endian words
    scale = _IBM_SCALE[(words >> 24).astype(np.uint8)]
    words &= 0x00FFFFFF
    np.multiply(words.astype(np.float32), scale, out=out)


def _decode_ibm_bits(disk: np.ndarray, out: np.ndarray) -> bool:
    """IBM decode in half the table's CPU; False (nothing trusted) if an exponent is out of range.

    The scale's float32 bits are built with integer operations, ``(4e - 153) << 23`` plus
    the sign, which is the same power of two as the table's whenever that exponent field
    lands in 1..255 (IBM exponents 39..102, about 1e-30 to 1e38: every real trace).
    """
    words = disk.astype(np.uint32)  # byte-swaps big-endian words
    scale = words & np.uint32(0x7F000000)
    scale <<= np.uint32(1)
    scale += _IBM_BIAS  # top bit set exactly where 4e - 153 falls outside 0..255 (it is never 0)
    if scale.max(initial=0) >= np.uint32(0x80000000):
        return False
    scale |= words & np.uint32(0x80000000)
    words &= np.uint32(0x00FFFFFF)
    out[...] = words
    out *= scale.view(np.float32)
    return True


def ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """float32 -> IBM words (native uint32), truncating; NaN -> 0, +-Inf -> largest IBM."""
    f = np.ascontiguousarray(values, dtype=np.float32)
    bits = f.view(np.uint32)
    sign = bits & np.uint32(0x80000000)
    e = ((bits >> 23) & 0xFF).astype(np.int32)
    full = (bits & 0x007FFFFF) | 0x00800000
    p = e - 126  # value = full / 2**24 * 2**p
    q = -((-p) // 4)  # ceil(p / 4)
    r = (4 * q - p).astype(np.uint32)
    words = sign | ((q + 64).astype(np.uint32) << 24) | (full >> r)
    tiny = e == 0  # zero (and float32 denormals, far below any seismic amplitude)
    words[tiny] = sign[tiny]
    inf = np.isinf(f)
    words[inf] = sign[inf] | 0x7FFFFFFF
    words[np.isnan(f)] = 0
    return words


def encode(values: np.ndarray, fmt: int, endian: Endian) -> np.ndarray:
    """float32 samples -> an array of the on-disk dtype for ``fmt`` and ``endian``."""
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"cannot write sample format {fmt}")
    values = np.asarray(values, dtype=np.float32)
    target = sample_dtype(fmt, endian)
    if fmt == 1:
        return ieee_to_ibm(values).astype(target)
    if fmt == 5:
        return values.astype(target)
    info = np.iinfo(target)
    return np.clip(np.rint(values), info.min, info.max).astype(target)
