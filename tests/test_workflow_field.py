"""field_adapt.yaml end to end on synthetic recorded lines written as SEG-Y.

The first line is modelled with geogen's own physics (Devito) on a long velocity
section, shots every 20 m and a fixed spread of receivers every 10 m, in a line frame
that starts at x = 5000 m.  The far end of the spread was never recorded (missing
traces), so the windows over it must be skipped and counted.  The shot gathers and the
velocity section are written with segyio, as a contractor would deliver them.  The
second is a short demo line (``geogen.physics.line``, as ``geogen synth --line``
writes it) with LAS wells: windows split in blocks along the line, maps from the wells.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import geogen
from geogen.acquisition import Acquisition
from geogen.data.datasets import velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.physics.line import write_section_segy, write_shots_segy
from geogen.workflow.runner import Workflow

segyio = pytest.importorskip("segyio")
pytest.importorskip("geogen.adapters.segy")

ROOT = Path(__file__).resolve().parents[1]
X0 = 5000.0  # line frame: the section starts 5 km along the line
NZ, NX, D = 40, 100, 10.0
DEAD_FROM = 700.0  # receivers at local x >= this were not recorded


def line_acquisition() -> Acquisition:
    return Acquisition.preset(
        "small", nz=NZ, nx=NX, source_x=tuple(20.0 * i for i in range(NX // 2)),
        receiver_x=tuple(D * i for i in range(NX)))


def write_shots(path: Path, seismic: np.ndarray, acq: Acquisition) -> None:
    """Shot gathers as SEG-Y (geogen.physics.line's writer): the receivers past DEAD_FROM never recorded."""
    write_shots_segy(path, seismic, acq, x0=X0, y=0.0, first_ffid=101, live=np.asarray(acq.receiver_x) < DEAD_FROM)


def write_section(path: Path, velocity: np.ndarray) -> None:
    """The velocity section as SEG-Y: one trace per x (CDP x, scalar -100), samples along depth (mm)."""
    write_section_segy(path, velocity, D, x0=X0, y=0.0)


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    from geogen.physics import forward, generate_velocity

    d = tmp_path_factory.mktemp("line")
    acq = line_acquisition()
    section = generate_velocity("curvefault", 1, (NZ, NX), seed=7)[0]
    write_section(d / "velocity.sgy", section)
    write_shots(d / "shots.sgy", forward(section, acq)[0], acq)
    maps = generate_velocity("curve", 48, (32, 32), seed=1)
    write_store(velocity_dataset(maps, dz=D, dx=D), d / "maps.zarr")
    return d


def test_field_adapt_workflow_end_to_end(line, tmp_path):
    from test_workflow_run import TINY  # tests/ is on sys.path under pytest's default import mode

    wf = Workflow.from_yaml(ROOT / "workflows" / "field_adapt.yaml", overrides=[
        f"run.dir={tmp_path / 'run'}", f"data.field.survey={line / 'shots.sgy'}",
        f"data.field.velocity={line / 'velocity.sgy'}", f"data.velocity=[{line / 'maps.zarr'}]",
        "data.field.split=random",  # 5 windows on 990 m: too short to split in blocks
        "data.wells=null", "data.splits.validation=0.2", "data.splits.test=0.2", *TINY])
    run = wf.run()
    summary = json.loads((run / "summary.json").read_text())
    windows = summary["field_windows"]
    # 990 m of line, 310 m windows every 80 m: 9 windows; those reaching past 700 m (with
    # under 80 % live receivers) are skipped and counted
    assert windows["n_windows"] == 9
    # a window is kept when at least 80 % of its receivers lie before DEAD_FROM (shots cover every window)
    receivers = np.asarray(Acquisition.preset("small").receiver_x)
    live = [np.mean(x0 + receivers < DEAD_FROM) for x0 in np.arange(9) * 80.0]
    assert windows["n_kept"] == sum(f >= 0.8 for f in live) == 6
    assert windows["n_skipped_dead"] == 3 and windows["n_skipped_no_shot"] == 0
    assert "skipped window at x = 5480 m" in (run / "summary.md").read_text()
    field_pairs = open_store(run / "data" / "field_pairs.zarr", kind="pairs")
    assert field_pairs.attrs["origin"] == "recorded"
    assert field_pairs.sizes["sample"] == windows["n_kept"]
    assert float(field_pairs["window_x0"][0]) == pytest.approx(X0)
    assert summary["data"]["n_velocity"] == 48 + windows["n_kept"]  # the line's patches join the maps
    # generated pairs are in the window geometry (the small preset) ...
    generated = open_store(run / "generated.zarr", kind="pairs")
    assert generated["seismic"].shape[1:] == Acquisition.preset("small").seismic_shape
    validation = summary["validation"]
    assert validation["n_pairs"] == 3
    held_out = json.loads((run / "splits.json").read_text())["pairs"]["test"]
    assert validation["floor"]["n_pairs"] == len(held_out) >= 1  # the held-out windows through the autoencoder
    assert validation["median_physics_rel_l2_over_floor"] == pytest.approx(
        validation["physics_rel_l2"]["median"] / validation["floor"]["physics_rel_l2"]["median"])
    # ... and exported as SEG-Y in the line's frame
    files = sorted(Path(summary["export"]["segy"]).glob("seismic_*.sgy"))
    assert len(files) == 3
    with segyio.open(files[0], ignore_geometry=True) as f:
        scalar = int(f.header[0][segyio.TraceField.SourceGroupScalar])
        factor = 1.0 / abs(scalar) if scalar < 0 else float(scalar or 1)
        gx = f.attributes(segyio.TraceField.GroupX)[:] * factor
        sx = np.unique(f.attributes(segyio.TraceField.SourceX)[:] * factor)
    assert gx.min() == pytest.approx(X0) and gx.max() == pytest.approx(X0 + 310.0)
    np.testing.assert_allclose(sx, X0 + np.asarray(Acquisition.preset("small").source_x))


@pytest.mark.slow
def test_field_adapt_at_shipped_settings(line, tmp_path):
    """field_adapt.yaml as shipped (only the paths point at the synthetic line)."""
    run = Workflow.from_yaml(
        ROOT / "workflows" / "field_adapt.yaml",
        overrides=[
            f"run.dir={tmp_path / 'run'}",
            f"data.field.survey={line / 'shots.sgy'}",
            f"data.field.velocity={line / 'velocity.sgy'}",
            f"data.velocity=[{line / 'maps.zarr'}]",
            "data.field.split=random",
            "data.wells=null",
            "training.threads=1",
        ],
    ).run()  # torch's default of one thread per core thrashes on a shared CPU
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generation"]["n"] == 256
    assert summary["validation"]["n_pairs"] == 256


# ------------------------------------------------------------------- demo line with wells
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 2 km, 600 m deep demo line with three LAS wells (about 10 s of Devito)."""
    from geogen.physics.line import demo_line

    return demo_line(tmp_path_factory.mktemp("demo") / "line", length=2000.0, depth=600.0, n_maps=40, seed=0)


def test_demo_line_files(demo):
    from geogen.physics.line import EASTING0, WELLS

    assert demo.n_shots == 201
    with segyio.open(demo.shots, ignore_geometry=True) as f:
        assert f.tracecount == demo.n_traces
        offsets = f.attributes(segyio.TraceField.offset)[:]
        assert offsets.min() == -320 and offsets.max() == 320
        assert int(f.header[0][segyio.TraceField.SourceGroupScalar]) == -100
        assert f.samples.size == 500
    survey = geogen.ingest(demo.shots, demo.directory / "shots.zarr")
    assert survey.sizes["shot"] == 201 and float(survey["source_x"].min()) == pytest.approx(EASTING0)
    wells = geogen.ingest(list(demo.wells), demo.directory / "wells.zarr", positions_file=demo.positions)
    np.testing.assert_allclose(
        wells["position_x"].values, [EASTING0 + round(f * 2000.0 / 10) * 10 for _, f, *_ in WELLS]
    )
    assert [str(c) for c in wells["curve"].values] == ["DT", "DTCO", "DT"]
    assert (wells["n_null"].values > 0).all()  # logging gaps
    assert float(wells["depth"].values[np.isfinite(wells["velocity"].values[0])].min()) == pytest.approx(120.0, abs=0.2)


def test_field_workflow_with_wells_and_block_splits(demo, tmp_path):
    from test_workflow_run import TINY

    from geogen.physics.wells import HONOUR_TOLERANCE

    d = demo.directory
    run = Workflow.from_yaml(
        ROOT / "workflows" / "field_adapt.yaml",
        overrides=[
            f"run.dir={tmp_path / 'run'}",
            f"data.field.survey={d / 'shots.sgy'}",
            f"data.field.velocity={d / 'velocity.sgy'}",
            f"data.wells.logs={d / 'wells'}",
            f"data.wells.positions={demo.positions}",
            "data.wells.n_velocity=30",
            f"data.velocity=[{demo.velocity_maps}]",
            *TINY,
        ],
    ).run()
    summary = json.loads((run / "summary.json").read_text())
    blocks = summary["field_windows"]["blocks"]
    pairs = open_store(run / "data" / "field_pairs.zarr", kind="pairs")
    x0 = pairs["window_x0"].values
    part = np.array([str(p) for p in pairs["split_part"].values])
    splits = json.loads((run / "splits.json").read_text())
    width = 310.0
    train = splits["pairs"]["train"]
    held = splits["pairs"]["validation"] + splits["pairs"]["test"]
    assert train and splits["pairs"]["test"] and splits["pairs"]["validation"]
    assert all(abs(x0[i] - x0[j]) >= width for i in train for j in held)  # no held-out window overlaps training
    assert sorted(splits["pairs"]["test"]) == sorted(np.flatnonzero(part == "test").tolist())
    assert splits["dropped_pairs"] == np.flatnonzero(part == "dropped").tolist()
    assert blocks["counts"]["dropped"] == len(splits["dropped_pairs"]) > 0
    text = (run / "summary.md").read_text()
    assert f"split in {blocks['n_blocks']} blocks along the line" in text
    assert "dropped window at x = " in text and "maps from wells: 30" in text
    # the maps from the wells are in the training maps, each honouring its well
    maps = open_store(run / "data" / "well_maps.zarr", kind="velocity")
    wells = open_store(run / "data" / "ingested" / "data_wells_logs.zarr", kind="wells")
    used = wells.isel(
        well=[i for i, n in enumerate(wells["name"].values) if str(n) not in summary["wells"]["excluded_wells"]]
    )
    from geogen.physics.wells import honour_error

    assert honour_error(maps, used, Acquisition.preset("small")).max() <= HONOUR_TOLERANCE
    for name, x in zip(wells["name"].values, wells["position_x"].values):  # wells on held-out ground made no map
        inside = any(a <= x <= b for a, b in blocks["held_out_extents_m"])
        assert (str(name) in summary["wells"]["excluded_wells"]) == inside
    assert summary["data"]["n_velocity"] == 30 + 40 + summary["field_windows"]["n_kept"]


def test_training_from_wells_alone_plus_a_few_pairs(demo, tmp_path):
    from test_workflow_run import TINY

    from geogen.physics.synth import synth

    few = synth(tmp_path / "few", family="flat", n_velocity=6, n_paired=6, preset="small", seed=2)
    run = Workflow.from_dict({
        "name": "wells_only", "run": {"dir": str(tmp_path / "run")},
        "data": {"wells": {"logs": [str(p) for p in demo.wells], "positions": str(demo.positions), "n_velocity": 48},
                 "paired": [str(few.pairs_store)], "splits": {"validation": 0.2, "test": 0.0}},
        "acquisition": {"preset": "small"}, "export": {"formats": []}}, overrides=TINY).run()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["n_velocity"] == 48 and summary["data"]["n_pairs"] == 6
    assert summary["wells"]["excluded_wells"] == []
    assert sorted(p.name for p in (run / "checkpoints").glob("*.pt")) == ["diffusion.pt", "step1.pt", "step2.pt"]
    assert open_store(run / "generated.zarr", kind="pairs").sizes["sample"] == 3
    maps = open_store(summary["data"]["velocity_store"], kind="velocity")
    assert maps.attrs["generator"] == "geogen.physics.wells"  # the wells' maps alone are the velocity set


@pytest.mark.slow
def test_demo_line_and_shipped_field_workflow_from_a_fresh_directory(tmp_path):
    """The README's two commands for the field workflow, in a fresh directory, at the shipped settings."""
    import shutil
    import subprocess
    import sys

    (tmp_path / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "field_adapt.yaml", tmp_path / "workflows" / "field_adapt.yaml")
    geogen_cli = [sys.executable, "-m", "geogen"]
    made = subprocess.run([*geogen_cli, "synth", "--line", "data/line"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=1800)
    assert made.returncode == 0, made.stderr
    trained = subprocess.run([*geogen_cli, "train", "workflows/field_adapt.yaml", "--set", "training.threads=1"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=14400)
    assert trained.returncode == 0, trained.stderr[-2000:]
    summary = json.loads((tmp_path / "runs" / "field_adapt" / "summary.json").read_text())
    assert summary["field_windows"]["blocks"]["counts"]["test"] > 0
    assert summary["wells"]["n"] == 2000 and summary["generation"]["n"] == 256
    assert np.isfinite(summary["validation"]["physics_rel_l2"]["median"])
