"""Seeded velocity maps in the style of OpenFWI's families.

Every map is a stack of layers whose velocities grow with depth on average; families
differ in the shape of the interfaces and in faulting:

- ``flat``: horizontal interfaces (FlatVel).
- ``curve``: interfaces that follow a smooth random curve (CurveVel).
- ``flatfault``: flat layers cut by one or two faults (FlatFault).
- ``curvefault``: curved layers cut by faults (CurveFault).

Parameters (drawn per map, bounds below): LAYERS layers; interfaces no closer than
MIN_THICKNESS of the depth; layer velocities are sorted uniform draws in
``[vmin, vmax]``, and with probability INVERSION_PROBABILITY two neighbouring layers
swap (a low-velocity layer); curved interfaces are a common sum of CURVE_TERMS
sinusoids with wavelengths WAVELENGTH times the width and amplitudes up to
CURVE_AMPLITUDE of the depth, plus a per-interface wobble a quarter of that; faults
are straight lines dipping FAULT_DIP_DEG from horizontal that shift the hanging wall
vertically by a throw of FAULT_THROW of the depth, up or down.

Map ``k`` of a set is drawn from its own generator seeded by ``(seed, family, k)``, so
it is the same whatever ``n`` is and whichever process makes it.
"""

from __future__ import annotations

import numpy as np

from geogen.errors import InputError

FAMILIES = ("flat", "curve", "flatfault", "curvefault")

LAYERS = (2, 6)  # inclusive range of the number of layers
MIN_THICKNESS = 0.06  # of the map depth
INVERSION_PROBABILITY = 0.2
CURVE_TERMS = (1, 3)
WAVELENGTH = (0.6, 2.5)  # of the map width
CURVE_AMPLITUDE = 0.12  # of the map depth
FAULTS = (1, 2)
FAULT_DIP_DEG = (45.0, 80.0)
FAULT_THROW = (0.05, 0.25)  # of the map depth


def _rng(seed: int, family: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, FAMILIES.index(family), index]))


def _interfaces(rng: np.random.Generator, n_if: int, nz: int, nx: int, curved: bool) -> np.ndarray:
    """Interface depths (in cells) as ``(n_if, nx)``, sorted top to bottom."""
    while True:
        tops = np.sort(rng.uniform(0.08, 0.92, n_if))
        if n_if < 2 or np.diff(tops).min() >= MIN_THICKNESS:
            break
    depth = tops[:, None] * nz * np.ones((1, nx))
    if curved:
        x = np.arange(nx) / max(nx - 1, 1)
        common = np.zeros(nx)
        for _ in range(rng.integers(CURVE_TERMS[0], CURVE_TERMS[1] + 1)):
            wavelength = rng.uniform(*WAVELENGTH)
            common += rng.uniform(-1, 1) * np.sin(2 * np.pi * x / wavelength + rng.uniform(0, 2 * np.pi))
        common *= CURVE_AMPLITUDE * nz / max(np.abs(common).max(), 1e-9) * rng.uniform(0.3, 1.0)
        wobble = np.stack([np.sin(2 * np.pi * x / rng.uniform(*WAVELENGTH) + rng.uniform(0, 2 * np.pi))
                           for _ in range(n_if)]) * rng.uniform(0, CURVE_AMPLITUDE / 4, (n_if, 1)) * nz
        depth = depth + common[None, :] + wobble
    return depth


def _layer_velocities(rng: np.random.Generator, n_layers: int, vmin: float, vmax: float) -> np.ndarray:
    v = np.sort(rng.uniform(vmin, vmax, n_layers))
    if n_layers > 2 and rng.random() < INVERSION_PROBABILITY:
        i = rng.integers(1, n_layers - 1)
        v[i], v[i + 1] = v[i + 1], v[i]
    return v


def _one_map(family: str, index: int, seed: int, nz: int, nx: int, vmin: float, vmax: float) -> np.ndarray:
    rng = _rng(seed, family, index)
    n_layers = int(rng.integers(LAYERS[0], LAYERS[1] + 1))
    depth = _interfaces(rng, n_layers - 1, nz, nx, curved=family.startswith("curve"))
    velocities = _layer_velocities(rng, n_layers, vmin, vmax)
    z = np.arange(nz, dtype=np.float64)[:, None] * np.ones((1, nx))
    x = np.ones((nz, 1)) * np.arange(nx, dtype=np.float64)[None, :]
    z_eff = z.copy()
    if family.endswith("fault"):
        for _ in range(rng.integers(FAULTS[0], FAULTS[1] + 1)):
            dip = np.deg2rad(rng.uniform(*FAULT_DIP_DEG)) * rng.choice((-1.0, 1.0))
            x_top = rng.uniform(0.15, 0.85) * nx
            fault_x = x_top + z / np.tan(dip)
            throw = rng.uniform(*FAULT_THROW) * nz * rng.choice((-1.0, 1.0))
            z_eff = np.where(x > fault_x, z_eff - throw, z_eff)
    layer = (z_eff[None, :, :] >= depth[:, None, :]).sum(axis=0)
    return np.clip(velocities[layer], vmin, vmax).astype(np.float32)


def generate_velocity(family: str, n: int, shape: tuple[int, int], *, seed: int, vmin: float = 1500.0,
                      vmax: float = 4500.0, start: int = 0) -> np.ndarray:
    """Maps ``start .. start + n - 1`` of a seeded set: float32 ``(n, nz, nx)`` in m/s."""
    if family not in FAMILIES:
        raise InputError(f"unknown velocity family {family!r}; choose one of {', '.join(FAMILIES)}")
    if n < 0 or start < 0:
        raise InputError(f"n ({n}) and start ({start}) must be non-negative")
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    nz, nx = (int(s) for s in shape)
    if nz < 4 or nx < 2:
        raise InputError(f"map shape {shape} is too small; need at least 4 x 2 cells")
    if not 0 < vmin < vmax:
        raise InputError(f"need 0 < vmin < vmax, got vmin={vmin:g}, vmax={vmax:g} m/s")
    out = np.empty((n, nz, nx), dtype=np.float32)
    for j in range(n):
        out[j] = _one_map(family, start + j, seed, nz, nx, vmin, vmax)
    return out
