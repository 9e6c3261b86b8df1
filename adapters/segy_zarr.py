"""A minimal Zarr v3 writer for SEG-Y ingest: metadata as JSON, chunks encoded with Blosc.

Ingest knows every array's shape, type and chunking before it reads a sample, and its
workers (forked processes or dask workers) each write whole chunks of their own.  So
the store is laid out here directly, in the layout ``xarray.Dataset.to_zarr`` gives it
(``dimension_names``, the CF ``coordinates`` attribute, ``_FillValue`` for floats), and
each chunk is encoded with numcodecs' Blosc, the codec object Zarr itself calls for its
``blosc`` codec.  The root ``zarr.json`` carries the consolidated metadata that
``xarray.open_zarr(path)`` looks for, so the store opens without a warning.

Writing it here rather than through xarray keeps xarray, pandas and dask off the
command-line ingest path (about a second of imports on a small machine), and lets
workers on other machines write chunks without any coordination beyond the chunk keys.
The tests read every store back through xarray and zarr.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Blosc-zstd (geogen's codec everywhere, see geogen.data.store.compressor); bit shuffling
#: except where an array asks for byte shuffling (the samples: see segy_ingest.SAMPLE_SHUFFLE).
_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def blosc_config(dtype: np.dtype, level: int, blocksize: int = 0, shuffle: str = "bitshuffle",
                 cname: str = "zstd") -> dict[str, Any]:
    return {"typesize": int(dtype.itemsize), "cname": cname, "clevel": int(level), "shuffle": shuffle,
            "blocksize": int(blocksize)}


def _fill_value(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return "NaN"
    if dtype.kind == "b":
        return False
    return 0


def _xarray_fill_attr() -> str:
    """xarray's ``_FillValue`` attribute for a float array: a little-endian double NaN, base64."""
    return base64.standard_b64encode(np.array(np.nan, dtype="<f8").tobytes()).decode("ascii")


@dataclass(frozen=True)
class ArraySpec:
    """One array of the store: chunks span whole rows of axis 0 (``chunk_rows`` at a time)."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    chunk_rows: int
    level: int = 1
    blocksize: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    shuffle: str = "bitshuffle"
    cname: str = "zstd"
    shard_rows: int = 0  # > 0: chunks of chunk_rows rows stored shard_rows rows to a file (Zarr v3 sharding)

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def file_rows(self) -> int:
        """Rows per stored object: a shard where sharded, else a chunk."""
        return self.shard_rows or self.chunk_rows

    def metadata(self) -> dict[str, Any]:
        dt = self.np_dtype
        attrs = dict(self.attrs)
        if dt.kind == "f":
            attrs["_FillValue"] = _xarray_fill_attr()
        codecs = [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "blosc", "configuration": blosc_config(dt, self.level, self.blocksize, self.shuffle, self.cname)},
        ]
        if self.shard_rows:
            codecs = [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": [self.chunk_rows, *self.shape[1:]], "codecs": codecs,
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                "index_location": "end"}}]
        return {
            "shape": list(self.shape),
            "data_type": dt.name,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [self.file_rows, *self.shape[1:]]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
            "fill_value": _fill_value(dt),
            "codecs": codecs,
            "attributes": attrs,
            "dimension_names": list(self.dims),
            "zarr_format": 3,
            "node_type": "array",
            "storage_transformers": [],
        }

    def key(self, i: int) -> str:
        """Zarr v3 default key of stored object ``i`` (chunk, or shard), with the "." separator: every
        object of an array in the array's folder, so that writing one costs no directory of its own."""
        return self.name + "/" + ".".join(["c", str(i), *["0"] * (len(self.shape) - 1)])

    def codec(self) -> Any:
        from numcodecs import Blosc

        c = blosc_config(self.np_dtype, self.level, self.blocksize, self.shuffle, self.cname)
        return Blosc(cname=c["cname"], clevel=c["clevel"], shuffle=_SHUFFLE[c["shuffle"]], blocksize=c["blocksize"],
                     typesize=c["typesize"])

    def objects_of(self, r0: int, r1: int) -> list[tuple[int, int, int]]:
        """(object index, first row, end row) of the chunks or shards that rows ``[r0, r1)`` fill exactly."""
        rows = self.file_rows
        if r0 % rows:
            raise ValueError(f"{self.name}: rows from {r0} do not start on a chunk or shard boundary")
        return [(c0 // rows, c0, min(r1, c0 + rows)) for c0 in range(r0, r1, rows)]

    def write_rows(self, root: Path, r0: int, values: np.ndarray, codec: Any = None) -> int:
        """Encode and write the chunks (or shards) holding rows ``[r0, r0 + len(values))``; returns bytes written."""
        codec = codec or self.codec()
        values = np.asarray(values, dtype=self.np_dtype.newbyteorder("<"))
        written = 0
        for i, c0, c1 in self.objects_of(r0, r0 + values.shape[0]):
            rows = values[c0 - r0:c1 - r0]
            data = self._shard(rows, codec) if self.shard_rows else codec.encode(self._full(rows))
            written += write_file(root / self.key(i), data)
        return written

    def _full(self, chunk: np.ndarray) -> np.ndarray:
        """An edge chunk is stored at full size, padded with the fill value."""
        if chunk.shape[0] < self.chunk_rows:
            full = np.full((self.chunk_rows, *chunk.shape[1:]), np.nan if chunk.dtype.kind == "f" else 0, chunk.dtype)
            full[:chunk.shape[0]] = chunk
            chunk = full
        return np.ascontiguousarray(chunk)

    def _shard(self, rows: np.ndarray, codec: Any) -> bytes:
        """One shard as the sharding codec stores it: the encoded inner chunks one after another,
        then the index ((offset, length) per inner chunk, little-endian uint64; all ones for a chunk
        beyond the array's edge) and its CRC32C."""
        import google_crc32c

        n_inner = self.shard_rows // self.chunk_rows
        index = np.full((n_inner, 2), np.iinfo(np.uint64).max, dtype="<u8")
        parts, offset = [], 0
        for k in range(n_inner):
            chunk = rows[k * self.chunk_rows:(k + 1) * self.chunk_rows]
            if chunk.shape[0] == 0:
                break
            data = codec.encode(self._full(chunk))
            index[k] = (offset, len(data))
            parts.append(data)
            offset += len(data)
        raw_index = index.tobytes()
        parts.append(raw_index)
        parts.append(int(google_crc32c.value(raw_index)).to_bytes(4, "little"))
        return b"".join(parts)


def write_file(path: Path, data: bytes | memoryview) -> int:
    """Write ``data`` at ``path`` (its folder made if missing)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        n = len(view)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return n


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, allow_nan=False, default=_plain).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value of type {type(value).__name__} is not JSON")


class StoreLayout:
    """The arrays of one store, written as metadata first and consolidated at the end."""

    def __init__(self, root: Path, attrs: dict[str, Any]) -> None:
        self.root = Path(root)
        self.attrs = dict(attrs)
        self.arrays: dict[str, ArraySpec] = {}

    def add(self, spec: ArraySpec) -> ArraySpec:
        if spec.name in self.arrays:
            raise ValueError(f"array {spec.name} declared twice")
        self.arrays[spec.name] = spec
        return spec

    def create(self) -> None:
        """Write every array's ``zarr.json`` (and a plain group ``zarr.json``)."""
        self.root.mkdir(parents=True)
        for spec in self.arrays.values():
            write_file(self.root / spec.name / "zarr.json", _json(spec.metadata()))
        write_file(self.root / "zarr.json", _json(self._group(consolidated=False)))

    def write_whole(self, name: str, values: np.ndarray) -> int:
        """An in-memory array (coordinates, file headers) written in one go."""
        spec = self.arrays[name]
        values = np.asarray(values)
        if tuple(values.shape) != spec.shape:
            raise ValueError(f"{name}: shape {values.shape}, declared {spec.shape}")
        return spec.write_rows(self.root, 0, values) if values.size else 0

    def finish(self) -> None:
        """Rewrite the group metadata with every array consolidated into it (the commit)."""
        write_file(self.root / "zarr.json", _json(self._group(consolidated=True)))

    def _group(self, *, consolidated: bool) -> dict[str, Any]:
        group: dict[str, Any] = {"attributes": self.attrs, "zarr_format": 3, "node_type": "group"}
        if consolidated:
            group["consolidated_metadata"] = {"kind": "inline", "must_understand": False,
                                              "metadata": {n: s.metadata() for n, s in sorted(self.arrays.items())}}
        return group


def coordinates_attr(names: list[str]) -> str:
    """xarray's CF ``coordinates`` attribute: the non-dimension coordinates, space-separated."""
    return " ".join(sorted(names))
