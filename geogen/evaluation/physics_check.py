"""Physics consistency: does each pair's seismic obey the wave equation for its velocity?

For every pair of a ``pairs`` store, Devito models the velocity map with the store's own
acquisition (the *reference*), and models the map's *direct-wave record*: the same
acquisition in a homogeneous medium at the mean velocity of the map's top row
(:func:`geogen.physics.direct_wave`).  The stored record is compared with the reference:

- ``physics_rel_l2``: ``||stored - reference|| / ||reference||`` over the whole record;
- ``scattered_rel_l2``: the same error over the *scattered part*, the record minus its
  direct wave, i.e. ``||stored - reference|| / ||reference - direct||``: the part of the
  record that the map below the surface controls (reflections, refractions,
  diffractions).  The direct wave carries most of a record's energy and depends only on
  the surface velocity, so the whole-record figure is reached by a generator that
  outputs the direct wave alone; on the scattered part that generator scores exactly 1
  and a perfect one 0;
- ``physics_ssim``: SSIM of the two records after OpenFWI's log transform, scaled by the
  reference's range (1 is perfect);
- ``first_arrival_error_s``: median over traces of the first-break time difference (s).

Every summary stands beside two rows computed on the same footing:

- ``trivial``: the direct-wave-only generator (the stored record replaced by the
  direct-wave record) on the same maps: what a generator reaches that knows nothing
  but the surface velocity;
- ``floor`` (with a run directory): the run's held-out real test maps through its
  autoencoder (encoder, then both decoders, as a sampled latent is decoded), the
  reference being Devito on the *decoded* map: the error of the decoder a generator
  samples through, like for like.  ``reconstruction`` adds the decoded record against
  the stored record of the *true* map, which also counts the velocity decoder's error
  and so is no floor for the physics figure.

Per-sample figures are added to the store with :func:`geogen.data.store.add_variables`
(each variable written beside the store and moved in whole, the consolidated metadata
rewritten last), so the pairs themselves are never rewritten and an interrupted
validation leaves no half-written variable.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from geogen.acquisition import Acquisition
from geogen.data.datasets import open_pairs
from geogen.data.store import add_variables, check_velocity_values, is_store, write_store
from geogen.errors import GeogenError, InputError
from geogen.evaluation import metrics
from geogen.evaluation.config import ValidationConfig
from geogen.progress import track
from geogen.run.atomic import atomic_write_json
from geogen.run.rundir import RunDir

PathLike = str | os.PathLike[str]
VARIABLES = ("physics_rel_l2", "scattered_rel_l2", "physics_ssim", "first_arrival_error_s")
DIRECT_WAVE = ("Devito in a homogeneous medium at the mean velocity of the map's top row, same acquisition "
               "(geogen.physics.direct_wave)")
SCATTERED = "record minus its direct-wave record: the part of the record the map below the surface controls"
_ATTRS = {
    "physics_rel_l2": {"units": "1", "long_name": "relative L2 misfit of the seismic against Devito modelling"},
    "scattered_rel_l2": {"units": "1", "long_name": "relative L2 misfit of the scattered part (record minus the "
                                                    "direct-wave record) against Devito modelling"},
    "physics_ssim": {"units": "1", "long_name": "SSIM of the OpenFWI-normalised seismic against Devito modelling"},
    "first_arrival_error_s": {"units": "s", "long_name": "median first-break time error against Devito modelling"},
}
SEISMIC_DIMS = ("sample", "source", "time", "receiver")
VELOCITY_DIMS = ("sample", "z", "x")
Modeller = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------ the comparison
def compare(stored: np.ndarray, modelled: np.ndarray, direct: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """Per-sample figures of stored vs modelled records, all ``(sample, S, T, R)``; ``direct``: direct waves."""
    n = stored.shape[0]
    out = {name: np.empty(n, dtype=np.float64) for name in VARIABLES}
    for i in range(n):
        out["physics_rel_l2"][i] = metrics.relative_l2(stored[i], modelled[i])
        out["scattered_rel_l2"][i] = metrics.relative_l2(stored[i] - direct[i], modelled[i] - direct[i])
        out["physics_ssim"][i] = metrics.record_ssim(stored[i], modelled[i])
        out["first_arrival_error_s"][i] = metrics.first_arrival_error(stored[i], modelled[i], dt)
    return out


def summarise(values: dict[str, np.ndarray]) -> dict[str, dict[str, float | int | None]]:
    """Median, 90th and 10th percentile, mean of each figure over its finite values (and how many were not).

    A scattered figure is infinite where the reference has no scattered part (a
    homogeneous map) but the record differs from it; such pairs are counted, not averaged.
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        finite = v[np.isfinite(v)]
        entry: dict[str, float | int | None] = {"median": None, "p90": None, "p10": None, "mean": None}
        if finite.size:  # JSON has no NaN: "no value" stays None
            entry = {"median": float(np.median(finite)), "p90": float(np.percentile(finite, 90)),
                     "p10": float(np.percentile(finite, 10)), "mean": float(finite.mean())}
        if finite.size < v.size:
            entry["n_nonfinite"] = int(v.size - finite.size)
        out[name] = entry
    return out


#: Figures of one block: ``"pairs"`` (the stored records) and ``"trivial"`` (the direct waves in their place).
Figures = dict[str, dict[str, np.ndarray]]
ROWS = ("pairs", "trivial")


@contextlib.contextmanager
def physics_modeller(acquisition: Acquisition, *, workers: int = 1, scheduler: str | None = None) -> Iterator[Modeller]:
    """A function ``velocity (n, z, x) -> records`` that keeps one dask cluster for all blocks.

    Starting a cluster per block would cost seconds each time, so with workers > 1 or a
    scheduler address one client is held for the whole validation.
    """
    from geogen.physics import forward

    if scheduler is None and workers <= 1:
        yield lambda v: forward(v, acquisition)
        return
    from geogen.cluster import dask_client
    from geogen.physics.modelling import as_velocity_array
    from geogen.physics.parallel import model_parallel

    with dask_client(workers, scheduler) as client:
        yield lambda v: model_parallel(as_velocity_array(v, acquisition), acquisition, client=client)


def model_and_compare(velocity: np.ndarray, seismic: np.ndarray, acquisition: Acquisition) -> tuple[Figures, float]:
    """Model a block of maps and their direct waves in this process and compare: the unit of work of a worker.

    Returns the figures of the stored records and of the direct-wave-only records
    (``"trivial"``) against the same reference, and the seconds spent in Devito.
    Running the comparison where the modelling ran sends a few numbers per pair back
    instead of two whole records, and spreads the metric cost (SSIM, picking) over the
    workers too: on the small preset it costs more than the modelling itself.
    """
    from geogen.physics.modelling import model_direct_waves, model_maps

    started = time.perf_counter()
    modelled = model_maps(velocity, acquisition)
    direct = model_direct_waves(velocity, acquisition)
    seconds = time.perf_counter() - started
    return {"pairs": compare(seismic, modelled, direct, acquisition.dt),
            "trivial": compare(direct, modelled, direct, acquisition.dt)}, seconds


@contextlib.contextmanager
def pair_checker(acquisition: Acquisition, *, workers: int = 1, scheduler: str | None = None) -> Iterator[Checker]:
    """A function ``(velocity, seismic) -> handle`` plus ``handle -> figures``, one cluster for all blocks.

    In-process (``workers == 1`` and no scheduler) the work is done at submission;
    otherwise each block is a dask task on a local cluster of ``workers`` processes, or
    on the cluster at ``scheduler``, started once for the whole validation.
    """
    if scheduler is None and workers <= 1:
        yield Checker(lambda v, s: model_and_compare(v, s, acquisition), lambda h: h, 1)
        return
    from geogen.cluster import dask_client

    with dask_client(workers, scheduler) as client:
        n = max(1, len(client.scheduler_info().get("workers", {})))

        def submit(v: np.ndarray, s: np.ndarray) -> Any:
            # the records go to a worker as data, not inside the task graph (a block of openfwi records is
            # 22 MB: dask warned "Sending large graph" for each one)
            data = client.scatter([v, s], hash=False)
            return client.submit(model_and_compare, *data, acquisition, pure=False)

        yield Checker(submit, lambda h: h.result(), n)


class Checker:
    """Submit blocks of pairs for checking and collect their figures (see :func:`pair_checker`)."""

    def __init__(self, submit: Callable[[np.ndarray, np.ndarray], Any],
                 result: Callable[[Any], tuple[Figures, float]], workers: int) -> None:
        self.submit, self.result, self.workers = submit, result, workers
        self.modelling_s = 0.0  # Devito seconds summed over blocks (CPU seconds of the workers)


def check_pairs(velocity: xr.DataArray | np.ndarray, seismic: xr.DataArray | np.ndarray, acquisition: Acquisition,
                checker: Checker, *, block: int = 16, description: str = "validating",
                path: PathLike | None = None) -> Figures:
    """Model each velocity map and compare it with its record, ``block`` samples at a time.

    Each block's maps are checked (finite, positive, m/s, stable) before modelling, so
    a bad map is reported with the store's name and its sample number.  At most two
    blocks per worker are in flight, so memory stays bounded on any store size.
    """
    n = velocity.shape[0]
    starts = list(range(0, n, block))
    parts: dict[int, Figures] = {}
    pending: list[tuple[int, Any]] = []

    def collect(first: int, handle: Any) -> None:
        parts[first], seconds = checker.result(handle)
        checker.modelling_s += seconds

    for start in track(starts, total=len(starts), description=description):
        stop = min(start + block, n)
        v = np.asarray(velocity[start:stop], dtype=np.float32)
        s = np.asarray(seismic[start:stop], dtype=np.float32)
        _check_block(v, s, start, acquisition, path)
        pending.append((start, checker.submit(v, s)))
        while len(pending) >= 2 * checker.workers:
            collect(*pending.pop(0))
    for first, handle in pending:
        collect(first, handle)
    ordered = [parts[k] for k in starts]
    return {row: {name: np.concatenate([p[row][name] for p in ordered]) if ordered else np.empty(0)
                  for name in VARIABLES} for row in ROWS}


def _check_block(v: np.ndarray, s: np.ndarray, start: int, acquisition: Acquisition, path: PathLike | None) -> None:
    try:
        check_velocity_values(v, path=path, what=f"velocity of samples {start}-{start + len(v) - 1}")
        acquisition.check_stable(float(v.max()))
    except InputError as exc:
        raise InputError(exc.detail, path=path) from None
    bad = ~np.isfinite(s)
    if bad.any():
        i = start + int(np.argwhere(bad)[0][0])
        raise InputError(f"seismic of sample {i} holds NaN or Inf; regenerate or drop that pair", path=path)


# ----------------------------------------------------------------- store handling
def _chunked_like_source(ds: xr.Dataset) -> tuple[xr.Dataset, dict[str, dict[str, int]]]:
    """Drop read-time encodings and keep each source variable's on-disk chunking."""
    chunks: dict[str, dict[str, int]] = {}
    out = ds.copy()
    for name, var in ds.variables.items():
        enc_chunks = var.encoding.get("chunks") or var.encoding.get("preferred_chunks")
        if isinstance(enc_chunks, dict):
            enc_chunks = tuple(enc_chunks[d] for d in var.dims)
        if enc_chunks and name in ds.data_vars:
            chunks[str(name)] = {d: int(min(c, var.sizes[d])) for d, c in zip(var.dims, enc_chunks)}
            out[name] = out[name].chunk(chunks[str(name)])
        out[name].encoding = {}
    return out, chunks


def _write(ds: xr.Dataset, target: PathLike) -> None:
    clean, chunks = _chunked_like_source(ds)
    write_store(clean, target, kind="pairs", chunks=chunks)


# ------------------------------------------------------------------------ the verb
def validate(store: PathLike, config: ValidationConfig | None = None, *, run_dir: PathLike | None = None,
             filter_out: PathLike | None = None, write: bool = True, block: int | None = None,
             **settings: Any) -> dict[str, Any]:
    """Check every pair of ``store`` against Devito modelling; return the summary.

    ``config`` holds the settings (:class:`ValidationConfig`: ``workers``, ``scheduler``,
    ``filter``; the workflow's ``validation`` section, which extends it, does too);
    ``settings`` override its fields (``validate(store, workers=2, filter=0.1, filter_out=out)``).
    Adds ``physics_rel_l2``, ``scattered_rel_l2``, ``physics_ssim`` and
    ``first_arrival_error_s`` per sample to the store (``write=True``); with ``filter``
    writes the pairs whose relative L2 is at most ``filter`` to ``filter_out``.  The
    summary holds each figure's median, p90, p10 and mean, the ``trivial`` row (the
    direct-wave-only generator on the same maps) and, with ``run_dir``, the like-for-like
    autoencoder ``floor``; with ``run_dir`` it is also written to ``run_dir/validation.json``.
    """
    given = config.model_dump(include=set(ValidationConfig.model_fields)) if config is not None else {}
    cfg = ValidationConfig.model_validate({**given, **settings})
    store = Path(store)
    if (cfg.filter is None) != (filter_out is None):
        raise InputError("--filter THRESHOLD and --out STORE go together: give both or neither")
    if filter_out is not None and Path(filter_out).resolve() == store.resolve():
        raise InputError("--out must differ from the validated store; the filter keeps the original intact",
                         path=filter_out)
    if write and not is_store(store):
        raise InputError("results can only be added to a Zarr store; convert it with `geogen ingest` first",
                         path=store)
    ds, acq = open_pairs(store)
    ubdiff = None
    if run_dir is not None:  # fail on a wrong run or checkpoint before the long part, not after it
        from geogen.evaluation.run_inputs import RunInputs, load_model

        RunInputs.locate(run_dir)
        ubdiff = load_model(run_dir)
    velocity = ds["velocity"].transpose(*VELOCITY_DIMS).data
    seismic = ds["seismic"].transpose(*SEISMIC_DIMS).data
    size = block or 8
    started = time.perf_counter()
    with pair_checker(acq, workers=cfg.workers, scheduler=cfg.scheduler) as checker:
        figures = check_pairs(velocity, seismic, acq, checker, block=size, path=store)
        modelling_s = checker.modelling_s
        floor = autoencoder_floor(run_dir, acq, checker, block=size, ubdiff=ubdiff) if run_dir is not None else None
    values = figures["pairs"]
    summary: dict[str, Any] = {
        "store": str(store),
        "origin": ds.attrs.get("origin"),
        "n_pairs": int(ds.sizes["sample"]),
        "metric": "Devito acoustic modelling of the pair's velocity vs the pair's seismic",
        "direct_wave": DIRECT_WAVE,
        "scattered_part": SCATTERED,
        **summarise(values),
        "trivial": {"generator": "direct wave alone: each pair's record replaced by its map's direct-wave record",
                    **summarise(figures["trivial"])},
        "timing": {"devito_s": modelling_s, "wall_s": time.perf_counter() - started,
                   "note": "devito_s: Devito seconds summed over workers, for each map and its direct wave"},
    }
    if floor is not None:
        summary["floor"] = floor
        for key in ("physics_rel_l2", "scattered_rel_l2"):
            med, fmed = summary[key]["median"], floor[key]["median"]
            summary[f"median_{key}_over_floor"] = float(med / fmed) if med is not None and fmed else None
        summary["median_rel_l2_over_floor"] = summary["median_physics_rel_l2_over_floor"]  # the name before 0.2

    result = ds.drop_vars([v for v in VARIABLES if v in ds])
    for name in VARIABLES:
        result[name] = xr.DataArray(values[name].astype(np.float32), dims=("sample",), attrs=_ATTRS[name])
    if cfg.filter is not None:
        keep = np.flatnonzero(values["physics_rel_l2"] <= cfg.filter)
        summary["filter"] = {"threshold_rel_l2": float(cfg.filter), "kept": int(keep.size),
                             "dropped": int(ds.sizes["sample"] - keep.size), "out": str(filter_out)}
        if keep.size == 0:  # an empty store helps nobody; say so and keep the validation itself
            summary["filter"]["out"] = None
            summary["filter"]["note"] = (f"no pair has a relative L2 <= {cfg.filter:g} (best "
                                         f"{np.nanmin(values['physics_rel_l2']):.3g}); nothing written to {filter_out}")
        else:
            kept = result.isel(sample=keep).assign_attrs(physics_filter=f"physics_rel_l2 <= {cfg.filter:g}",
                                                         filtered_from=str(store))
            _write(kept, filter_out)  # before the source is rewritten: it still reads the original
    if write:  # only the per-sample figures are written; the pairs themselves are not rewritten
        figures = xr.Dataset({name: result[name] for name in VARIABLES}, attrs={"physics_validated": True})
        add_variables(store, figures)
    if run_dir is not None:
        atomic_write_json(RunDir(run_dir).validation, summary)
    return summary


def autoencoder_floor(run_dir: PathLike, acquisition: Acquisition, checker: Checker, *,
                      block: int = 16, ubdiff: Any = None) -> dict[str, Any]:
    """The like-for-like floor: held-out real test maps through the run's autoencoder (``ubdiff``: loaded model).

    Each test map is encoded and decoded by both decoders, as a sampled latent is; the
    decoded record is scored against Devito on the *decoded* map, exactly as a generated
    pair is.  ``reconstruction`` is the decoded record against the true map's stored
    record: it mixes the velocity decoder's error into the seismic figure, so it is
    reported for what it is and not used as the floor.
    """
    from geogen.evaluation.run_inputs import RunInputs, load_model

    inputs = RunInputs.locate(run_dir)
    ds, acq = open_pairs(inputs.pairs_store)
    if acq != acquisition:
        raise InputError(f"the run's pairs store {inputs.pairs_store} has another acquisition than the validated "
                         "store; validate against the run that generated it", path=run_dir)
    test = inputs.test_pairs
    if test.size == 0:
        raise GeogenError("the run holds out no real test pairs (splits.json 'test' is empty); cannot give a floor",
                          path=run_dir)
    ubdiff = ubdiff if ubdiff is not None else load_model(run_dir)
    test_ds = ds.isel(sample=test)
    velocity = test_ds["velocity"].transpose(*VELOCITY_DIMS).values.astype(np.float32)
    stored = test_ds["seismic"].transpose(*SEISMIC_DIMS).values.astype(np.float32)
    decoded_v, decoded_s = ubdiff.autoencode(velocity)
    figures = check_pairs(decoded_v, decoded_s, acquisition, checker, block=block, description="autoencoder floor",
                          path=inputs.pairs_store)
    recon = {"physics_rel_l2": np.array([metrics.relative_l2(e, r) for e, r in zip(decoded_s, stored)])}
    return {"n_pairs": int(test.size),
            "source": f"{inputs.pairs_store} test split through UBDiff.autoencode (encoder, both decoders)",
            "reference": "Devito on the decoded velocity map (like for like with generated pairs)",
            **summarise(figures["pairs"]),
            "trivial": summarise(figures["trivial"]),
            "reconstruction": {"reference": "the stored record of the true map (counts the velocity decoder's "
                                            "error too; not a floor)", **summarise(recon)},
            "per_sample": {k: [float(x) for x in v] for k, v in figures["pairs"].items()}}
