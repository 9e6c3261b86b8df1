"""The stages of a workflow run, one function each, each calling one part of geogen.

A stage reads what earlier stages recorded (``ctx.outputs``, typed results of
:mod:`geogen.workflow.results`), does its work into the run directory (paths from
:class:`geogen.run.RunDir`), and returns its result, which the runner stores in the stage's
marker.  Stages never decide whether to run: the runner does, from the markers, so that an
interrupted run resumes where it stopped.  An :class:`InputError` that names a ``setting``
is turned into that setting's YAML path by the runner (the section is in :data:`STAGES`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from geogen.acquisition import Acquisition
from geogen.data.store import is_store, open_store, write_store
from geogen.errors import InputError
from geogen.evaluation.report import inversionnet_table, validation_table
from geogen.evaluation.results import arms_and_comparisons
from geogen.run.atomic import atomic_write, atomic_write_json, jsonable
from geogen.run.rundir import RunDir
from geogen.workflow.results import (
    AssembleResult,
    EvaluateResult,
    ExportResult,
    GenerateResult,
    IngestResult,
    ReportResult,
    StageResult,
    SynthResult,
    TrainResult,
    ValidateResult,
    WellsResult,
    WindowsResult,
)

log = logging.getLogger("geogen.workflow")

#: Extensions of exported files, by format.
EXPORT_SUFFIX = {"segy": "_segy", "netcdf": ".nc", "zarr": ".zarr"}  # SEG-Y: a folder, 2 files per pair


class WorkflowView(Protocol):
    """What the stages read of a :class:`geogen.workflow.runner.Workflow` (kept to this, so that the stages do not
    import the runner that imports them)."""

    config: Any
    acquisition: Acquisition | None
    source: Path | None

    def files_to_ingest(self) -> list[tuple[str, list[Path], str, dict[str, Any]]]: ...

    def export_options(self) -> dict[str, Any]: ...

    def check_acquisition_fits(self, found: Acquisition, where: str, path: Path) -> None: ...

    def check_velocity_fits(self, ds: Any, acq: Acquisition, where: str, path: Path) -> None: ...


@dataclass
class StageContext:
    """What a stage needs: the workflow, its run directory and the results of earlier stages."""

    workflow: WorkflowView
    run: RunDir
    outputs: dict[str, Any] = field(default_factory=dict)  # stage name -> its StageResult

    @property
    def run_dir(self) -> Path:
        return self.run.root

    def resolve_store(self, yaml_path: str, source: str | list[str]) -> Path:
        """The store a data source stands for: the ingested copy, or the store itself."""
        ingested = self.outputs["ingest"].stores if "ingest" in self.outputs else {}
        if yaml_path in ingested:
            return Path(ingested[yaml_path])
        assert isinstance(source, str)
        return Path(source)


def is_geogen_store(path: Path) -> bool:
    return is_store(path) or (path.is_file() and path.suffix in (".nc", ".nc4", ".netcdf"))


# ---------------------------------------------------------------------------- data
def synthesise(ctx: StageContext) -> SynthResult:
    """Velocity maps and Devito-modelled pairs (geogen.physics.synth.synth)."""
    from geogen.physics.synth import synth

    cfg = ctx.workflow.config.data.synth
    assert cfg is not None
    acq = ctx.workflow.acquisition
    log.info("synthesising %d velocity maps and %d Devito pairs (%s)", cfg.n_velocity, cfg.n_paired, cfg.family)
    result = synth(
        ctx.run.synth, family=cfg.family, n_velocity=cfg.n_velocity, n_paired=cfg.n_paired,
        acquisition=acq, seed=cfg.seed, workers=cfg.workers,
    )
    return SynthResult(velocity_store=str(result.velocity_store), pairs_store=str(result.pairs_store))


def ingest_sources(ctx: StageContext) -> IngestResult:
    """Every listed file that is not already a store becomes one (geogen.io.ingest)."""
    from geogen.io import ingest

    stores: dict[str, str] = {}
    for yaml_path, paths, kind, options in ctx.workflow.files_to_ingest():
        target = ctx.run.ingested(yaml_path)
        log.info("ingesting %s -> %s", ", ".join(str(p) for p in paths), target)
        try:
            ingest(paths, target, kind=kind, **options)
        except InputError as exc:
            raise InputError(f"{yaml_path}: {exc}", path=ctx.workflow.source) from exc
        stores[yaml_path] = str(target)
    return IngestResult(stores=stores)


def cut_field_windows(ctx: StageContext) -> WindowsResult:
    """Windows along the recorded line become pairs (geogen.data.windows.cut_windows)."""
    from geogen.data.windows import cut_windows

    wf = ctx.workflow
    cfg = wf.config.data.field
    assert cfg is not None and wf.acquisition is not None
    survey = open_store(ctx.resolve_store("data.field.survey", cfg.survey), kind="survey")
    section = open_store(ctx.resolve_store("data.field.velocity", cfg.velocity), kind="velocity")
    try:
        pairs, report = cut_windows(survey, section, wf.acquisition, stride_m=cfg.stride_m,
                                    min_live_fraction=cfg.min_live_fraction)
    except InputError as exc:  # e.g. a window wider than the line: say which part of the workflow
        raise InputError(f"data.field: {exc.detail}", path=wf.source) from None
    target = ctx.run.field_pairs
    report_dict = jsonable(report) if report is not None else {}
    if cfg.split == "blocks":
        pairs, report_dict["blocks"] = _split_in_blocks(pairs, wf)
    write_store(pairs, target, kind="pairs")
    atomic_write_json(ctx.run.windows_report, report_dict)
    log.info("windows along the line: %s", report)
    return WindowsResult(pairs_store=str(target), windows=report_dict)


def _split_in_blocks(pairs: Any, wf: WorkflowView) -> tuple[Any, dict[str, Any]]:
    """Mark each window train/validation/test/dropped by blocks along the line (geogen.training.splits.block_split)."""
    from geogen.training.splits import block_split

    cfg, splits, acq = wf.config.data.field, wf.config.data.splits, wf.acquisition
    assert cfg is not None and acq is not None
    width = (acq.nx - 1) * acq.dx
    x0 = np.asarray(pairs["window_x0"].values, dtype=np.float64)
    try:
        result = block_split(x0, width, splits.validation, splits.test, splits.seed, cfg.blocks)
    except InputError as exc:
        raise InputError(f"data.field: {exc.detail}", path=wf.source) from None
    pairs = pairs.assign_coords(split_part=("sample", np.array(result["part"], dtype=object), {
        "long_name": "split of the window: blocks along the line, overlapping training windows dropped"}))
    held = [(float(x), float(x) + width) for x, part in zip(x0, result["part"]) if part in ("validation", "test")]
    info = {"n_blocks": len(result["blocks"]), "window_width_m": width, "table": result["blocks"],
            "dropped": result["dropped"], "held_out_extents_m": held,
            "counts": {k: result["part"].count(k) for k in ("train", "validation", "test", "dropped")}}
    log.info("line split in %d blocks: %s", info["n_blocks"], info["counts"])
    return pairs, info


def maps_from_wells(ctx: StageContext) -> WellsResult:
    """Velocity maps from the well logs (geogen.physics.wells.maps_from_wells).

    With a line split in blocks, wells whose position lies inside a held-out window are
    left out, so that no training map carries the geology of the test ground.
    """
    from geogen.physics.wells import maps_from_wells as make_maps

    wf = ctx.workflow
    cfg = wf.config.data.wells
    assert cfg is not None
    acq = wf.acquisition or _paired_acquisition(ctx)
    store = ctx.resolve_store("data.wells.logs", cfg.logs)
    wells = open_store(store, kind="wells")
    excluded: list[str] = []
    held = ctx.outputs["windows"].held_out_extents_m if "windows" in ctx.outputs else []
    if held and "position_x" in wells.variables:
        pos = np.asarray(wells["position_x"].values, dtype=np.float64)  # the section's x frame, like window_x0
        inside = np.array([np.isfinite(p) and any(a <= p <= b for a, b in held) for p in pos])
        excluded = [str(n) for n in np.asarray(wells["name"].values)[inside]]
        if inside.all():
            raise InputError(f"data.wells: every well ({', '.join(excluded)}) lies inside a held-out window of the "
                             "line; no well is left to make training maps from", path=wf.source)
        if inside.any():
            wells = wells.isel(well=np.flatnonzero(~inside))
            log.info("wells inside held-out windows left out of the maps: %s", ", ".join(excluded))
    try:
        maps = make_maps(wells, cfg.n_velocity, acq, seed=cfg.seed, families=cfg.families)
    except InputError as exc:
        raise InputError(f"data.wells: {exc.detail}", path=wf.source) from None
    target = ctx.run.well_maps
    write_store(maps, target, kind="velocity", chunks={"velocity": {"model": 64}})
    log.info("%d velocity maps from the wells (%s)", cfg.n_velocity, maps.attrs["windows_per_well"])
    return WellsResult(velocity_store=str(target), n=cfg.n_velocity, windows_per_well=maps.attrs["windows_per_well"],
                       excluded_wells=excluded, top=maps.attrs["top"])


def _paired_acquisition(ctx: StageContext) -> Acquisition:
    """The acquisition of the first paired source (when the workflow names no preset)."""
    for i, src in enumerate(ctx.workflow.config.data.paired):
        return Acquisition.from_attrs(open_store(ctx.resolve_store(f"data.paired[{i}]", src), kind="pairs").attrs)
    raise InputError("acquisition.preset: required to make maps from wells without a paired store",
                     path=ctx.workflow.source)


def assemble(ctx: StageContext) -> AssembleResult:
    """One velocity store and one pairs store for training, checked against the acquisition."""
    import xarray as xr

    wf = ctx.workflow
    velocity: list[tuple[str, Path]] = []
    pairs: list[tuple[str, Path]] = []
    if "synth" in ctx.outputs:
        velocity.append(("data.synth", Path(ctx.outputs["synth"].velocity_store)))
        pairs.append(("data.synth", Path(ctx.outputs["synth"].pairs_store)))
    for i, src in enumerate(wf.config.data.velocity):
        velocity.append((f"data.velocity[{i}]", ctx.resolve_store(f"data.velocity[{i}]", src)))
    if "wells" in ctx.outputs:
        velocity.append(("data.wells", Path(ctx.outputs["wells"].velocity_store)))
    for i, src in enumerate(wf.config.data.paired):
        pairs.append((f"data.paired[{i}]", ctx.resolve_store(f"data.paired[{i}]", src)))
    if "windows" in ctx.outputs:
        pairs.append(("data.field", Path(ctx.outputs["windows"].pairs_store)))

    pair_sets = [(where, p, open_store(p, kind="pairs")) for where, p in pairs]
    acq = wf.acquisition
    for where, p, ds in pair_sets:
        found = Acquisition.from_attrs(ds.attrs)
        if acq is None:
            acq = found
        wf.check_acquisition_fits(found, where, p)
    assert acq is not None
    vel_sets = [(where, p, open_store(p, kind="velocity")) for where, p in velocity]
    for where, p, ds in vel_sets:
        wf.check_velocity_fits(ds, acq, where, p)
    as_maps = [(where, p, ds[["velocity"]].rename(sample="model").assign_attrs(geogen_kind="velocity"))
               for where, p, ds in pair_sets]
    if not vel_sets:  # only pairs given: their velocity maps are the velocity set
        vel_sets = as_maps
    else:  # the line's own velocity patches belong to the (target-domain) velocity set too
        vel_sets += [entry for entry in as_maps if entry[0] == "data.field"]

    velocity_store = _one_store([ds for *_, ds in vel_sets], [p for _, p, _ in vel_sets],
                                ctx.run.velocity_store, "velocity", "model", xr)
    pairs_store = _one_store([ds for *_, ds in pair_sets], [p for _, p, _ in pair_sets],
                             ctx.run.pairs_store, "pairs", "sample", xr)
    n_vel = int(sum(ds.sizes["model"] for *_, ds in vel_sets))
    n_pairs = int(sum(ds.sizes["sample"] for *_, ds in pair_sets))
    log.info("training data: %d velocity maps, %d pairs", n_vel, n_pairs)
    return AssembleResult(velocity_store=str(velocity_store), pairs_store=str(pairs_store), n_velocity=n_vel,
                          n_pairs=n_pairs, acquisition=acq.to_json())


def _one_store(sets: list[Any], paths: list[Path], target: Path, kind: str, dim: str, xr: Any) -> Path:
    """Use a single source store as it is; concatenate several (lazily) into ``target``."""
    if len(sets) == 1 and sets[0].attrs.get("geogen_kind") == kind and paths[0].is_dir():
        return paths[0]
    keep = ["velocity"] if kind == "velocity" else ["velocity", "seismic"]
    # per-sample coordinates (e.g. window_x0) differ between sources: drop them with the index,
    # except a line's block split (split_part), which the training splits must keep
    fixed = kind == "pairs" and any("split_part" in ds.variables for ds in sets)
    parts = [ds[keep].drop_vars([c for c in ds[keep].coords if dim in ds[c].dims]) for ds in sets]
    if fixed:
        parts = [p.assign_coords(split_part=(dim, np.asarray(ds["split_part"].values, dtype=object)
                                             if "split_part" in ds.variables else np.full(ds.sizes[dim], "", object)))
                 for p, ds in zip(parts, sets)]
    merged = xr.concat(parts, dim=dim, combine_attrs="override", coords="minimal", compat="override")
    merged = merged.assign_coords({dim: np.arange(merged.sizes[dim], dtype=np.int64)})
    # uniform chunks, as Zarr needs: maps are small (64 per chunk), records large (16)
    sizes = {"velocity": 64, "seismic": 16}
    merged = merged.chunk({dim: sizes["seismic" if kind == "pairs" else "velocity"]})
    for var in merged.variables.values():
        var.encoding = {}
    write_store(merged, target, kind=kind, chunks={k: {dim: n} for k, n in sizes.items() if k in merged})
    return target


# ------------------------------------------------------------------------ training
def train_model(ctx: StageContext) -> TrainResult:
    """All three UB-Diff steps (geogen.training.train); resumes on its own."""
    from geogen.training import train

    cfg = ctx.workflow.config
    data = ctx.outputs["assemble"]
    log.info("training (step1, step2, diffusion) into %s", ctx.run_dir)
    train(data.velocity_store, data.pairs_store, ctx.run_dir,
          model=cfg.model, training=cfg.training, splits=cfg.data.splits)
    return TrainResult(checkpoints=[ctx.run.relative(p) for p in ctx.run.checkpoint_files()])


def generate_pairs(ctx: StageContext) -> GenerateResult:
    """New pairs from the trained model (geogen.generation.generate)."""
    from geogen.generation import generate

    g = ctx.workflow.config.generation
    target = ctx.run.generated
    log.info("generating %d pairs (%s, %d steps)", g.n, g.sampler, g.steps)
    generate(ctx.run_dir, g.n, target, g)
    return GenerateResult(store=str(target), n=g.n)


def validate_pairs(ctx: StageContext) -> ValidateResult:
    """Model each generated map with Devito and compare (geogen.evaluation.physics_check.validate)."""
    from geogen.evaluation.physics_check import validate

    v = ctx.workflow.config.validation
    store = Path(ctx.outputs["generate"].store)
    filtered = ctx.run.filtered if v.filter is not None else None
    log.info("validating %s against Devito", store)
    floor_run: Path | None = ctx.run_dir
    if ctx.run.splits.exists() and not ctx.run.read_splits().get("pairs", {}).get("test"):
        log.info("no held-out test pairs (data.splits.test): no autoencoder floor to compare with")
        floor_run = None
    summary = jsonable(validate(store, v, run_dir=floor_run, filter_out=filtered, write=True))
    if floor_run is None:  # validate() writes the report only when given the run
        atomic_write_json(ctx.run.validation, summary)
    summary.get("floor", {}).pop("per_sample", None)  # full lists stay in the report
    return ValidateResult(summary=summary, report=ctx.run.relative(ctx.run.validation),
                          filtered_store=None if filtered is None else str(filtered))


def export_pairs(ctx: StageContext) -> ExportResult:
    """Write the generated (or filtered) pairs in each requested format (geogen.io.export)."""
    from geogen.io import export

    e = ctx.workflow.config.export
    store = ctx.run.pairs(e.source)
    ds = open_store(store, kind="pairs")
    x0 = line_origin(ctx) if e.x_origin_m is None else e.x_origin_m
    if x0:
        ds = ds.assign_coords({name: ds[name] + x0 for name in ("x", "source_x", "receiver_x")})
        ds = ds.assign_attrs(x_origin_m=x0)
    written = {}
    for fmt in e.formats:
        target = ctx.run.export(f"{e.source}{EXPORT_SUFFIX[fmt]}")
        log.info("exporting %s as %s -> %s", store.name, fmt, target)
        written[fmt] = str(export(ds, target, format=fmt, **ctx.workflow.export_options()))
    return ExportResult(files=written, x_origin_m=x0)


def evaluate_pairs(ctx: StageContext) -> EvaluateResult:
    """InversionNet arms (a), (b), (b0), (p), (c) (geogen.evaluation.downstream.evaluate)."""
    from geogen.evaluation.config import EvaluationConfig
    from geogen.evaluation.downstream import evaluate_run

    e = ctx.workflow.config.evaluation
    config = EvaluationConfig.model_validate(e.model_dump(exclude={"enabled"}))
    if config.device == "auto":
        config = config.model_copy(update={"device": ctx.workflow.config.training.device})
    log.info("evaluating: InversionNet arms %s (%d steps, %d seed(s))", ",".join(config.arms), e.steps, e.seeds)
    try:
        summary = evaluate_run(ctx.run_dir, config, generated=ctx.outputs["generate"].store, write=True)
    except InputError as exc:
        if exc.setting is not None:
            raise  # the runner names the setting's YAML path
        raise InputError(f"evaluation: {exc}", path=ctx.workflow.source) from None
    inv = summary.inversionnet
    dist = summary.distribution
    if dist:
        keys = ("frechet_generated_vs_real", "frechet_real_heldout_vs_real", "precision", "recall")
        dist = {m: {k: dist[m].get(k) for k in keys}
                for m in ("velocity", "seismic") if "skipped" not in dist.get(m, {"skipped": 1})}
    return EvaluateResult(
        report=ctx.run.relative(ctx.run.evaluation_json), markdown=ctx.run.relative(ctx.run.evaluation_report),
        test_pairs=summary.test["n"], selection=inv["selection"], seeds=inv["settings"]["seeds"], steps=e.steps,
        arms={key: arm.without_seeds() for key, arm in summary.arms.items()}, comparisons=summary.comparisons,
        distribution=jsonable(dist) or None,
    )


def line_origin(ctx: StageContext) -> float:
    """Start of the recorded line (its velocity section's first x) for field workflows, else 0."""
    if ctx.workflow.config.data.field is None:
        return 0.0
    section = open_store(ctx.resolve_store("data.field.velocity", ctx.workflow.config.data.field.velocity))
    return float(section["x"].values[0])


# -------------------------------------------------------------------------- report
def make_plots(ctx: StageContext) -> tuple[list[str], list[str]]:
    """Training curves, the physics-check histogram and a sheet of generated pairs vs Devito.

    Returns (plots made, plots that failed with why): a figure that cannot be drawn is
    reported in the summary, not allowed to fail a run whose stages all finished.
    """
    from geogen.evaluation import plots

    run = ctx.run
    jobs: list[tuple[str, Callable[[], Path | None]]] = []
    if run.metrics.exists():
        jobs.append(("training curves", lambda: plots.training_curves(run.metrics, run.training_curves_plot)))
    if "validate" in ctx.outputs and run.generated.exists():
        def histogram() -> Path:
            if run.validation.exists():
                full = json.loads(run.validation.read_text())
            else:
                full = ctx.outputs["validate"].summary
            return plots.physics_histogram(full, run.physics_histogram_plot, store=open_store(run.generated))

        jobs.append(("physics histogram", histogram))
        jobs.append(("generated pairs sheet", lambda: _pairs_sheet(ctx, open_store(run.generated), plots)))
    made, failed = [], []
    for name, job in jobs:
        try:
            path = job()
        except Exception as exc:  # noqa: BLE001 - a figure must not fail a finished run
            log.warning("plot %s failed: %s: %s", name, exc.__class__.__name__, exc)
            failed.append(f"{name}: {exc.__class__.__name__}: {exc}")
            continue
        if path is not None:
            made.append(run.relative(path))
    return made, failed


def _pairs_sheet(ctx: StageContext, store: Any, plots: Any, n: int = 3) -> Path:
    """The first generated pairs beside Devito's record of their velocity maps."""
    from geogen.data.datasets import acquisition_of
    from geogen.physics import forward

    acq = acquisition_of(store)
    k = min(n, store.sizes["sample"])
    velocity = np.asarray(store["velocity"].isel(sample=slice(0, k)).values, dtype=np.float32)
    seismic = np.asarray(
        store["seismic"].isel(sample=slice(0, k)).transpose("sample", "source", "time", "receiver").values
    )
    modelled = forward(velocity, acq)
    return plots.pairs_sheet(velocity, seismic, modelled, acq, ctx.run.pairs_sheet_plot)


def _last_metrics(run: RunDir) -> dict[str, dict[str, Any]]:
    """The last metrics row of each training step."""
    return {str(row.get("stage") or "training"): row for row in run.read_metrics()}


def report(ctx: StageContext, timings: dict[str, float], wall_s: float) -> ReportResult:
    """summary.json and a readable summary.md: data, training, generation, physics check, files."""
    wf = ctx.workflow
    plots, plot_failures = make_plots(ctx)
    data = ctx.outputs["assemble"].model_dump() if "assemble" in ctx.outputs else {}
    summary: dict[str, Any] = {
        "workflow": wf.name,
        "source": None if wf.source is None else str(wf.source),
        "config_sha256": wf.config_hash,
        "run_dir": str(ctx.run_dir),
        "data": {k: data.get(k) for k in ("n_velocity", "n_pairs", "velocity_store", "pairs_store")},
        "training": _last_metrics(ctx.run),
        "stage_seconds": timings,
        "this_invocation_wall_s": round(wall_s, 2),
    }
    if "windows" in ctx.outputs:
        summary["field_windows"] = ctx.outputs["windows"].windows
    if "wells" in ctx.outputs:
        summary["wells"] = ctx.outputs["wells"].to_json()
    if "generate" in ctx.outputs:
        summary["generation"] = {**wf.config.generation.model_dump(), "store": ctx.outputs["generate"].store}
    if "validate" in ctx.outputs:
        summary["validation"] = ctx.outputs["validate"].summary
    if "export" in ctx.outputs:
        summary["export"] = ctx.outputs["export"].files
    if "evaluate" in ctx.outputs:
        summary["evaluation"] = ctx.outputs["evaluate"].to_json()
    summary["plots"] = plots
    if plot_failures:
        summary["plot_failures"] = plot_failures
    atomic_write_json(ctx.run.summary_json, summary)
    atomic_write(ctx.run.summary_md, _markdown(summary))
    return ReportResult(summary=ctx.run.relative(ctx.run.summary_md))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def _evaluation_lines(ev: dict[str, Any]) -> list[str]:
    """The arms table of the evaluate stage (mean ± std over seeds), with a link to the full report."""
    head = [f"Tested on {ev['test_pairs']} held-out real pairs; {ev['steps']} steps, weights scored: "
            f"{ev['selection']}; seeds {ev['seeds']}.", ""]
    folder = Path(ev["markdown"]).parent
    return head + inversionnet_table(*arms_and_comparisons(ev)) + [
        "", f"Full report: `{ev['markdown']}` (figures in `{folder}/`)."]


def _block_lines(b: dict[str, Any]) -> list[str]:
    """summary.md lines of a line split in blocks: the blocks and the windows dropped at their edges."""
    c = b["counts"]
    lines = [f"- split in {b['n_blocks']} blocks along the line (by window centre; windows {b['window_width_m']:g} m "
             f"wide): {c['train']} train, {c['validation']} validation, {c['test']} test windows; {c['dropped']} "
             "dropped at block edges (they overlap a held-out window)"]
    for row in b["table"]:
        lines.append(f"  - block {row['block']}: centres {row['centres_from_m']:g}-{row['centres_to_m']:g} m, "
                     f"{row['part']}, {row['windows']} windows ({row['kept']} kept)")
    for d in b["dropped"]:
        lines.append(
            f"  - dropped window at x = {d['x0']:g} m ({d['was']} in block {d['block']}, overlaps {d['overlaps']})"
        )
    return lines


def _markdown(s: dict[str, Any]) -> str:
    lines = [f"# geogen run: {s['workflow']}", "",
             f"- workflow file: `{s['source']}`", f"- config sha256: `{s['config_sha256'][:16]}`",
             f"- run directory: `{s['run_dir']}`", ""]
    d = s["data"]
    lines += ["## Data", "", f"- velocity maps: {d.get('n_velocity')} (`{d.get('velocity_store')}`)",
              f"- pairs: {d.get('n_pairs')} (`{d.get('pairs_store')}`)"]
    if "field_windows" in s:
        w = s["field_windows"]
        lines.append(f"- field windows along the line: {w.get('n_windows')}; kept {w.get('n_kept')}, skipped "
                     f"{w.get('n_skipped_dead')} with too few live traces and {w.get('n_skipped_no_shot')} without "
                     "a recorded shot near every source")
        for x0, why in w.get("skipped", [])[:20]:
            lines.append(f"  - skipped window at x = {x0:g} m: {why}")
        if "blocks" in w:
            lines += _block_lines(w["blocks"])
    if "wells" in s:
        wl = s["wells"]
        lines.append(f"- maps from wells: {wl['n']} (windows per well: {wl['windows_per_well']}); {wl['top']}")
        if wl.get("excluded_wells"):
            lines.append(f"  - wells inside held-out windows, not used: {', '.join(wl['excluded_wells'])}")
    lines += ["", "## Training (last logged values)", ""]
    for stage, row in s["training"].items():
        lines.append(f"- {stage}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k != "stage"))
    if "generation" in s:
        g = s["generation"]
        lines += [
            "",
            "## Generation",
            "",
            f"- {g['n']} pairs, {g['sampler']} sampler, {g['steps']} steps, seed {g['seed']} (`{g['store']}`)",
        ]
    if "validation" in s:
        lines += ["", "## Physics check (Devito)", ""] + validation_table(s["validation"])
        lines += ["", "Per-pair figures are variables of the generated store: "
                  "`physics_rel_l2`, `scattered_rel_l2`, `physics_ssim`, `first_arrival_error_s`."]
    if "export" in s:
        lines += ["", "## Exported", ""] + [f"- {fmt}: `{path}`" for fmt, path in s["export"].items()]
    if "evaluation" in s:
        lines += ["", "## Downstream payoff (InversionNet)", ""] + _evaluation_lines(s["evaluation"])
    if s["plots"] or s.get("plot_failures"):
        lines += ["", "## Plots", ""] + [f"- `{p}`" for p in s["plots"]]
        lines += [f"- could not draw {why}" for why in s.get("plot_failures", [])]
    lines += ["", "## Time per stage (s, as last run)", ""]
    lines += [f"- {k}: {v:.1f}" for k, v in s["stage_seconds"].items()]
    lines.append(f"- all stages: {sum(s['stage_seconds'].values()):.1f}")
    lines.append(f"- this invocation (skipped stages cost nothing): {s['this_invocation_wall_s']:.1f}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Stage:
    """One stage: its function, the hash group whose settings decide its output (stages of one group share the
    group's hash), and the YAML section whose settings its errors name."""

    run: Callable[[StageContext], StageResult]
    group: str
    section: str


#: The stages in the order they run (a workflow runs those it needs: Workflow.plan).
STAGES: dict[str, Stage] = {
    "synth": Stage(synthesise, "data", "data.synth"),
    "ingest": Stage(ingest_sources, "data", "data"),
    "windows": Stage(cut_field_windows, "data", "data.field"),
    "wells": Stage(maps_from_wells, "data", "data.wells"),
    "assemble": Stage(assemble, "data", "data"),
    "train": Stage(train_model, "train", "training"),
    "generate": Stage(generate_pairs, "generate", "generation"),
    "validate": Stage(validate_pairs, "validate", "validation"),
    "export": Stage(export_pairs, "export", "export"),
    "evaluate": Stage(evaluate_pairs, "evaluate", "evaluation"),
}
