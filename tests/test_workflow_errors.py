"""Bad workflow input: one error line with the YAML path, exit status 2, before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from geogen.acquisition import Acquisition
from geogen.data.datasets import pairs_dataset, velocity_dataset
from geogen.data.store import write_store
from geogen.errors import InputError
from geogen.workflow.runner import Workflow, apply_overrides


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def small_pairs(path: Path, n: int = 2, **overrides) -> Path:
    acq = Acquisition.preset("small", **overrides)
    rng = np.random.default_rng(0)
    v = rng.uniform(1500, 4500, (n, *acq.shape)).astype(np.float32)
    s = rng.standard_normal((n, *acq.seismic_shape)).astype(np.float32)
    return write_store(pairs_dataset(v, s, acq, origin="simulated"), path)


def small_velocity(path: Path, n: int = 4, shape=(32, 32), d: float = 10.0) -> Path:
    v = np.full((n, *shape), 2000.0, dtype=np.float32)
    return write_store(velocity_dataset(v, dz=d, dx=d), path)


def base(tmp_path: Path, **extra) -> dict:
    data = {"name": "t", "run": {"dir": str(tmp_path / "run")},
            "data": {"paired": [str(small_pairs(tmp_path / "pairs.zarr"))]}}
    data.update(extra)
    return data


def error_of(tmp_path: Path, data: dict, overrides=()) -> str:
    path = write_yaml(tmp_path / "wf.yaml", data)
    with pytest.raises(InputError) as info:
        Workflow.from_yaml(path, overrides=overrides).check()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ") or message.startswith(str(tmp_path / "run"))
    return message


def test_a_valid_workflow_passes_the_checks(tmp_path):
    wf = Workflow.from_yaml(write_yaml(tmp_path / "wf.yaml", base(tmp_path)))
    wf.check()
    assert wf.acquisition == Acquisition.preset("small")  # taken from the paired store
    assert wf.run_dir == tmp_path / "run"
    assert not (tmp_path / "run").exists()  # checking writes nothing


def test_unknown_key_suggests_the_closest(tmp_path):
    msg = error_of(tmp_path, base(tmp_path, training={"step2": {"epocs": 3}}))
    assert msg.endswith("training.step2.epocs: unknown key; did you mean 'epochs'?")
    msg = error_of(tmp_path, base(tmp_path, modle={"latent_dim": 3}))
    assert "modle: unknown key; did you mean 'model'?" in msg


def test_value_out_of_range_names_the_yaml_path(tmp_path):
    msg = error_of(tmp_path, base(tmp_path, training={"step2": {"epochs": 0}}))
    assert msg.endswith("training.step2.epochs: must be > 0 (got 0)")


def test_own_map_physics_with_an_unfrozen_step2_is_refused(tmp_path):
    msg = error_of(tmp_path, base(tmp_path, training={"step2": {"prior_map": "own", "freeze": False}}))
    assert msg.endswith("training.step2: prior_map: own needs freeze: true (an unfrozen step 2 trains through the "
                        "decoded map)")
    msg = error_of(tmp_path, base(tmp_path, training={"step2": {"prior_map": "mine"}}))
    assert msg.endswith("training.step2.prior_map: must be one of 'decoded' or 'own', got 'mine'")


def test_wrong_type(tmp_path):
    msg = error_of(tmp_path, base(tmp_path, model={"latent_dim": "big"}))
    assert msg.endswith("model.latent_dim: must be an integer, got 'big'")
    msg = error_of(tmp_path, base(tmp_path, generation={"sampler": "euler"}))
    assert "generation.sampler: must be one of 'ddim' or 'ancestral'" in msg


def test_missing_file(tmp_path):
    data = base(tmp_path)
    data["data"]["velocity"] = [str(tmp_path / "nowhere.zarr")]
    msg = error_of(tmp_path, data)
    assert f"data.velocity[0]: {tmp_path / 'nowhere.zarr'}: no such file or directory" in msg


def test_file_geogen_cannot_read(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    data = base(tmp_path)
    data["data"]["velocity"] = [str(tmp_path / "notes.txt")]
    msg = error_of(tmp_path, data)
    assert "data.velocity[0]:" in msg and "not a format geogen reads" in msg


def test_store_of_the_wrong_kind(tmp_path):
    vel = small_velocity(tmp_path / "maps.zarr")
    data = base(tmp_path)
    data["data"]["paired"].append(str(vel))
    msg = error_of(tmp_path, data)
    assert f"data.paired[1]: {vel} is a velocity store, expected pairs" in msg


def test_acquisition_that_does_not_fit_the_pairs(tmp_path):
    msg = error_of(tmp_path, base(tmp_path, acquisition={"preset": "small", "nt": 500}))
    assert "data.paired[0]:" in msg and "nt = 400" in msg and "acquisition.nt" in msg


def test_velocity_maps_on_another_grid(tmp_path):
    vel = small_velocity(tmp_path / "maps.zarr", shape=(70, 70))
    data = base(tmp_path)
    data["data"]["velocity"] = [str(vel)]
    msg = error_of(tmp_path, data)
    assert "data.velocity[0]:" in msg and "70 x 70" in msg and "32 x 32" in msg


def test_unstable_acquisition(tmp_path):
    data = {"data": {"synth": {"n_velocity": 4, "n_paired": 2}}, "acquisition": {"preset": "small", "dt": 0.00137}}
    msg = error_of(tmp_path, data)
    assert "acquisition.dt: dt = 1.37 ms is unstable for 4500 m/s" in msg and "CFL limit 1.361 ms" in msg


def test_receiver_outside_the_grid(tmp_path):
    data = {"data": {"synth": {}}, "acquisition": {"preset": "small", "receiver_x": [0.0, 900.0]}}
    msg = error_of(tmp_path, data)
    assert "acquisition: receiver 1 at x = 900 m lies outside the grid" in msg


def test_synth_needs_a_preset(tmp_path):
    msg = error_of(tmp_path, {"data": {"synth": {}}})
    assert "acquisition.preset: required with data.synth" in msg


def test_run_dir_of_another_workflow(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "workflow.json").write_text(json.dumps({"name": "other", "config_sha256": "ab" * 32,
                                                   "stages": {"data": "x", "train": "y"}}))
    msg = error_of(tmp_path, base(tmp_path))
    assert msg.startswith(f"{run}: holds the run of another workflow ('other'")
    assert "--force" in msg and "run.dir" in msg
    # --force replaces it (only a geogen run directory)
    wf = Workflow.from_yaml(tmp_path / "wf.yaml")
    wf.check(force=True)
    assert not run.exists()


def test_run_dir_with_foreign_files(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "thesis.tex").write_text("precious")
    msg = error_of(tmp_path, base(tmp_path))
    assert "not empty and holds no geogen run" in msg
    with pytest.raises(InputError):
        Workflow.from_yaml(tmp_path / "wf.yaml").check(force=True)
    assert (run / "thesis.tex").exists()


def test_overrides_are_yaml_scalars_and_validated(tmp_path):
    path = write_yaml(tmp_path / "wf.yaml", base(tmp_path))
    wf = Workflow.from_yaml(path, overrides=["model.latent_dim=64", "training.step1.lr=3e-4",
                                             "generation.sampler=ancestral", "export.formats=[netcdf, zarr]"])
    assert wf.config.model.latent_dim == 64
    assert wf.config.training.step1.lr == pytest.approx(3e-4)
    assert wf.config.generation.sampler == "ancestral"
    assert wf.config.export.formats == ["netcdf", "zarr"]
    msg = error_of(tmp_path, base(tmp_path), overrides=["training.step2.epochs=-1"])
    assert msg.endswith("training.step2.epochs: must be > 0 (got -1) (set by --set training.step2.epochs)")
    msg = error_of(tmp_path, base(tmp_path), overrides=["model.latnet_dim=64"])
    assert "model.latnet_dim: unknown key; did you mean 'latent_dim'?" in msg
    with pytest.raises(InputError, match="expected KEY.PATH=VALUE"):
        Workflow.from_yaml(path, overrides=["model.latent_dim"])


def test_apply_overrides_into_lists_and_new_sections():
    data = {"data": {"velocity": ["a", "b"]}}
    apply_overrides(data, ["data.velocity.1=c", "data.synth.n_velocity=10", "run.dir=runs/x"])
    assert data == {"data": {"velocity": ["a", "c"], "synth": {"n_velocity": 10}}, "run": {"dir": "runs/x"}}
    with pytest.raises(InputError, match="has no item 5"):
        apply_overrides(data, ["data.velocity.5=x"])


def test_broken_yaml_names_the_line(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text("data:\n  synth: {n_velocity: 3\nmodel: [\n")
    with pytest.raises(InputError, match=r"line \d+, column \d+: not valid YAML"):
        Workflow.from_yaml(path)


def test_a_missing_workflow_file_is_one_line_exit_2(tmp_path, capsys):
    from geogen.cli import main

    with pytest.raises(InputError, match=r"nowhere\.yaml: no such workflow file$"):
        Workflow.from_yaml(tmp_path / "nowhere.yaml")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(tmp_path / "nowhere.yaml")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'nowhere.yaml'}: no such workflow file\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, kind", [("- data\n- model\n", "list"), ("just a line\n", "str"), ("42\n", "int")])
def test_a_workflow_that_is_not_a_mapping_says_so(tmp_path, text, kind):
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"wf\.yaml: a workflow is a mapping of sections \(data, model, training, "
                                          rf"\.\.\.\), not a {kind}$"):
        Workflow.from_yaml(path)


def test_an_empty_workflow_file_asks_for_data(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(InputError, match=r"wf\.yaml: data: required key is missing$"):
        Workflow.from_yaml(path)


def test_cli_prints_one_line_and_exits_2(tmp_path):
    path = write_yaml(tmp_path / "wf.yaml", base(tmp_path, training={"step2": {"epochs": 0}}))
    out = subprocess.run([sys.executable, "-m", "geogen", "train", str(path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"error: {path}: training.step2.epochs: must be > 0 (got 0)"]
    assert out.stdout == ""
    assert not (tmp_path / "run").exists()


def field_workflow(tmp_path: Path, survey: Path, section: Path) -> dict:
    return {"run": {"dir": str(tmp_path / "run")}, "acquisition": {"preset": "small"},
            "data": {"field": {"survey": str(survey), "velocity": str(section)}}}


def test_field_survey_of_the_wrong_kind(tmp_path):
    section = write_store(velocity_dataset(np.full((1, 40, 100), 2000.0, np.float32), dz=10, dx=10),
                          tmp_path / "section.zarr")
    msg = error_of(tmp_path, field_workflow(tmp_path, section, section))
    assert f"data.field.survey: {section} is a velocity store, expected survey" in msg


def test_field_section_shorter_than_one_window(tmp_path):
    survey = write_store(velocity_dataset(np.full((1, 4, 4), 2000.0, np.float32), dz=10, dx=10)
                         .assign_attrs(geogen_kind="survey"), tmp_path / "survey.zarr")
    short = write_store(velocity_dataset(np.full((1, 40, 20), 2000.0, np.float32), dz=10, dx=10),
                        tmp_path / "short.zarr")
    msg = error_of(tmp_path, field_workflow(tmp_path, survey, short))
    assert "data.field.velocity:" in msg and "spans 190 m along the line" in msg and "310 m" in msg


def test_python_api_exposes_the_workflow():
    import geogen
    from geogen.workflow import runner

    assert geogen.Workflow is runner.Workflow
    assert geogen.train is runner.train


def test_more_pairs_than_maps(tmp_path):
    msg = error_of(
        tmp_path, {"data": {"synth": {"n_velocity": 10, "n_paired": 20}}, "acquisition": {"preset": "small"}}
    )
    assert msg.endswith(
        "data.synth: n_paired (20) must not exceed n_velocity (10): the pairs are the first maps, modelled"
    )


def test_until_names_a_stage_of_this_workflow(tmp_path):
    path = write_yaml(tmp_path / "wf.yaml", base(tmp_path))
    out = subprocess.run([sys.executable, "-m", "geogen", "train", str(path), "--until", "synth"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: --until 'synth': this workflow's stages are "
                                  "assemble, train, generate, validate, export")
    assert not (tmp_path / "run").exists()
