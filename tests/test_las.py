"""LAS ingest: small files written here (1.2 and 2.0, wrapped, ft and m, us/ft and us/m,
negative STEP, NULLs, velocity curves, bad input) and one built with lasio; every value
is checked against the hand computation v = 304800 / DT (us/ft) or 1e6 / DT (us/m)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import geogen
from geogen.cli import main
from geogen.data.store import open_store

FT = 0.3048

LAS20_M_USFT = """\
~VERSION INFORMATION
 VERS.                  2.0 :   CWLS LOG ASCII STANDARD -VERSION 2.0
 WRAP.                   NO :   ONE LINE PER DEPTH STEP
~WELL INFORMATION
 STRT.M              1000.0 :
 STOP.M              1000.4 :
 STEP.M                 0.1 :
 NULL.              -999.25 :
 WELL.                 W-1  :   WELL
 UWI .     100123401234W500 :   UNIQUE WELL ID
 LOC .       00-01-045-20W5 :   LOCATION
 XCOORD.M          512345.5 :   SURFACE X
 YCOORD.M         6123456.0 :   SURFACE Y
~CURVE INFORMATION
 DEPT.M                     :   1  DEPTH
 GR  .GAPI                  :   2  GAMMA RAY
 DT  .US/F                  :   3  SONIC TRANSIT TIME
~A
1000.0  50  100.0
1000.1  60  -999.25
1000.2  55  80.0
1000.3  40  20.0
1000.4  45  120.0
"""

LAS12_WRAPPED_FT_USM_NEGATIVE_STEP = """\
~Version Information
 VERS.   1.20:   CWLS log ASCII Standard -VERSION 1.20
 WRAP.   YES :   Multiple lines per depth step
~Well Information
 STRT.FT    1003.0000:
 STOP.FT    1000.0000:
 STEP.FT      -1.0000:
 NULL.      -999.2500:
 WELL.               :   WRAPPED-2
~Curve Information
 DEPT.FT     :   1  DEPTH
 GR  .GAPI   :   2  GAMMA RAY
 RHOB.G/C3   :   3  BULK DENSITY
 DT  .US/M   :   4  SONIC TRANSIT TIME
~A  Log data section
1003.0000
   45.0000    2.4500
  400.0000
1002.0000
   50.0000    2.5000
 -999.2500
1001.0000
   55.0000    2.4000
  250.0000
1000.0000
   60.0000    2.3000
  500.0000
"""


def las20(curves: str, rows: str, *, depth_unit: str = "M", well: str = "W") -> str:
    return f"""\
~VERSION INFORMATION
 VERS.   2.0 : CWLS LOG ASCII STANDARD -VERSION 2.0
 WRAP.   NO  : ONE LINE PER DEPTH STEP
~WELL INFORMATION
 STRT.{depth_unit}   10.0 :
 STOP.{depth_unit}   12.0 :
 STEP.{depth_unit}    1.0 :
 NULL.  -999.25 :
 WELL.   {well} : WELL
~CURVE INFORMATION
 DEPT.{depth_unit}   : DEPTH
{curves}~A
{rows}"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(*args: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 0


def cli_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_las20_metres_us_per_ft_nulls_and_bounds(tmp_path):
    path = write(tmp_path, "w1.las", LAS20_M_USFT)
    ds = geogen.ingest(path, tmp_path / "w.zarr")
    assert ds.attrs["geogen_kind"] == "wells"
    np.testing.assert_allclose(ds["depth"].values, [1000.0, 1000.1, 1000.2, 1000.3, 1000.4])
    # 304800 / 100 = 3048; NULL; 304800 / 80 = 3810; 304800 / 20 = 15240 > 7000 -> NaN; 304800 / 120 = 2540
    np.testing.assert_allclose(ds["velocity"].values[0], [3048.0, np.nan, 3810.0, np.nan, 2540.0], rtol=1e-6)
    assert ds["velocity"].dtype == np.float32 and ds["velocity"].attrs["units"] == "m/s"
    assert (str(ds["name"].values[0]), str(ds["uwi"].values[0])) == ("W-1", "100123401234W500")
    assert str(ds["location"].values[0]) == "00-01-045-20W5"
    assert float(ds["map_x"].values[0]) == 512345.5 and float(ds["map_y"].values[0]) == 6123456.0
    assert (int(ds["n_null"].values[0]), int(ds["n_out_of_range"].values[0])) == (1, 1)
    assert str(ds["curve"].values[0]) == "DT"
    assert str(ds["conversion"].values[0]) == "v = 304800 / DT (US/F)"
    assert np.isnan(float(ds["position_x"].values[0]))


def test_las12_wrapped_feet_us_per_m_negative_step(tmp_path):
    path = write(tmp_path, "w2.las", LAS12_WRAPPED_FT_USM_NEGATIVE_STEP)
    ds = geogen.ingest(path, tmp_path / "w.zarr")
    # depths increase in the store: 1000..1003 ft = 304.8, 305.1048, 305.4096, 305.7144 m
    np.testing.assert_allclose(ds["depth"].values, FT * np.array([1000.0, 1001.0, 1002.0, 1003.0]), atol=1e-4)
    # 1e6 / 500 = 2000, 1e6 / 250 = 4000, NULL, 1e6 / 400 = 2500
    np.testing.assert_allclose(ds["velocity"].values[0], [2000.0, 4000.0, np.nan, 2500.0], rtol=1e-6)
    assert str(ds["name"].values[0]) == "WRAPPED-2" and str(ds["depth_unit"].values[0]) == "FT"
    assert str(ds["conversion"].values[0]) == "v = 1e+06 / DT (US/M)"


@pytest.mark.parametrize("unit,values,expected", [
    ("FT/S", "10000\n8202.1\n", [3048.0, 2500.0]),
    ("KM/S", "3.048\n2.5\n", [3048.0, 2500.0]),
    ("M/S", "3048\n2500\n", [3048.0, 2500.0]),
])
def test_velocity_curves_in_any_unit(tmp_path, unit, values, expected):
    rows = "".join(f"{10 + i} {v}\n" for i, v in enumerate(values.split()))
    path = write(tmp_path, "v.las", las20(f" VP.{unit} : P VELOCITY\n", rows))
    ds = geogen.ingest(path, tmp_path / "v.zarr")
    np.testing.assert_allclose(ds["velocity"].values[0], expected, rtol=1e-4)
    assert str(ds["curve"].values[0]) == "VP"


def test_preference_order_and_curve_option(tmp_path):
    text = las20(" DT.US/F : SONIC\n DTCO.US/F : COMPRESSIONAL\n DTSM.US/F : SHEAR\n",
                 "10 100 200 300\n11 100 200 300\n12 100 200 300\n", depth_unit="FT")
    path = write(tmp_path, "p.las", text)
    ds = geogen.ingest(path, tmp_path / "p.zarr")
    assert str(ds["curve"].values[0]) == "DTCO"  # DTCO before DT; the shear curve never by default
    assert str(ds["other_curves"].values[0]) == "DT"
    np.testing.assert_allclose(ds["velocity"].values[0], 304800.0 / 200.0, rtol=1e-6)
    np.testing.assert_allclose(ds["depth"].values, FT * np.array([10.0, 11.0, 12.0]), atol=1e-4)
    ds = geogen.ingest(path, tmp_path / "p2.zarr", curve="dt")
    assert str(ds["curve"].values[0]) == "DT"
    np.testing.assert_allclose(ds["velocity"].values[0], 3048.0, rtol=1e-6)


def test_several_wells_with_positions(tmp_path, capsys):
    a = write(tmp_path, "a.las", las20(" DT.US/F : SONIC\n", "10 100\n11 120\n12 -999.25\n", well="A-1"))
    b = write(tmp_path, "b.las", las20(" DT.US/M : SONIC\n", "10 400\n11 250\n12 500\n", well="B-2").replace(
        "STRT.M   10.0", "STRT.M   11.0").replace("10 400\n11 250\n12 500", "11 400\n12 250\n13 500"))
    csv = write(tmp_path, "pos.csv", "name,x\nA-1,1200\nb,2500.5\n")  # matched by name and by file name
    cli("ingest", str(a), str(b), "--out", str(tmp_path / "ab.zarr"), "--positions", str(csv))
    assert "well A-1 at x = 1200 m: logged 10 .. 11 m" in capsys.readouterr().out
    ds = open_store(tmp_path / "ab.zarr", kind="wells")
    np.testing.assert_allclose(ds["depth"].values, [10.0, 11.0, 12.0, 13.0])
    np.testing.assert_allclose(ds["velocity"].values, [[3048.0, 2540.0, np.nan, np.nan],
                                                      [np.nan, 2500.0, 4000.0, 2000.0]], rtol=1e-6)
    np.testing.assert_allclose(ds["position_x"].values, [1200.0, 2500.5])
    cli("ingest", str(a), "--out", str(tmp_path / "a.zarr"), "--position", "A-1=700")
    assert float(open_store(tmp_path / "a.zarr")["position_x"].values[0]) == 700.0
    msg = cli_error(capsys, "ingest", str(a), "--out", str(tmp_path / "x.zarr"), "--position", "NOPE=1")
    assert "no well named 'NOPE'" in msg and "A-1" in msg
    assert not (tmp_path / "x.zarr").exists()


def test_lasio_built_file(tmp_path):
    lasio = pytest.importorskip("lasio")
    las = lasio.LASFile()
    las.well["WELL"].value = "LASIO-1"
    las.well["UWI"].value = "05-123-45678"
    depth_ft = np.arange(3000.0, 3002.5, 0.5)
    dtc = np.array([90.0, 95.0, np.nan, 110.0, 60.0])
    las.append_curve("DEPT", depth_ft, unit="ft")
    las.append_curve("GR", np.full(5, 75.0), unit="gAPI")
    las.append_curve("DTC", dtc, unit="us/ft", descr="compressional slowness")
    path = tmp_path / "lasio.las"
    with open(path, "w") as fh:
        las.write(fh, version=2.0)
    ds = geogen.ingest(path, tmp_path / "l.zarr")
    np.testing.assert_allclose(ds["depth"].values, depth_ft * FT, atol=1e-4)
    np.testing.assert_allclose(ds["velocity"].values[0], 304800.0 / dtc, rtol=1e-6)
    assert (str(ds["name"].values[0]), str(ds["uwi"].values[0]), str(ds["curve"].values[0])) == \
        ("LASIO-1", "05-123-45678", "DTC")


def test_bad_input_is_one_line_exit_2_and_no_store(tmp_path, capsys):
    out = tmp_path / "w.zarr"
    no_sonic = write(
        tmp_path, "gr.las", las20(" GR.GAPI : GAMMA\n DTS.US/F : SHEAR\n", "10 50 200\n11 60 210\n12 70 220\n")
    )
    msg = cli_error(capsys, "ingest", str(no_sonic), "--out", str(out))
    assert "gr.las" in msg and "no compressional sonic" in msg and "GR (GAPI), DTS (US/F)" in msg
    bad_unit = write(tmp_path, "unit.las", las20(" DT.MS/FT : SONIC\n", "10 1\n11 1\n12 1\n"))
    msg = cli_error(capsys, "ingest", str(bad_unit), "--out", str(out))
    assert "unit.las" in msg and "'MS/FT'" in msg and "cannot convert" in msg
    bad_depth = write(tmp_path, "depth.las", las20(" DT.US/F : SONIC\n", "10 100\n11 100\n12 100\n", depth_unit="KFT"))
    msg = cli_error(capsys, "ingest", str(bad_depth), "--out", str(out))
    assert "depth unit 'KFT'" in msg
    empty = write(tmp_path, "null.las", las20(" DT.US/F : SONIC\n", "10 -999.25\n11 -999.25\n12 5\n"))
    msg = cli_error(capsys, "ingest", str(empty), "--out", str(out))
    assert "null.las" in msg and "no valid value" in msg and "2 NULL, 1 outside 1000-7000 m/s" in msg
    not_las = write(tmp_path, "notes.las", "this is not a log\n")
    msg = cli_error(capsys, "ingest", str(not_las), "--out", str(out))
    assert "notes.las" in msg and "not a LAS file" in msg
    msg = cli_error(capsys, "ingest", str(no_sonic), "--out", str(out), "--curve", "DTX")
    assert "no curve 'DTX'" in msg
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".w.zarr")]


def test_failed_ingest_keeps_an_existing_store(tmp_path, capsys):
    good = write(tmp_path, "w1.las", LAS20_M_USFT)
    geogen.ingest(good, tmp_path / "w.zarr")
    before = open_store(tmp_path / "w.zarr")["velocity"].values
    bad = write(tmp_path, "bad.las", las20(" GR.GAPI : GAMMA\n", "10 1\n11 1\n12 1\n"))
    cli_error(capsys, "ingest", str(good), str(bad), "--out", str(tmp_path / "w.zarr"))
    np.testing.assert_array_equal(open_store(tmp_path / "w.zarr")["velocity"].values, before)


def test_info_describes_a_wells_store(tmp_path, capsys):
    import json

    geogen.ingest(write(tmp_path, "w1.las", LAS20_M_USFT), tmp_path / "w.zarr", positions={"W-1": 1200.0})
    cli("info", str(tmp_path / "w.zarr"), "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "wells"
    (well,) = summary["wells"]
    assert well["name"] == "W-1" and well["uwi"] == "100123401234W500" and well["position_x_m"] == 1200.0
    assert well["logged_m"] == [1000.0, 1000.4] and well["valid_samples"] == 3
    assert (well["n_null"], well["n_out_of_range"]) == (1, 1) and well["conversion"] == "v = 304800 / DT (US/F)"
