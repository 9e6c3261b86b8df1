"""float32 samples -> SEG-Y sample formats, for export (decoding on ingest is segyio's).

Export rebuilds an ingested file byte for byte, so it writes the original sample format
itself: segyio writes samples one trace at a time through its Python API.  Encoding to IBM
shifts the IEEE significand onto a hex boundary (truncating at most three bits), which
is exact for every value that came from an IBM file, so IBM -> store -> IBM is lossless
(for normalised IBM input, which is what every writer produces).  int32 samples beyond
2**24 lose their lowest bits in float32, as in every float-based seismic store.
"""

from __future__ import annotations

import numpy as np

from geogen.adapters.segy_format import SAMPLE_FORMATS, Endian, sample_dtype


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
