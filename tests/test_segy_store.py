"""SEG-Y stores as other tools see them: plain xarray/zarr, added variables, the ingest summary,
what the command imports, and a fill on a dask cluster."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
from segy_fixtures import write_shots, write_stacked

import geogen
from geogen.data.store import add_variables, is_consolidated
from geogen.errors import InputError
from geogen.io import write_ingest
from geogen.summary import info


@pytest.fixture
def stores(tmp_path):
    shots = write_shots(tmp_path / "line.sgy", missing=((1, 2),))
    il, xl = np.meshgrid(10 + np.arange(3), 100 + np.arange(4), indexing="ij")
    cube = write_stacked(tmp_path / "cube.sgy", np.ones((12, 20), np.float32), inlines=il.ravel(),
                         crosslines=xl.ravel(), cdp_x=10.0 * xl.ravel(), cdp_y=20.0 * il.ravel())
    section = write_stacked(tmp_path / "vel.sgy", np.full((12, 9), 2000.0, np.float32),
                            cdp_x=250.0 + 10.0 * np.arange(12), interval=10000)
    return {"survey": (shots.path, {}), "poststack": (cube, {}), "velocity": (section, {"kind": "velocity"})}


@pytest.mark.parametrize("kind", ["survey", "poststack", "velocity"])
def test_plain_open_zarr_without_a_warning(tmp_path, stores, kind):
    path, opts = stores[kind]
    target = tmp_path / f"{kind}.zarr"
    geogen.ingest(path, target, **opts)
    assert is_consolidated(target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(target)
    reference = xr.open_zarr(target, consolidated=False)
    xr.testing.assert_identical(plain.load(), reference.load())
    assert plain.attrs["geogen_kind"] == kind
    import zarr

    group = zarr.open_consolidated(str(target), zarr_format=3)
    assert sorted(group.array_keys()) == sorted(plain.variables)


@pytest.mark.parametrize("kind", ["survey", "poststack", "velocity"])
def test_ingest_summary_is_the_info_summary(tmp_path, stores, kind):
    path, opts = stores[kind]
    target, summary = write_ingest(path, tmp_path / f"{kind}.zarr", **opts)
    assert summary is not None
    reference = info(target, value_ranges=False)
    assert json.loads(json.dumps(summary)) == json.loads(json.dumps(reference))


def test_add_variables_keeps_the_store_consolidated(tmp_path, stores):
    target = tmp_path / "line.zarr"
    ds = geogen.ingest(stores["survey"][0], target)
    before = ds["seismic"].values
    extra = xr.Dataset({"shot_rms": ("shot", np.arange(4, dtype=np.float32), {"units": "1"})},
                       attrs={"validated": "yes"})
    add_variables(target, extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(target)
    np.testing.assert_array_equal(plain["shot_rms"].values, np.arange(4))
    np.testing.assert_array_equal(plain["seismic"].values, before)
    assert plain.attrs["validated"] == "yes" and plain.attrs["geogen_kind"] == "survey"
    # replacing a variable, and a new dimension with its coordinate
    add_variables(target, xr.Dataset({"shot_rms": ("shot", np.ones(4, np.float32))},
                                     coords={"metric": ("metric", [10, 20])}).assign(m=("metric", [1.0, 2.0])))
    again = xr.open_zarr(target)
    np.testing.assert_array_equal(again["shot_rms"].values, 1.0)
    assert list(again["metric"].values) == [10, 20]
    assert geogen.open_store(target)["shot_rms"].shape == (4,)
    with pytest.raises(InputError, match="the store's shot has 4"):
        add_variables(target, xr.Dataset({"bad": ("shot", np.zeros(5))}))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_written_stores_are_consolidated(tmp_path):
    from geogen.data.datasets import velocity_dataset
    from geogen.data.store import write_store

    write_store(velocity_dataset(np.full((1, 4, 5), 2000.0, np.float32), dz=10, dx=10), tmp_path / "v.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert xr.open_zarr(tmp_path / "v.zarr").attrs["geogen_kind"] == "velocity"


def test_ingest_command_imports_only_what_ingest_needs(tmp_path, stores):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "geogen", "ingest", str(stores["survey"][0]),
                           "--out", str(tmp_path / "s.zarr")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "segyio" in modules and "geogen.adapters.segy_ingest" in modules
    for heavy in ("torch", "devito", "matplotlib", "xarray", "dask", "pandas", "zarr", "distributed"):
        assert heavy not in modules, heavy


def test_fill_on_a_dask_cluster(tmp_path, stores):
    distributed = pytest.importorskip("distributed")
    path = stores["survey"][0]
    local = geogen.ingest(path, tmp_path / "local.zarr", workers=1).load()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        remote = geogen.ingest(path, tmp_path / "remote.zarr", scheduler=cluster.scheduler_address).load()
    xr.testing.assert_identical(local, remote)


def test_cli_unreachable_scheduler_is_one_line(tmp_path, stores):
    proc = subprocess.run([sys.executable, "-m", "geogen", "ingest", str(stores["survey"][0]), "--scheduler",
                           "tcp://127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no dask scheduler answers there" in proc.stderr
    assert not (tmp_path / "line.zarr").exists()


def test_sample_codec_choice(tmp_path, stores):
    import zarr

    path = stores["survey"][0]
    lz4 = geogen.ingest(path, tmp_path / "lz4.zarr")
    zstd = geogen.ingest(path, tmp_path / "zstd.zarr", sample_codec="zstd")
    xr.testing.assert_identical(lz4.load(), zstd.load())
    inner = zarr.open_array(tmp_path / "zstd.zarr" / "seismic", mode="r").metadata.codecs[0].codecs
    assert [getattr(c, "cname", None) for c in inner][-1].value == "zstd"
    with pytest.raises(InputError, match="sample_codec 'gzip': choose lz4 or zstd"):
        geogen.ingest(path, tmp_path / "bad.zarr", sample_codec="gzip")
