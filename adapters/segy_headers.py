"""Trace-header fields by name, read for every trace at once, with scalars applied.

All 240-byte headers are copied once into a compact array (240 bytes per trace, read
through short memory-map windows), and each field is then one vectorised numpy view,
so scanning 100 000 headers costs milliseconds and never decodes a sample.  The
coordinate scalar (bytes 71-72) and elevation scalar (69-70) are applied per trace, as
the standard says: 0 means 1, a positive value multiplies, a negative one divides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geogen.adapters.segy_format import BIN_INTERVAL, SegyLayout, binary_field, field_size, header_field
from geogen.errors import InputError

#: Name -> 1-based start byte of the standard (rev 1) location.
DEFAULT_BYTES: dict[str, int] = {
    "trace_sequence": 1,
    "ffid": 9,
    "channel": 13,
    "energy_source_point": 17,
    "cdp": 21,
    "offset": 37,
    "receiver_elevation": 41,
    "source_elevation": 45,
    "source_depth": 49,
    "elevation_scalar": 69,
    "coordinate_scalar": 71,
    "source_x": 73,
    "source_y": 77,
    "group_x": 81,
    "group_y": 85,
    "delay": 109,
    "samples": 115,
    "interval": 117,
    "cdp_x": 181,
    "cdp_y": 185,
    "inline": 189,
    "crossline": 193,
}
ALIASES = {"receiver_x": "group_x", "receiver_y": "group_y", "fldr": "ffid", "tracf": "channel",
           "iline": "inline", "xline": "crossline", "il": "inline", "xl": "crossline",
           "delrt": "delay", "scalco": "coordinate_scalar", "scalel": "elevation_scalar"}
ALLOWED_SCALARS = (0, 1, -1, 10, -10, 100, -100, 1000, -1000, 10000, -10000)


def resolve_overrides(overrides: dict[str, int], path: Path) -> dict[str, int]:
    """Merge ``--header NAME=BYTE`` into the default locations; unknown names are an error."""
    locations = dict(DEFAULT_BYTES)
    for name, byte in overrides.items():
        key = ALIASES.get(name.lower(), name.lower())
        if key not in DEFAULT_BYTES:
            raise InputError(f"--header {name}={byte}: unknown header name; known names: "
                             f"{', '.join(sorted(DEFAULT_BYTES))}", path=path)
        locations[key] = byte
    return locations


class HeaderTable:
    """Lazy per-trace header values of one file, by name, honouring overrides."""

    def __init__(self, layout: SegyLayout, overrides: dict[str, int] | None = None) -> None:
        self.layout = layout
        self.path = layout.path
        self.overrides = {ALIASES.get(k.lower(), k.lower()): v for k, v in (overrides or {}).items()}
        self.locations = resolve_overrides(overrides or {}, layout.path)
        self._headers = read_all_headers(layout)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = header_field(self._headers, self.locations[name], self.layout.endian)
        return self._cache[name]

    def populated(self, name: str) -> bool:
        return bool(np.any(self[name] != 0))

    def check_overrides_populated(self) -> None:
        """An override that points at an all-zero field is almost surely a wrong byte."""
        for name in sorted(self.overrides):
            if not self.populated(name):
                byte = self.locations[name]
                last = byte + field_size(byte) - 1
                raise InputError(f"--header {name}={byte}: bytes {byte}-{last} are zero in every trace "
                                 f"(all {self.layout.n_traces}); check the byte position", path=self.path)

    def scaled(self, name: str, scalar_name: str, *, traces: np.ndarray | None = None) -> np.ndarray:
        """``name`` in file units with the per-trace scalar ``scalar_name`` applied (float64)."""
        raw = self[name].astype(np.float64)
        factors = scalar_factors(self[scalar_name], self.locations[scalar_name], self.path, traces)
        return raw * factors

    def interval(self) -> int:
        """Sample interval: the binary header's, else trace 1's (bytes 117-118)."""
        value = binary_field(self.layout.binary_header, BIN_INTERVAL, 2, self.layout.endian, signed=False)
        if value == 0 and self.layout.n_traces:
            value = int(self["interval"][0]) & 0xFFFF
        return value


def read_all_headers(layout: SegyLayout, window: int = 2048) -> np.ndarray:
    """Every trace's 240-byte header as one ``(n, 240)`` uint8 array (6 % of a typical file).

    Read through short-lived memory maps of ``window`` traces, so that the mapped file
    pages are released after each window instead of piling up as resident memory.
    """
    out = np.empty((layout.n_traces, 240), np.uint8)
    for start in range(0, layout.n_traces, window):
        n = min(window, layout.n_traces - start)
        mm = np.memmap(layout.path, dtype=layout.trace_dtype, mode="r",
                       offset=layout.data_offset + start * layout.trace_bytes, shape=(n,))
        out[start:start + n] = mm["header"]
        del mm
    return out


def scalar_factors(scalars: np.ndarray, byte: int, path: Path, traces: np.ndarray | None = None) -> np.ndarray:
    """Per-trace multipliers for SEG-Y scalars; an absurd scalar names its first trace."""
    bad = ~np.isin(scalars, ALLOWED_SCALARS)
    if traces is not None:
        bad &= np.isin(np.arange(scalars.size), traces)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        kind = "coordinate" if byte == 71 else "elevation" if byte == 69 else "header"
        raise InputError(
            f"trace {first + 1} has {kind} scalar {int(scalars[first])} (bytes {byte}-{byte + 1}); "
            "SEG-Y allows 0, +-1, +-10, +-100, +-1000, +-10000: fix the trace headers", path=path)
    s = scalars.astype(np.float64)
    out = np.ones_like(s)
    out[s > 0] = s[s > 0]
    out[s < 0] = 1.0 / -s[s < 0]
    return out


def decode_text_header(raw: bytes) -> tuple[str, str]:
    """(decoded text, 'ascii' or 'ebcdic').

    EBCDIC letters and digits all lie above 0x7F and its space is 0x40 ('@' in ASCII),
    so a header with high bytes, or with more 0x40 than 0x20, is EBCDIC.
    """
    data = np.frombuffer(raw, np.uint8)
    high = int(np.count_nonzero(data >= 0x80))
    if high > 0.05 * max(data.size, 1) or np.count_nonzero(data == 0x40) > np.count_nonzero(data == 0x20):
        return raw.decode("cp037", errors="replace"), "ebcdic"
    return raw.decode("ascii", errors="replace").replace("\x00", " "), "ascii"


def text_lines(text: str) -> str:
    """A 3200-character card image as 40 lines of 80 characters."""
    if "\n" in text:
        return text
    return "\n".join(text[i:i + 80].rstrip() for i in range(0, len(text), 80))
