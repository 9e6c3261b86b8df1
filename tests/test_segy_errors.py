"""Bad SEG-Y input: one error line naming file, trace and problem; exit 2; nothing written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from segy_fixtures import patch_trace, write_shots

import geogen
from geogen.errors import InputError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geogen", *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def line(tmp_path):
    return write_shots(tmp_path / "line.sgy", n_shots=3, n_receivers=4)


def test_cli_truncated_file_keeps_existing_store(tmp_path, line):
    good = geogen.ingest(line.path, tmp_path / "line.zarr")["seismic"].values
    data = line.path.read_bytes()
    line.path.write_bytes(data[:-100])  # the last trace loses 100 bytes
    proc = run_cli("ingest", str(line.path), "--out", str(tmp_path / "line.zarr"))
    assert_one_line_error(proc, "line.sgy", "trace 12", "truncated")
    kept = geogen.open_store(tmp_path / "line.zarr")["seismic"].values
    np.testing.assert_array_equal(kept, good)  # the existing store is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_not_segy(tmp_path):
    path = tmp_path / "notes.sgy"
    path.write_text("these are field notes, not seismic\n" * 200)
    proc = run_cli("ingest", str(path))
    assert_one_line_error(proc, "notes.sgy", "not a SEG-Y file")
    assert not (tmp_path / "notes.zarr").exists()


def test_cli_absurd_coordinate_scalar(tmp_path, line):
    patch_trace(line.path, 6, 71, 12345)
    proc = run_cli("ingest", str(line.path))
    assert_one_line_error(proc, "line.sgy", "trace 7", "coordinate scalar 12345")
    assert not (tmp_path / "line.zarr").exists()


def test_cli_duplicates_first(tmp_path, line):
    patch_trace(line.path, 1, 13, 1, size=4)
    proc = run_cli("ingest", str(line.path))
    assert_one_line_error(proc, "traces 1 and 2 both hold FFID 101 channel 1")
    proc = run_cli("ingest", str(line.path), "--duplicates", "first", "--json")
    assert proc.returncode == 0, proc.stderr
    assert geogen.open_store(tmp_path / "line.zarr")["trace_mask"].values.sum() == 11


def test_empty_file(tmp_path):
    path = tmp_path / "empty.sgy"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.sgy: is empty"):
        geogen.ingest(path)
    assert not (tmp_path / "empty.zarr").exists()


def test_short_file(tmp_path):
    path = tmp_path / "short.sgy"
    path.write_bytes(b"C 1" + b" " * 1000)
    with pytest.raises(InputError, match=r"shorter than the 3600-byte"):
        geogen.ingest(path)


def test_trace_count_not_matching_file_size(tmp_path, line):
    with open(line.path, "ab") as fh:
        fh.write(b"\0" * 17)
    with pytest.raises(
        InputError, match=r"trace count does not match the file size.*12 whole traces.*17 bytes of trace 13"
    ):
        geogen.ingest(line.path)
    assert not (tmp_path / "line.zarr").exists()


def test_trace_sample_count_differs_but_the_file_size_settles_it(tmp_path, line):
    # a stale count in one trace header: the binary header's 50 fits the file size, so it is read, with a warning
    patch_trace(line.path, 4, 115, 40)
    with pytest.warns(UserWarning, match=r"line.sgy: 1 of 12 trace headers give another sample count \(bytes 115-116, "
                                         r"e.g. 40\) than the 50 of the binary header"):
        ds = geogen.ingest(line.path)
    np.testing.assert_array_equal(ds["seismic"].values, line.data)


def test_variable_length_trace_breaks_file_size(tmp_path):
    # a file whose trace 3 really is shorter: the size no longer fits, and the trace is named
    src = write_shots(tmp_path / "line.sgy", n_shots=1, n_receivers=4)
    data = bytearray(src.path.read_bytes())
    tb = 240 + 50 * 4
    start = 3600 + 2 * tb
    data[start + 114:start + 116] = (45).to_bytes(2, "big")
    del data[start + 240 + 45 * 4:start + tb]
    src.path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"trace 3 has 45 samples"):
        geogen.ingest(src.path)


def test_absurd_elevation_scalar_names_trace(tmp_path, line):
    patch_trace(line.path, 2, 69, -7)
    with pytest.raises(InputError, match=r"trace 3 has elevation scalar -7"):
        geogen.ingest(line.path)


def test_header_override_on_all_zero_field(tmp_path, line):
    with pytest.raises(InputError, match=r"--header channel=233: bytes 233-236 are zero in every trace"):
        geogen.ingest(line.path, headers={"channel": 233})
    assert not (tmp_path / "line.zarr").exists()


def test_unknown_header_name(tmp_path, line):
    with pytest.raises(InputError, match=r"unknown header name"):
        geogen.ingest(line.path, headers={"shoe_size": 9})


def test_varying_delay_is_refused(tmp_path, line):
    patch_trace(line.path, 3, 109, 50)
    with pytest.raises(InputError, match=r"trace 4 has delay recording time 50 ms"):
        geogen.ingest(line.path)


def test_header_override_must_start_a_field(tmp_path, line):
    # segyio reads fields at their standard positions: a byte inside a field is a typo
    with pytest.raises(
        InputError, match=r"--header ffid=10: byte 10 does not start a SEG-Y trace-header field.*9 or 13"
    ):
        geogen.ingest(line.path, headers={"ffid": 10})
    assert not (tmp_path / "line.zarr").exists()
