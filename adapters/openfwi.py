"""OpenFWI ``.npy`` files: velocity maps ``(N, 1, nz, nx)`` and records ``(N, S, T, R)``.

OpenFWI ships each family as files of 500 samples: ``model*.npy``/``vel*.npy`` hold the
velocity maps (m/s, grid spacing 10 m) and ``data*.npy``/``seis*.npy`` the simulated
shot records of the same samples, paired by the number in the file name.  A set is
tens of gigabytes, so the files are memory-mapped and streamed block by block into the
Zarr store: at most one block of samples (a few chunks) is ever in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from geogen.acquisition import Acquisition
from geogen.adapters.base import Adapter, IngestRequest
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import check_velocity_values, encoding_for
from geogen.errors import InputError
from geogen.progress import track

NPY_MAGIC = b"\x93NUMPY"
VELOCITY_PREFIXES = ("model", "vel")
SEISMIC_PREFIXES = ("data", "seis")

#: Samples per chunk.  A velocity map is 20 kB, a record 1.4 MB (OpenFWI sizes), so
#: 64 maps or 16 records make chunks of 1-22 MB: large enough for fast compression,
#: small enough that a training loader reading one batch touches few chunks.
VELOCITY_CHUNK = 64
SEISMIC_CHUNK = 16


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape, dtype and Fortran order of a ``.npy`` file, read from its header only."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    return tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran)


@dataclass
class NpyFile:
    """One input file: its role (velocity or seismic), the pairing number and shape."""

    path: Path
    role: str
    number: int | None
    shape: tuple[int, ...]

    @property
    def n(self) -> int:
        return self.shape[0]

    def open(self) -> np.ndarray:
        """The samples as a read-only memory map, velocity reshaped to ``(N, nz, nx)``."""
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        if self.role == "velocity" and array.ndim == 4:
            array = array[:, 0]
        return array


def _number(stem: str) -> int | None:
    match = re.search(r"(\d+)$", stem)
    return int(match.group(1)) if match else None


def classify(path: Path) -> NpyFile:
    """Read one file's header and decide from its name (else its shape) what it holds."""
    try:
        shape, dtype, _ = npy_header(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable .npy file ({exc})", path=path) from None
    if dtype.kind not in "fiu":
        raise InputError(f"holds {dtype} values; OpenFWI files hold float32 numbers", path=path)
    stem = path.stem.lower()
    if stem.startswith(VELOCITY_PREFIXES):
        role = "velocity"
    elif stem.startswith(SEISMIC_PREFIXES):
        role = "seismic"
    elif len(shape) == 4 and shape[1] == 1 or len(shape) == 3:
        role = "velocity"
    elif len(shape) == 4:
        role = "seismic"
    else:
        role = "unknown"
    if role == "velocity" and not (len(shape) == 3 or (len(shape) == 4 and shape[1] == 1)):
        raise InputError(
            f"has shape {shape}; an OpenFWI velocity file is (N, 1, nz, nx) or (N, nz, nx)", path=path
        )
    if role == "seismic" and len(shape) != 4:
        raise InputError(
            f"has shape {shape}; an OpenFWI data file is (N, sources, time, receivers)", path=path
        )
    if role == "unknown":
        raise InputError(
            f"has shape {shape}: neither velocity (N, 1, nz, nx) nor records (N, S, T, R); "
            "name it model*.npy/vel*.npy or data*.npy/seis*.npy",
            path=path,
        )
    if shape[0] == 0:
        raise InputError("holds no samples", path=path)
    return NpyFile(path, role, _number(stem), shape)


def pair_files(velocity: Sequence[NpyFile], seismic: Sequence[NpyFile]) -> list[tuple[NpyFile, NpyFile]]:
    """Match each velocity file with the data file that carries the same number."""
    if len(velocity) == 1 and len(seismic) == 1 and None in (velocity[0].number, seismic[0].number):
        return [(velocity[0], seismic[0])]  # e.g. model.npy + data.npy: nothing to pair by
    by_number: dict[int, NpyFile] = {}
    for f in seismic:
        if f.number is None:
            raise InputError(
                "has no number in its name to pair it with a model file (e.g. data3.npy with model3.npy)", path=f.path
            )
        if f.number in by_number:
            raise InputError(f"pairs with the same number {f.number} as {by_number[f.number].path.name}", path=f.path)
        by_number[f.number] = f
    pairs = []
    for v in velocity:
        match = by_number.pop(v.number, None) if v.number is not None else None
        if match is None:
            raise InputError(
                "has no data file with the same number among the inputs; give its data*.npy/seis*.npy "
                "too, or only model files for a velocity store",
                path=v.path,
            )
        pairs.append((v, match))
    for left in by_number.values():
        raise InputError("has no model file with the same number among the inputs", path=left.path)
    return pairs


def openfwi_acquisition(nz: int, nx: int, dz: float, dx: float) -> Acquisition:
    """The OpenFWI acquisition on a grid of the given spacing (positions stay on the same cells)."""
    base = Acquisition.preset("openfwi")
    if (nz, nx) != base.shape:
        raise InputError(
            f"velocity maps are {nz} x {nx}, not OpenFWI's {base.nz} x {base.nx}; pass the acquisition "
            "of these pairs explicitly (options acquisition=Acquisition(...))"
        )
    scale = dx / base.dx
    return Acquisition.preset(
        "openfwi", dz=dz, dx=dx,
        source_x=tuple(x * scale for x in base.source_x), receiver_x=tuple(x * scale for x in base.receiver_x),
        source_z=base.source_z * dz / base.dz, receiver_z=base.receiver_z * dz / base.dz,
    )


def blocks(files: Sequence[NpyFile], block: int) -> Iterator[tuple[int, int, list[tuple[NpyFile, int, int]]]]:
    """Global sample ranges ``[a, b)`` of ``block`` samples over the concatenated files.

    Each range is returned with the file pieces that make it up, so every chunk of the
    output is written exactly once even where a chunk straddles two files.
    """
    starts = np.cumsum([0] + [f.n for f in files])
    total = int(starts[-1])
    for a in range(0, total, block):
        b = min(a + block, total)
        pieces = []
        for f, s0 in zip(files, starts[:-1]):
            lo, hi = max(a, int(s0)), min(b, int(s0) + f.n)
            if lo < hi:
                pieces.append((f, lo - int(s0), hi - int(s0)))
        yield a, b, pieces


def read_block(pieces: list[tuple[NpyFile, int, int]]) -> np.ndarray:
    """Copy a block out of its files as float32.

    Each piece maps its file afresh and drops the map after the copy, so the pages read
    leave this process's resident set with the block instead of piling up file by file.
    """
    parts = []
    for f, lo, hi in pieces:
        mapped = f.open()
        parts.append(np.array(mapped[lo:hi], dtype=np.float32))
        del mapped
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class OpenFWIAdapter(Adapter):
    """Reads OpenFWI ``.npy`` files into a ``velocity`` store, or a ``pairs`` store when data files come too.

    Options (``IngestRequest.options``): ``dz``/``dx`` grid spacing in metres (default
    10, OpenFWI's); ``acquisition``: an :class:`Acquisition` for records that do not use
    OpenFWI's geometry.
    """

    name = "openfwi"

    def sniff(self, path: Path) -> bool:
        if path.suffix.lower() != ".npy" or not path.is_file():
            return False
        try:
            with open(path, "rb") as fh:
                return fh.read(len(NPY_MAGIC)) == NPY_MAGIC
        except OSError:
            return False

    def ingest(self, request: IngestRequest, out: Path) -> None:
        for p in request.paths:
            if not self.sniff(p):
                raise InputError("is not a .npy file; OpenFWI ingest takes only .npy files", path=p)
        files = [classify(p) for p in request.paths]
        velocity = [f for f in files if f.role == "velocity"]
        seismic = [f for f in files if f.role == "seismic"]
        if not velocity:
            raise InputError(
                "only data files given; OpenFWI records need their model*.npy/vel*.npy velocity files",
                path=seismic[0].path,
            )
        if request.kind not in ("auto", "velocity", "pairs"):
            raise InputError(
                f"OpenFWI files hold velocity maps or pairs, not a {request.kind} store", path=velocity[0].path
            )
        if request.kind == "pairs" and not seismic:
            raise InputError(
                "--kind pairs needs the data*.npy files that go with the model files", path=velocity[0].path
            )
        dz = float(request.options.get("dz", 10.0))
        dx = float(request.options.get("dx", 10.0))
        if dz <= 0 or dx <= 0:
            raise InputError(f"grid spacing must be positive, got dz={dz:g} m, dx={dx:g} m", path=velocity[0].path)
        grid = velocity[0].shape[-2:]
        for f in velocity[1:]:
            if f.shape[-2:] != grid:
                raise InputError(
                    f"holds {f.shape[-2]} x {f.shape[-1]} maps, {velocity[0].path.name} holds {grid[0]} x {grid[1]}",
                    path=f.path,
                )
        # Files concatenate in the order of their numbers (model2 before model10), as a
        # shell glob would not give them.
        velocity.sort(key=lambda f: (f.number is None, f.number or 0, str(f.path)))
        if seismic and request.kind != "velocity":
            self._ingest_pairs(pair_files(velocity, seismic), out, dz, dx, request.options.get("acquisition"))
        else:
            self._ingest_velocity(velocity, out, dz, dx)

    # ----------------------------------------------------------------- velocity only
    def _ingest_velocity(self, files: list[NpyFile], out: Path, dz: float, dx: float) -> None:
        total = sum(f.n for f in files)
        nz, nx = files[0].shape[-2:]
        chunk = min(VELOCITY_CHUNK, total)
        template = velocity_dataset(
            da.zeros((total, nz, nx), dtype=np.float32, chunks=(chunk, nz, nx)), dz=dz, dx=dx,
            attrs={"source_format": "openfwi", "source_files": ", ".join(f.path.name for f in files)},
        )
        template.to_zarr(out, mode="w", zarr_format=3, consolidated=False, compute=False,
                         encoding=encoding_for(template, {"velocity": {"model": chunk}}))
        target = zarr.open_group(out, mode="r+", zarr_format=3)["velocity"]
        step = chunk * 4  # several chunks per write so zarr encodes them concurrently
        for a, b, pieces in track(list(blocks(files, step)), description="ingest velocity"):
            values = read_block(pieces)
            _check_velocity_block(values, pieces)
            target[a:b] = values

    # ------------------------------------------------------------------------- pairs
    def _ingest_pairs(
        self, pairs: list[tuple[NpyFile, NpyFile]], out: Path, dz: float, dx: float, acquisition: Any
    ) -> None:
        nz, nx = pairs[0][0].shape[-2:]
        if acquisition is None:
            try:
                acquisition = openfwi_acquisition(nz, nx, dz, dx)
            except InputError as exc:
                raise InputError(exc.detail, path=pairs[0][0].path) from None
        elif isinstance(acquisition, dict):
            acquisition = Acquisition(**acquisition)
        a: Acquisition = acquisition
        for v, s in pairs:
            if v.n != s.n:
                raise InputError(
                    f"holds {s.n} records but {v.path.name} holds {v.n} velocity maps; they must pair one to one",
                    path=s.path,
                )
            if tuple(v.shape[-2:]) != a.shape:
                raise InputError(
                    f"holds {v.shape[-2]} x {v.shape[-1]} maps, the acquisition of {s.path.name} needs {a.nz} x {a.nx}",
                    path=v.path,
                )
            if tuple(s.shape[1:]) != a.seismic_shape:
                raise InputError(
                    f"holds records of {s.shape[1:]} (source, time, receiver) but {v.path.name} and the "
                    f"OpenFWI acquisition need {a.seismic_shape}", path=s.path,
                )
        total = sum(v.n for v, _ in pairs)
        chunk = min(SEISMIC_CHUNK, total)
        template = pairs_dataset(
            da.zeros((total, *a.shape), dtype=np.float32, chunks=(chunk, *a.shape)),
            da.zeros((total, *a.seismic_shape), dtype=np.float32, chunks=(chunk, *a.seismic_shape)),
            a, origin="simulated",
            attrs={"source_format": "openfwi",
                   "source_files": ", ".join(f"{v.path.name}+{s.path.name}" for v, s in pairs)},
        )
        template.to_zarr(out, mode="w", zarr_format=3, consolidated=False, compute=False,
                         encoding=encoding_for(template, {"velocity": {"sample": chunk}, "seismic": {"sample": chunk}}))
        group = zarr.open_group(out, mode="r+", zarr_format=3)
        vfiles, sfiles = [v for v, _ in pairs], [s for _, s in pairs]
        step = chunk * 2
        for (a0, b0, vpieces), (_, _, spieces) in track(
            list(zip(blocks(vfiles, step), blocks(sfiles, step))), description="ingest pairs"
        ):
            values = read_block(vpieces)
            _check_velocity_block(values, vpieces)
            records = read_block(spieces)
            bad = ~np.isfinite(records)
            if bad.any():
                i = int(np.argwhere(bad)[0][0])
                f, lo, _ = _locate(spieces, i)
                raise InputError(f"record {lo} holds NaN or Inf", path=f.path)
            group["velocity"][a0:b0] = values
            group["seismic"][a0:b0] = records


def _locate(pieces: list[tuple[NpyFile, int, int]], i: int) -> tuple[NpyFile, int, int]:
    """Which file (and which sample in it) holds row ``i`` of a block."""
    for f, lo, hi in pieces:
        if i < hi - lo:
            return f, lo + i, hi
        i -= hi - lo
    raise IndexError(i)


def _check_velocity_block(values: np.ndarray, pieces: list[tuple[NpyFile, int, int]]) -> None:
    """Check a block; on failure, find the first bad map so the message names file and map."""
    try:
        check_velocity_values(values)
        return
    except InputError:
        pass
    offset = 0
    for f, lo, hi in pieces:
        for k in range(hi - lo):
            check_velocity_values(values[offset + k], path=f.path, what=f"velocity map {lo + k}")
        offset += hi - lo
    check_velocity_values(values, path=pieces[0][0].path)  # a block-wide problem (e.g. km/s)
