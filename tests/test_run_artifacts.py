"""geogen.run: atomic writes (also when the writer is killed), the run directory's paths, checkpoints, devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from geogen.data.datasets import velocity_dataset
from geogen.data.store import open_store, write_store
from geogen.errors import InputError
from geogen.run import RunDir, StageMarker, atomic_write, atomic_write_json
from geogen.run.atomic import stale_siblings

KILLED_WRITE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from geogen.data.datasets import velocity_dataset
    from geogen.data.store import write_store
    from geogen.run import atomic

    def die(tmp, target):  # the store is complete in its staging folder: killed just before the rename
        os.kill(os.getpid(), signal.SIGKILL)

    atomic.swap_into_place = die
    import geogen.data.store as store
    store.swap_into_place = die
    maps = np.full((3, 8, 8), float(sys.argv[2]), np.float32)
    write_store(velocity_dataset(maps, dz=10, dx=10), sys.argv[1])
""")


def _killed_write(target: Path, value: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target), str(value)], capture_output=True,
                          text=True, timeout=300)


def test_a_killed_store_write_leaves_the_old_store_and_its_staging_folder_is_cleaned_up(tmp_path: Path) -> None:
    target = tmp_path / "maps.zarr"
    write_store(velocity_dataset(np.full((2, 8, 8), 2000.0, np.float32), dz=10, dx=10), target)
    done = _killed_write(target, 3000.0)
    assert done.returncode == -9, done.stderr  # SIGKILL: no cleanup code ran
    staged = stale_siblings(target)
    assert len(staged) == 1 and staged[0].is_dir()  # the killed writer's staging folder is left behind
    old = open_store(target, kind="velocity")  # the previous store is untouched
    assert old.sizes["model"] == 2 and float(old["velocity"].max()) == 2000.0
    write_store(velocity_dataset(np.full((4, 8, 8), 2500.0, np.float32), dz=10, dx=10), target)
    assert stale_siblings(target) == [] and not staged[0].exists()  # the next write of the target removes it
    assert open_store(target).sizes["model"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["maps.zarr"]


def test_a_killed_first_write_leaves_no_store(tmp_path: Path) -> None:
    target = tmp_path / "new.zarr"
    assert _killed_write(target, 3000.0).returncode == -9
    assert not target.exists() and len(stale_siblings(target)) == 1
    with pytest.raises(InputError, match="no such store"):
        open_store(target)


def test_a_running_writer_s_staging_folder_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    mine = tmp_path / f".x.json.partial-{os.getpid()}-abcdef01"  # this process is alive
    mine.write_text("half")
    dead = tmp_path / ".x.json.partial-999999999-abcdef01"
    dead.write_text("half")
    atomic_write_json(target, {"a": np.float32(1.5), "b": np.arange(2), "c": Path("p")})
    assert json.loads(target.read_text()) == {"a": 1.5, "b": [0, 1], "c": "p"}
    assert mine.exists() and not dead.exists()


def test_a_failed_atomic_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "f.txt", "old")
    with pytest.raises(TypeError):
        atomic_write(target, 5)  # type: ignore[arg-type]
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_run_dir_knows_its_paths_and_markers(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.checkpoint("step2") == tmp_path / "checkpoints" / "step2.pt"
    with pytest.raises(ValueError):
        run.checkpoint("step4")
    with pytest.raises(InputError, match=r"holds no checkpoints/\{diffusion,step2,step1\}.pt; train first"):
        run.latest_checkpoint()
    run.checkpoints.mkdir()
    run.checkpoint("step1").write_bytes(b"")
    assert run.latest_checkpoint() == run.checkpoint("step1")
    run.checkpoint("diffusion").write_bytes(b"")
    assert run.latest_checkpoint() == run.checkpoint("diffusion")
    assert run.relative(run.evaluation_report) == "evaluation/report.md"
    assert run.read_marker("train") is None
    run.write_marker(StageMarker(stage="train", hash="h", seconds=1.5, outputs={"checkpoints": []}))
    marker = run.read_marker("train")
    assert marker is not None and marker.hash == "h" and marker.seconds == 1.5 and marker.finished
    run.marker("train").write_text("{not json")
    assert run.read_marker("train") is None  # a damaged marker means: run the stage again
    run.append_metrics({"stage": "step1", "epoch": 1})
    with open(run.metrics, "a") as fh:
        fh.write('{"cut short')
    assert run.read_metrics() == [{"stage": "step1", "epoch": 1}]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_for_and_absent_is_an_input_error_naming_the_setting() -> None:
    from geogen.models.device import pick_device
    from geogen.training.config import TrainingConfig
    from geogen.training.context import make_context

    assert pick_device("auto").type == "cpu" and pick_device(None).type == "cpu"
    with pytest.raises(InputError, match=r"^device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'$"):
        pick_device("cuda")
    with pytest.raises(InputError) as info:
        make_context(TrainingConfig(device="cuda"))
    assert info.value.setting == "device"
    from geogen.workflow.runner import Workflow

    wf = Workflow.from_dict({"data": {"paired": ["p.zarr"]}, "acquisition": {"preset": "small"}})
    error = wf.setting_error(info.value, "training")
    assert str(error) == "training.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'"
    assert error.setting == "training.device"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_generate_on_cuda_without_cuda_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    import shutil

    from geogen.cli import main

    run = Path(shutil.copytree(Path(__file__).parent / "fixtures" / "old_run", tmp_path / "run"))
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(run), "--n", "1", "--out", str(tmp_path / "g.zarr"), "--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA device is visible" in err
    assert not (tmp_path / "g.zarr").exists()


def test_stage_markers_written_before_typed_results_still_load() -> None:
    """Marker outputs as the runner wrote them when stages returned dicts (keys as before, extra keys kept)."""
    from geogen.workflow.results import AssembleResult, ValidateResult, result_of

    old = {"velocity_store": "runs/q/data/synth/velocity.zarr", "pairs_store": "runs/q/data/synth/pairs.zarr",
           "n_velocity": 96, "n_pairs": 20, "acquisition": "{}", "note": "a key a later geogen dropped"}
    assembled = result_of("assemble", old)
    assert isinstance(assembled, AssembleResult) and assembled.n_pairs == 20
    assert assembled.to_json() == old
    validated = result_of("validate", {"summary": {"n_pairs": 3}, "report": "validation.json"})
    assert isinstance(validated, ValidateResult) and validated.filtered_store is None
    assert validated.to_json() == {"summary": {"n_pairs": 3}, "report": "validation.json"}
    assert result_of("windows", {"pairs_store": "p", "windows": {"blocks": {"held_out_extents_m": [[0, 310]]}}}
                     ).held_out_extents_m == [(0, 310)]
