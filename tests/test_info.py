"""``geogen info``: the summary dict and both command-line forms."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import xarray as xr

import geogen
from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset
from geogen.data.store import write_store


def survey(tmp_path):
    n_shot, n_rec, nt = 5, 8, 40
    seismic = np.zeros((n_shot, n_rec, nt), np.float32)
    seismic[1, 2, 3], seismic[4, 7, 39] = -7.5, 12.25
    mask = np.ones((n_shot, n_rec), bool)
    mask[3, :3] = False
    rx = 10.0 * np.arange(n_rec)[None, :] + 100.0 * np.arange(n_shot)[:, None]
    ds = xr.Dataset(
        {
            "seismic": (("shot", "receiver", "time"), seismic, {"units": "1"}),
            "trace_mask": (("shot", "receiver"), mask),
            "receiver_x": (("shot", "receiver"), rx, {"units": "m"}),
            "source_x": ("shot", 100.0 * np.arange(n_shot) - 5.0, {"units": "m"}),
            "offset": (("shot", "receiver"), rx - (100.0 * np.arange(n_shot) - 5.0)[:, None], {"units": "m"}),
        },
        coords={"time": ("time", 0.1 + 0.004 * np.arange(nt), {"units": "s"})},
        attrs={"geogen_kind": "survey"},
    )
    return write_store(ds, tmp_path / "line.zarr", chunks={"seismic": {"shot": 1}})


def test_info_of_a_survey(tmp_path):
    s = geogen.info(survey(tmp_path))
    assert s["kind"] == "survey"
    assert s["dimensions"] == {"shot": 5, "receiver": 8, "time": 40}
    assert abs(s["sample_interval_s"] - 0.004) < 1e-12
    assert s["axes"]["time"]["min"] == 0.1 and s["axes"]["time"]["units"] == "s"
    assert s["variables"]["seismic"]["min"] == -7.5 and s["variables"]["seismic"]["max"] == 12.25
    assert s["geometry"]["source_x"] == {"min": -5.0, "max": 395.0}
    assert s["geometry"]["receiver_x"] == {"min": 0.0, "max": 470.0}
    assert (s["live_traces"], s["missing_traces"]) == (37, 3)
    assert s["size_on_disk_bytes"] > 0 and s["uncompressed_bytes"] > 0


def test_info_of_pairs_reports_acquisition(tmp_path):
    a = Acquisition.preset("small")
    v = np.full((2, *a.shape), 2000.0, np.float32)
    v[1, 0, 0] = 4400.0
    write_store(
        pairs_dataset(v, np.zeros((2, *a.seismic_shape), np.float32), a, origin="simulated"), tmp_path / "p.zarr"
    )
    s = geogen.info(tmp_path / "p.zarr")
    assert s["origin"] == "simulated"
    assert s["acquisition"]["grid"] == [32, 32] and s["acquisition"]["sources"] == 3
    assert s["variables"]["velocity"]["max"] == 4400.0 and s["variables"]["velocity"]["units"] == "m/s"


def test_cli_info_text_and_json(tmp_path):
    path = survey(tmp_path)
    r = subprocess.run([sys.executable, "-m", "geogen", "info", str(path), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)  # stdout is pure JSON
    assert summary["kind"] == "survey" and summary["missing_traces"] == 3
    r = subprocess.run([sys.executable, "-m", "geogen", "info", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "survey store" in text
    assert "sample interval: 4 ms" in text
    assert "seismic(shot, receiver, time) float32 range -7.5 .. 12.25" in text
    assert "traces: 37 live, 3 missing" in text
    assert "size on disk:" in text


def test_cli_info_of_a_netcdf_file(tmp_path):
    geogen.export(survey(tmp_path), tmp_path / "line.nc", format="netcdf")
    r = subprocess.run(
        [sys.executable, "-m", "geogen", "info", str(tmp_path / "line.nc"), "--json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["variables"]["seismic"]["max"] == 12.25 and summary["live_traces"] == 37
