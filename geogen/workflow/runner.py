"""Run a workflow file: check everything first, then each stage in order, resumably.

``Workflow.from_yaml(path, overrides=[...])`` reads and validates the file (pydantic,
one error line with the YAML path), resolves the acquisition, and checks every input
(files exist, stores are of the right kind, the acquisition fits the data, the run
directory is this workflow's or empty) before any stage runs.  ``.run()`` then walks
the stages; each writes a marker file (atomically, after its outputs) holding a hash
of the settings it depends on, so a rerun skips finished stages, resumes an
interrupted one, and redoes only the stages downstream of a changed setting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError

from geogen.acquisition import Acquisition
from geogen.data.store import open_store, require_kind
from geogen.errors import InputError, StoreKindError
from geogen.run.atomic import atomic_write, atomic_write_json
from geogen.run.rundir import RunDir, StageMarker
from geogen.schemas.workflow import WorkflowConfig
from geogen.workflow import stages as st
from geogen.workflow.errors import describe_validation_error
from geogen.workflow.results import result_of

log = logging.getLogger("geogen.workflow")

PathLike = str | os.PathLike[str]

#: Groups whose change means the run directory holds another workflow's run.
IDENTITY_GROUPS = ("data", "train")
#: Settings that change how fast a stage runs, not what it produces.
_NOT_HASHED = {"workers", "num_workers", "threads", "device", "run", "name"}
#: Settings added after runs were made, with the value those runs had: left out of the hash at that value,
#: so that a run directory made before a setting existed still matches its workflow.
_ADDED_LATER: dict[tuple[str, str], Any] = {("data", "wells"): None, ("training", "velocity_maps"): "all",
                                             ("validation", "scheduler"): None}


# ---------------------------------------------------------------------- loading
def load_yaml(path: Path) -> dict[str, Any]:
    """The workflow file as a dict (yaml.safe_load), or one InputError line."""
    if not path.exists():
        raise InputError("no such workflow file", path=path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}not valid YAML ({problem})", path=path) from None
    except UnicodeDecodeError:
        raise InputError("is not a text file; a workflow is YAML", path=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(
            f"a workflow is a mapping of sections (data, model, training, ...), not a {type(data).__name__}", path=path
        )
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> list[str]:
    """Apply ``key.path=value`` overrides in place (values parsed as YAML); return the key paths."""
    keys = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise InputError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set model.latent_dim=64")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise InputError(f"--set {item!r}: the value is not valid YAML") from None
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise InputError(f"--set {item!r}: {'.'.join(parts[:i])} has no item {part}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise InputError(f"--set {item!r}: {'.'.join(parts[:i])} is a value, not a section")
        keys.append(key)
    return keys


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _strip(obj: Any) -> Any:
    """A config dump without the settings that only change speed or location."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in _NOT_HASHED}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


# --------------------------------------------------------------------- workflow
class Workflow:
    """A validated workflow, its resolved acquisition and its run directory."""

    def __init__(self, config: WorkflowConfig, *, source: Path | None = None, overridden: Sequence[str] = ()) -> None:
        self.config = config
        self.source = source
        self.overridden = list(overridden)
        self.name = config.name or (source.stem if source is not None else "workflow")
        self.run_dir = Path(config.run.dir) if config.run.dir else Path("runs") / self.name
        self.rundir = RunDir(self.run_dir)
        self.acquisition = self._resolve_acquisition()
        self._ingest: list[tuple[str, list[Path], str, dict[str, Any]]] = []
        self.stage_hashes = self._stage_hashes()

    # ------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: PathLike, overrides: Iterable[str] = ()) -> "Workflow":
        """Read, override (``key.path=value``) and validate a workflow file."""
        p = Path(path)
        return cls.from_dict(load_yaml(p), source=p, overrides=overrides)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, source: Path | None = None, overrides: Iterable[str] = ()
    ) -> "Workflow":
        """Validate a workflow given as a dict (what the YAML file holds)."""
        data = json.loads(json.dumps(data, default=str))  # a private copy, plain types only
        keys = apply_overrides(data, overrides)
        try:
            config = WorkflowConfig.model_validate(data)
        except ValidationError as exc:
            line = describe_validation_error(exc, WorkflowConfig)
            hit = [k for k in keys if line.startswith(k)]
            raise InputError(line + (f" (set by --set {hit[0]})" if hit else ""), path=source) from None
        return cls(config, source=source, overridden=keys)

    def error(self, message: str) -> InputError:
        """An InputError that names the workflow file."""
        return InputError(message, path=self.source)

    def setting_error(self, exc: InputError, section: str) -> InputError:
        """``exc``, raised about the setting ``exc.setting`` of the config object a stage passed on, as an error
        of the workflow file that names the setting's YAML path (``section.setting``)."""
        setting = str(exc.setting)
        full = f"{section}.{setting}"
        if exc.detail.startswith(setting):  # "device is 'cuda' but ..." -> "training.device is 'cuda' but ..."
            message = full + exc.detail[len(setting):]
            if exc.path:
                message = f"{message} ({exc.path})"
        else:
            message = f"{full}: {exc}"
        return InputError(message, path=self.source, setting=full)

    # ------------------------------------------------------------- acquisition
    def _resolve_acquisition(self) -> Acquisition | None:
        """Preset + overrides, or the first paired store's acquisition (+ overrides)."""
        a = self.config.acquisition
        overrides = {k: v for k, v in a.model_dump(exclude={"preset"}).items() if v is not None}
        base: dict[str, Any] | None = None
        if a.preset is not None:
            from geogen.acquisition import PRESETS

            base = dict(PRESETS[a.preset])
        elif all(name in overrides for name, f in Acquisition.model_fields.items() if f.is_required()):
            base = {}  # spelled out in full (as in a run's workflow.yaml snapshot)
        else:
            for i, src in enumerate(self.config.data.paired):
                if isinstance(src, str) and st.is_geogen_store(Path(src)):
                    ds = self._open(f"data.paired[{i}]", Path(src), "pairs")
                    base = Acquisition.from_attrs(ds.attrs).model_dump()
                    break
        if base is None:
            needs = "data.synth" if self.config.data.synth else "data.field" if self.config.data.field else None
            if needs:
                raise self.error(f"acquisition.preset: required with {needs} (the model's geometry); "
                                 "e.g. preset: small, with any field of the acquisition as an override")
            return None  # taken from the paired files once they are ingested
        try:
            acq = Acquisition(**{**base, **overrides})
        except ValidationError as exc:
            raise self.error(describe_validation_error(exc, Acquisition, prefix=("acquisition",))) from None
        try:
            acq.check_stable()
        except InputError as exc:
            raise self.error(f"acquisition.dt: {exc.detail}") from None
        return acq

    def check_acquisition_fits(self, found: Acquisition, where: str, path: Path) -> None:
        """The paired data must have been recorded with the workflow's acquisition."""
        acq = self.acquisition
        if acq is None:
            self.acquisition = found
            return
        mine, theirs = acq.model_dump(), found.model_dump()
        diff = [k for k in mine if not _same(mine[k], theirs[k])]
        if diff:
            k = diff[0]
            raise self.error(
                f"{where}: {path} holds pairs with {k} = {_short(theirs[k])}, the workflow's acquisition has "
                f"{k} = {_short(mine[k])} (differs in {', '.join(diff)}); make acquisition.{k} match the data, "
                "or leave out acquisition to take it from the paired store")

    def check_velocity_fits(self, ds: Any, acq: Acquisition, where: str, path: Path) -> None:
        """Velocity maps must be on the acquisition's grid (size and spacing)."""
        nz, nx = int(ds.sizes.get("z", 0)), int(ds.sizes.get("x", 0))
        spacing = [float(np.diff(ds[c].values[:2])[0]) if ds.sizes.get(c, 0) > 1 else 0.0 for c in ("z", "x")]
        if (nz, nx) != acq.shape or not np.allclose(spacing, (acq.dz, acq.dx), rtol=1e-4):
            raise self.error(
                f"{where}: {path} holds {nz} x {nx} maps at {spacing[0]:g} x {spacing[1]:g} m, the acquisition needs "
                f"{acq.nz} x {acq.nx} at {acq.dz:g} x {acq.dx:g} m; set acquisition.nz/nx/dz/dx to match "
                "or resample the maps")

    def check_section_fits(self, section: Any, acq: Acquisition, path: Path) -> None:
        """The line's velocity section must hold at least one window of the acquisition."""
        x, z = np.asarray(section["x"].values), np.asarray(section["z"].values)
        width, depth = (acq.nx - 1) * acq.dx, (acq.nz - 1) * acq.dz
        length, reach = float(x[-1] - x[0]) if x.size else 0.0, float(z[-1] - z[0]) if z.size else 0.0
        if length < width * (1 - 1e-6) or reach < depth * (1 - 1e-6):
            raise self.error(
                f"data.field.velocity: {path} spans {length:g} m along the line and {reach:g} m in depth, one window "
                f"of the acquisition needs {width:g} m x {depth:g} m; use a smaller acquisition (acquisition.nx/nz) "
                "or a longer section")

    # ------------------------------------------------------------------ checks
    def _open(self, where: str, path: Path, kind: str | tuple[str, ...]) -> Any:
        try:
            ds = open_store(path)
            require_kind(ds, kind, path=path)
        except StoreKindError as exc:
            raise self.error(f"{where}: {path} {exc.detail}") from None
        except InputError as exc:
            raise self.error(f"{where}: {exc}") from None
        return ds

    def _check_source(self, where: str, source: str | list[str], kind: str | tuple[str, ...], ingest_kind: str,
                      options: dict[str, Any] | None = None) -> Any:
        """A store is opened and its kind and geometry checked; a file must be one geogen reads."""
        from geogen.adapters.base import adapter_for

        paths = [Path(source)] if isinstance(source, str) else [Path(p) for p in source]
        for p in paths:
            if not p.exists():
                raise self.error(f"{where}: {p}: no such file or directory")
        if len(paths) == 1 and st.is_geogen_store(paths[0]):
            return self._open(where, paths[0], kind)
        for p in paths:
            try:
                adapter_for(p)
            except InputError as exc:
                raise self.error(f"{where}: {exc}") from None
        self._ingest.append((where, paths, ingest_kind, dict(options or {})))
        return None

    def _check_wells(self) -> None:
        """data.wells: a wells store, or LAS files (a folder of them, one, or a list) to ingest."""
        w = self.config.data.wells
        assert w is not None
        source: str | list[str] = w.logs
        if isinstance(source, str) and Path(source).is_dir() and not st.is_geogen_store(Path(source)):
            found = sorted(str(p) for p in Path(source).iterdir() if p.suffix.lower() == ".las")
            if not found:
                raise self.error(f"data.wells.logs: {source} holds no .las file")
            source = found
        options: dict[str, Any] = {"curve": w.curve} if w.curve else {}
        if isinstance(w.positions, str):
            if not Path(w.positions).is_file():
                raise self.error(f"data.wells.positions: {w.positions}: no such file")
            options["positions_file"] = w.positions
        elif w.positions:
            options["positions"] = dict(w.positions)
        ds = self._check_source("data.wells.logs", source, "wells", "wells", options)
        if ds is not None and options:
            raise self.error("data.wells: positions and curve apply to LAS files; a wells store already has them "
                             "(ingest the files again with --position/--curve)")

    def check(self, *, force: bool = False) -> None:
        """Everything that can be checked before a stage runs; raises one InputError."""
        self._ingest = []
        d = self.config.data
        for i, src in enumerate(d.paired):
            ds = self._check_source(f"data.paired[{i}]", src, "pairs", "pairs")
            if ds is not None:
                self.check_acquisition_fits(Acquisition.from_attrs(ds.attrs), f"data.paired[{i}]", Path(src))  # type: ignore[arg-type]
        for i, src in enumerate(d.velocity):
            ds = self._check_source(f"data.velocity[{i}]", src, ("velocity", "pairs"), "velocity")
            if ds is not None and self.acquisition is not None:
                self.check_velocity_fits(ds, self.acquisition, f"data.velocity[{i}]", Path(src))  # type: ignore[arg-type]
        if d.wells is not None:
            self._check_wells()
        if d.field is not None:
            self._check_source("data.field.survey", d.field.survey, "survey", "survey")
            section = self._check_source("data.field.velocity", d.field.velocity, "velocity", "velocity")
            if section is not None and self.acquisition is not None:
                self.check_section_fits(section, self.acquisition, Path(d.field.velocity))
        if self.config.export.formats:
            from geogen.adapters.base import exporter_for

            for i, fmt in enumerate(self.config.export.formats):
                try:
                    exporter_for(fmt)
                except InputError as exc:
                    raise self.error(f"export.formats[{i}]: {exc.detail}") from None
        self.stage_hashes = self._stage_hashes()
        self._check_run_dir(force)

    def files_to_ingest(self) -> list[tuple[str, list[Path], str, dict[str, Any]]]:
        """(YAML path, files, kind, adapter options) of every source that must be ingested first."""
        return list(self._ingest)

    def export_options(self) -> dict[str, Any]:
        """Extra options for the exporters (none yet)."""
        return {}

    # ------------------------------------------------------------------ hashes
    def _stage_hashes(self) -> dict[str, str]:
        dump = self.config.model_dump(mode="json")
        for (section, key), value in _ADDED_LATER.items():
            if dump[section].get(key, value) == value:
                dump[section].pop(key, None)
        data = _strip(dump["data"])
        for key in ("velocity", "paired"):
            data[key] = [_absolute(s) for s in data[key]]
        if data.get("field"):
            data["field"]["survey"] = _absolute(data["field"]["survey"])
            data["field"]["velocity"] = _absolute(data["field"]["velocity"])
        if data.get("wells"):
            data["wells"]["logs"] = _absolute(data["wells"]["logs"])
            if isinstance(data["wells"]["positions"], str):
                data["wells"]["positions"] = _absolute(data["wells"]["positions"])
        acq = self.acquisition.model_dump() if self.acquisition is not None else dump["acquisition"]
        h = {"data": _hash({"data": data, "acquisition": acq})}
        h["train"] = _hash([h["data"], _strip(dump["model"]), _strip(dump["training"])])
        h["generate"] = _hash([h["train"], dump["generation"]])
        h["validate"] = _hash([h["generate"], _strip(dump["validation"])])
        h["export"] = _hash([h["validate"], dump["export"]])
        # evaluation reads the generated pairs and the physics report, not the exported files
        h["evaluate"] = _hash([h["validate"], _strip(dump["evaluation"])])
        return h

    @property
    def config_hash(self) -> str:
        """Hash of everything that decides what the run produces (evaluation only when enabled)."""
        if self.config.evaluation.enabled:
            return _hash([self.stage_hashes["export"], self.stage_hashes["evaluate"]])
        return self.stage_hashes["export"]

    # ----------------------------------------------------------------- run dir
    def _check_run_dir(self, force: bool) -> None:
        d = self.run_dir
        if d.exists() and not d.is_dir():
            raise InputError("run.dir is a file; choose a directory (--set run.dir=runs/NEW)", path=d)
        if not d.exists() or not any(d.iterdir()):
            return
        meta = self.rundir.workflow_json
        if not meta.exists():
            raise InputError("run.dir is not empty and holds no geogen run; choose another run.dir "
                             "(--set run.dir=runs/NEW)", path=d)
        try:
            old = json.loads(meta.read_text())
        except json.JSONDecodeError:
            raise InputError("workflow.json is damaged; choose another run.dir or pass --force", path=d) from None
        for group in IDENTITY_GROUPS:
            if old.get("stages", {}).get(group) != self.stage_hashes[group]:
                if force:
                    log.warning("--force: removing the previous run in %s", d)
                    shutil.rmtree(d)
                    return
                what = "data/acquisition" if group == "data" else "model/training"
                raise InputError(
                    f"holds the run of another workflow ('{old.get('name')}', "
                    f"config {str(old.get('config_sha256'))[:12]}) "
                    f"whose {what} settings differ; choose another run.dir (--set run.dir=runs/NEW) "
                    "or pass --force to replace that run",
                    path=d,
                )

    def snapshot(self) -> None:
        """The resolved config (YAML) and its hashes, written before any stage runs."""
        dump = self.config.model_dump(mode="json")
        dump["name"] = self.name
        dump["run"]["dir"] = str(self.run_dir)
        if self.acquisition is not None:
            dump["acquisition"] = {"preset": None, **self.acquisition.model_dump(mode="json")}
        header = f"# resolved by geogen from {self.source}; config sha256 {self.config_hash}\n"
        atomic_write(self.rundir.workflow_yaml, header + yaml.safe_dump(dump, sort_keys=False))
        atomic_write_json(self.rundir.workflow_json, {
            "name": self.name, "source": None if self.source is None else str(self.source),
            "config_sha256": self.config_hash, "stages": self.stage_hashes,
        })

    # --------------------------------------------------------------------- run
    def plan(self) -> list[str]:
        """The stages this workflow needs, in order."""
        d = self.config.data
        names = []
        if d.synth is not None:
            names.append("synth")
        if self._ingest:
            names.append("ingest")
        if d.field is not None:
            names.append("windows")
        if d.wells is not None:
            names.append("wells")
        names += ["assemble", "train", "generate"]
        if self.config.validation.enabled:
            names.append("validate")
        if self.config.export.formats:
            names.append("export")
        if self.config.evaluation.enabled:  # last: the long optional stage never holds up the exported pairs
            names.append("evaluate")
        return names

    def run(self, *, force: bool = False, until: str | None = None) -> Path:
        """Check everything, then run (or skip) each stage; return the run directory.

        ``until`` stops after the named stage (e.g. ``assemble`` to prepare the data only).
        """
        start = time.perf_counter()
        self.check(force=force)
        plan = self.plan()
        if until is not None:
            if until not in plan:
                raise InputError(f"--until {until!r}: this workflow's stages are {', '.join(plan)}")
            plan = plan[: plan.index(until) + 1]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.snapshot()
        ctx = st.StageContext(self, self.rundir)
        timings: dict[str, float] = {}
        for name in plan:
            stage = st.STAGES[name]
            stage_hash = self.stage_hashes[stage.group]
            record = self.rundir.read_marker(name)
            if record is not None and record.hash == stage_hash:
                log.info("stage %s: done already, skipped", name)
                ctx.outputs[name] = result_of(name, record.outputs)
                timings[name] = record.seconds
            else:
                if record is not None:
                    log.info("stage %s: settings changed, running it again", name)
                self.rundir.clear_marker(name)
                log.info("stage %s: running", name)
                t0 = time.perf_counter()
                try:
                    result = stage.run(ctx)
                except InputError as exc:
                    if exc.setting is None:
                        raise
                    raise self.setting_error(exc, stage.section) from None
                timings[name] = round(time.perf_counter() - t0, 2)
                self.rundir.write_marker(StageMarker(stage=name, hash=stage_hash, seconds=timings[name],
                                                  outputs=result.to_json()))
                ctx.outputs[name] = result
                log.info("stage %s: done in %.1f s", name, timings[name])
            if name == "assemble" and self.acquisition is None:
                self.acquisition = Acquisition.from_json(ctx.outputs["assemble"].acquisition)
        st.report(ctx, timings, time.perf_counter() - start)
        log.info("summary: %s", self.rundir.summary_md)
        return self.run_dir


def _absolute(source: str | list[str]) -> str | list[str]:
    if isinstance(source, str):
        return os.path.abspath(source)
    return [os.path.abspath(s) for s in source]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=1e-9))
    return a == b


def _short(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"[{value[0]:g}, {value[1]:g}, ..., {value[-1]:g}] ({len(value)} values)"
    return str(value)


def train(workflow_path: PathLike, overrides: Iterable[str] = (), *, force: bool = False,
          until: str | None = None) -> Path:
    """Run a workflow file (the Python form of ``geogen train``); return the run directory."""
    return Workflow.from_yaml(workflow_path, overrides=overrides).run(force=force, until=until)


__all__ = ["Workflow", "train", "apply_overrides", "load_yaml"]
