"""``geogen ingest``, ``geogen info`` and ``geogen export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from geogen.cli.app import app
from geogen.cli.options import json_flag, option, out_option, scheduler_option, workers_option
from geogen.errors import InputError


def parse_header_overrides(items: list[str]) -> dict[str, int]:
    """``["offset=37", "ffid=9"]`` -> ``{"offset": 37, "ffid": 9}``; bytes are 1-based."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, byte = item.partition("=")
        if not sep or not name or not byte.strip().isdigit():
            raise InputError(f"--header {item!r}: expected NAME=BYTE, e.g. --header offset=37")
        value = int(byte)
        if not 1 <= value <= 237:
            raise InputError(
                f"--header {item!r}: byte must be between 1 and 237 (a 4-byte field in the 240-byte trace header)"
            )
        out[name.strip().lower()] = value
    return out


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="SEG-Y file, OpenFWI .npy files (model*.npy with data*.npy), "
                                       "LAS well logs, Zarr or netCDF store."),
    out: Optional[Path] = out_option("Target store (default: first PATH with .zarr)."),
    kind: str = typer.Option("auto", "--kind", help="auto|survey|poststack|velocity|wells: override detection."),
    header: list[str] = typer.Option([], "--header", help="Override a trace-header location, NAME=BYTE (1-based); "
                                     "repeatable."),
    duplicates: str = typer.Option("error", "--duplicates", help="error|first|last: what to do with duplicate traces."),
    json_out: bool = json_flag("Print only the new store's summary, as JSON, on stdout."),
    dz: Optional[float] = option("SEG-Y velocity: depth sample spacing in m (default: from the sample interval "
                                 "field)."),
    dx: Optional[float] = option("SEG-Y velocity section: trace spacing in m (default: from the trace coordinates)."),
    depth_unit: Optional[str] = option("SEG-Y velocity: read the sample interval field as auto|m|mm (auto: >=100 is "
                                       "mm)."),
    geographic: bool = typer.Option(False, "--geographic", help="SEG-Y: keep coordinates given in arc-seconds or "
                                    "degrees (bytes 89-90 = 2, 3, 4) as degrees instead of refusing them."),
    workers: Optional[int] = workers_option("SEG-Y: worker processes (default: one per core)."),
    scheduler: Optional[str] = scheduler_option("SEG-Y: address of a running dask scheduler whose workers fill the "
                                                "store (they must see the file and the output folder)."),
    curve: Optional[str] = option("LAS: the sonic or velocity curve to read (default: the first of DTCO, DTC, DT, "
                                  "..., AC, then VP, VEL)."),
    position: list[str] = typer.Option([], "--position", help="LAS: a well's position along the line, "
                                       "NAME=X_METRES; repeatable."),
    positions: Optional[Path] = option("LAS: CSV of well positions along the line (columns name,x)."),
) -> None:
    """Turn SEG-Y, OpenFWI .npy, Zarr or netCDF data into a geogen Zarr store."""
    import warnings

    from geogen.io import write_ingest

    if kind not in ("auto", "survey", "poststack", "velocity", "pairs", "wells"):
        raise InputError(f"--kind {kind!r}: choose auto, survey, poststack, velocity or wells")
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    extra = {k: v for k, v in {"dz": dz, "dx": dx, "depth_unit": depth_unit, "workers": workers,
                               "scheduler": scheduler}.items() if v is not None}
    if geographic:
        extra["geographic"] = True
    extra.update(las_options(curve, position, positions))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target, summary = write_ingest(paths, out, kind=kind, headers=parse_header_overrides(header),
                                       duplicates=duplicates, **extra)
    for w in caught:  # after success only, one line each: what the file's headers got wrong
        if issubclass(w.category, UserWarning) and type(w.message).__name__ == "SegyWarning":
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if summary is None:  # the adapter did not report one: read the new store (no value ranges)
        from geogen.summary import info

        summary = info(target, value_ranges=False)
    if json_out:
        print(json.dumps(summary, indent=2))
    else:
        typer.echo(format_summary(summary))


def las_options(curve: str | None, position: list[str], positions: Path | None) -> dict:
    """The LAS adapter's options (``--curve``, ``--position``, ``--positions``), only those given.

    The LAS adapter (and xarray with it) is imported only when one is given, so that other
    ingests do not pay for it.
    """
    out: dict = {"curve": curve} if curve else {}
    if position:
        from geogen.adapters.las import parse_position_options

        out["positions"] = parse_position_options(position)
    if positions is not None:
        out["positions_file"] = positions
    return out


@app.command()
def info(
    store: Path = typer.Argument(..., help="A geogen store (Zarr directory or netCDF file)."),
    json_out: bool = json_flag(),
) -> None:
    """Summarise a store: kind, dimensions, geometry, sample interval, value range, size."""
    from geogen.summary import info as summarise

    summary = summarise(store)
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    typer.echo(format_summary(summary))


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['path']}: {summary['kind']} store" + (f" ({summary['origin']})" if summary.get("origin") else "")
    ]
    lines.append("  dimensions: " + ", ".join(f"{k}={v}" for k, v in summary["dimensions"].items()))
    for name, axis in summary["axes"].items():
        if "min" in axis:
            step = f" step {axis['step']:g}" if "step" in axis else ""
            lines.append(f"  {name}: {axis['min']:g} .. {axis['max']:g}{step} {axis.get('units') or ''}".rstrip())
    if "sample_interval_s" in summary:
        lines.append(f"  sample interval: {summary['sample_interval_s'] * 1e3:g} ms")
    acq = summary.get("acquisition")
    if acq:
        lines.append(
            f"  acquisition: {acq['grid'][0]} x {acq['grid'][1]} grid "
            f"at {acq['spacing_m'][0]:g} x {acq['spacing_m'][1]:g} m, "
            f"{acq['sources']} sources, {acq['receivers']} receivers, {acq['nt']} samples at {acq['dt_s'] * 1e3:g} ms, "
            f"{acq['frequency_hz']:g} Hz Ricker"
        )
    for name, rng in summary.get("geometry", {}).items():
        lines.append(f"  {name}: {rng['min']:g} .. {rng['max']:g} m")
    for name, var in summary["variables"].items():
        if summary["kind"] == "wells" and "depth" not in var["dims"]:
            continue  # per-well names, curves and counts: in the well lines below
        rng = f" range {var['min']:.6g} .. {var['max']:.6g}" if "min" in var else ""
        units = f" {var['units']}" if var.get("units") not in (None, "", "1") else ""  # "1": dimensionless
        bad = f" ({var['nonfinite']} NaN/Inf)" if var.get("nonfinite") else ""
        lines.append(f"  {name}({', '.join(var['dims'])}) {var['dtype']}{rng}{units}{bad}")
    for w in summary.get("wells", []):
        where = f" at x = {w['position_x_m']:g} m" if w.get("position_x_m") is not None else ""
        logged = f"logged {w['logged_m'][0]:g} .. {w['logged_m'][1]:g} m" if w.get("logged_m") else "no valid sample"
        lines.append(f"  well {w['name']}{where}: {logged}, {w['valid_samples']} valid samples, "
                     f"{w.get('n_null', 0)} null, {w.get('n_out_of_range', 0)} out of range; {w['conversion']}")
    if "missing_traces" in summary:
        lines.append(f"  traces: {summary['live_traces']} live, {summary['missing_traces']} missing")
    if "size_on_disk_bytes" in summary:
        ratio = summary.get("uncompressed_bytes", 0) / max(summary["size_on_disk_bytes"], 1)
        size = summary["size_on_disk_bytes"]
        shown = f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"
        lines.append(f"  size on disk: {shown}" + (f" (compression {ratio:.1f}x)" if ratio else ""))
    return "\n".join(lines)


@app.command()
def export(
    store: Path = typer.Argument(..., help="A geogen store."),
    format: str = typer.Option(..., "--format", "-f", help="segy|netcdf|zarr"),  # noqa: A002
    out: Path = out_option("Output file (SEG-Y, netCDF) or directory.", required=True),
    segy_format: Optional[str] = option("SEG-Y sample format: ibm|ieee|int32|int16|int8 (default: the original's, "
                                        "IEEE for geogen's own stores)."),
) -> None:
    """Write a store out as SEG-Y, netCDF or Zarr."""
    from geogen.io import export as run_export

    extra = {"segy_format": segy_format} if segy_format else {}
    path = run_export(store, out, format=format, **extra)
    typer.echo(f"wrote {path}")
