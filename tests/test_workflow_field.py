"""field_adapt.yaml end to end on a synthetic recorded line written as SEG-Y.

The line is modelled with geogen's own physics (Devito) on a long velocity section,
shots every 20 m and a fixed spread of receivers every 10 m, in a line frame that
starts at x = 5000 m.  The far end of the spread was never recorded (missing traces),
so the windows over it must be skipped and counted.  The shot gathers and the
velocity section are written with segyio, as a contractor would deliver them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geogen.acquisition import Acquisition
from geogen.data.datasets import velocity_dataset
from geogen.data.store import open_store, write_store
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
    """Shot gathers as SEG-Y: FFID, channel, source/group x with scalar -100, offset, depths."""
    live = np.asarray(acq.receiver_x) < DEAD_FROM
    n_live = int(live.sum())
    spec = segyio.spec()
    spec.format = 5
    spec.samples = list(range(acq.nt))
    spec.tracecount = acq.n_sources * n_live
    spec.endian = "big"
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: int(acq.dt * 1e6), segyio.BinField.Samples: acq.nt,
                      segyio.BinField.MeasurementSystem: 1})
        k = 0
        for s, sx in enumerate(acq.source_x):
            for r in np.flatnonzero(live):
                gx = acq.receiver_x[r]
                f.header[k] = {
                    segyio.TraceField.FieldRecord: 101 + s, segyio.TraceField.TraceNumber: int(r) + 1,
                    segyio.TraceField.SourceGroupScalar: -100,
                    segyio.TraceField.SourceX: int(round((X0 + sx) * 100)),
                    segyio.TraceField.GroupX: int(round((X0 + gx) * 100)),
                    segyio.TraceField.offset: int(round(gx - sx)),
                    segyio.TraceField.ElevationScalar: 1, segyio.TraceField.SourceDepth: int(acq.source_z),
                    segyio.TraceField.ReceiverGroupElevation: -int(acq.receiver_z),
                    segyio.TraceField.TRACE_SAMPLE_COUNT: acq.nt,
                    segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(acq.dt * 1e6),
                }
                f.trace[k] = np.ascontiguousarray(seismic[s, :, r], dtype=np.float32)
                k += 1


def write_section(path: Path, velocity: np.ndarray) -> None:
    """The velocity section as SEG-Y: one trace per x (CDP x, scalar -100), samples along depth (mm)."""
    spec = segyio.spec()
    spec.format = 5
    spec.samples = list(range(NZ))
    spec.tracecount = NX
    spec.endian = "big"
    with segyio.create(str(path), spec) as f:
        f.bin.update({segyio.BinField.Interval: int(D * 1000), segyio.BinField.Samples: NZ})
        for i in range(NX):
            x = int(round((X0 + D * i) * 100))
            f.header[i] = {segyio.TraceField.CDP: i + 1, segyio.TraceField.SourceGroupScalar: -100,
                           segyio.TraceField.CDP_X: x, segyio.TraceField.GroupX: x,
                           segyio.TraceField.TRACE_SAMPLE_COUNT: NZ,
                           segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(D * 1000)}
            f.trace[i] = np.ascontiguousarray(velocity[:, i], dtype=np.float32)


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
        "data.splits.validation=0.2", "data.splits.test=0.2", *TINY])
    run = wf.run()
    summary = json.loads((run / "summary.json").read_text())
    windows = summary["field_windows"]
    # 990 m of line, 310 m windows every 80 m: 9 windows; those reaching past 700 m (with
    # under 80 % live receivers) are skipped and counted
    assert windows["n_windows"] == 9
    assert windows["n_skipped_dead"] >= 1 and windows["n_kept"] >= 3
    assert windows["n_kept"] + windows["n_skipped_dead"] + windows["n_skipped_no_shot"] == 9
    assert "skipped window at x = 5480 m" in (run / "summary.md").read_text()
    field_pairs = open_store(run / "data" / "field_pairs.zarr", kind="pairs")
    assert field_pairs.attrs["origin"] == "recorded"
    assert field_pairs.sizes["sample"] == windows["n_kept"]
    assert float(field_pairs["window_x0"][0]) == pytest.approx(X0)
    assert summary["data"]["n_velocity"] == 48 + windows["n_kept"]  # the line's patches join the maps
    # generated pairs are in the window geometry (the small preset) ...
    generated = open_store(run / "generated.zarr", kind="pairs")
    assert generated["seismic"].shape[1:] == Acquisition.preset("small").seismic_shape
    assert np.isfinite(summary["validation"]["physics_rel_l2"]["median"])
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
    run = Workflow.from_yaml(ROOT / "workflows" / "field_adapt.yaml", overrides=[
        f"run.dir={tmp_path / 'run'}", f"data.field.survey={line / 'shots.sgy'}",
        f"data.field.velocity={line / 'velocity.sgy'}", f"data.velocity=[{line / 'maps.zarr'}]",
        "training.threads=1"]).run()  # torch's default of one thread per core thrashes on a shared CPU
    summary = json.loads((run / "summary.json").read_text())
    assert summary["generation"]["n"] == 256
    assert summary["validation"]["n_pairs"] == 256
