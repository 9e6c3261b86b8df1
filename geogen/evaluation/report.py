"""A short Markdown report per run: the three questions, their numbers, their pictures.

It reads what validation and evaluation wrote (``run_dir/validation.json``,
``run_dir/evaluation/evaluation.json``) so it can be rebuilt at any time without
rerunning anything, and links the PNGs by relative path so the folder can be moved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geogen.evaluation.results import ArmResult, Comparison, Evaluation
from geogen.run.atomic import atomic_write
from geogen.run.rundir import RunDir


def _num(value: Any, fmt: str = ".5g") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "n/a"


def spread(result: ArmResult, key: str, fmt: str = ".5g", std_fmt: str = ".2g") -> str:
    """``mean ± std`` over seeds of figure ``key`` (mae, mse, ssim) when a std was measured, else the value."""
    value, std = getattr(result, key, None), getattr(result, f"{key}_std", None)
    return _num(value, fmt) + (f" ± {_num(std, std_fmt)}" if isinstance(std, (int, float)) else "")


def comparison_lines(comparisons: Mapping[str, Comparison]) -> list[str]:
    """One sentence per comparison: the MAE gain and whether it exceeds the seeds' spread."""
    lines = []
    for name, c in comparisons.items():
        better, other = name.split("_vs_")
        gain = c.mae_gain
        text = f"MAE of ({better}) vs ({other}): {_num(100 * gain if gain is not None else None, '.1f')} % lower"
        if c.spread is not None:
            verdict = "more" if c.beyond_spread else "not more"
            text += (f"; difference {_num(c.mae_difference, '.3g')}, {verdict} than the seeds' spread "
                     f"{_num(c.spread, '.2g')}")
        else:
            text += " (one seed: no spread measured)"
        lines.append(text + ".")
    return lines


def inversionnet_table(arms: Mapping[str, ArmResult], comparisons: Mapping[str, Comparison]) -> list[str]:
    """The arms table (mean ± std over seeds; arms not run say why) and the comparison lines."""
    lines = ["| arm | pairs | MAE | MSE | SSIM |", "|---|---|---|---|---|"]
    for r in arms.values():
        if not r.trained:
            lines.append(f"| {r.label} | - | not run: {r.skipped} | | |")
            continue
        lines.append(f"| {r.label} | {r.n_train} | {spread(r, 'mae')} | {spread(r, 'mse')} | {spread(r, 'ssim')} |")
    return lines + [""] + comparison_lines(comparisons)


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


SCATTERED_SENTENCE = (
    "The scattered part is the record minus its direct-wave record (Devito in a homogeneous medium at "
    "the mean velocity of the map's top row): the part of the record that the map below the surface "
    "controls.  A generator that outputs the direct wave alone scores exactly 1 on it."
)


def physics_rows(validation: dict[str, Any]) -> list[tuple[str, int | None, dict[str, Any]]]:
    """The physics table's rows (label, pairs, figures): generated, trivial, floor, its trivial, reconstruction.

    Shared by the Markdown tables and ``geogen validate``'s terminal output; rows a
    summary lacks (no run directory, an older validation.json) are left out.
    """
    n = validation.get("n_pairs")
    rows = [(f"{validation.get('origin') or 'stored'} pairs (reference: Devito of their own map)", n, validation)]
    if "trivial" in validation:
        rows.append(("trivial: direct wave alone, same maps", n, validation["trivial"]))
    floor = validation.get("floor")
    if floor:
        label, n_floor = "floor: autoencoder on held-out test pairs", floor.get("n_pairs")
        rows.append((f"{label} (reference: Devito of the decoded map)" if "reference" in floor
                     else f"{label} (reference: the true map's record; older, not like for like)", n_floor, floor))
        if "trivial" in floor:
            rows.append(("trivial on the floor's maps", n_floor, floor["trivial"]))
        if "reconstruction" in floor:
            rows.append(("reconstruction: decoded record vs the true map's record (not a floor)", n_floor,
                         floor["reconstruction"]))
    return rows


def _median_p90(figure: dict[str, Any] | None, scale: float = 1.0) -> str:
    if not figure or figure.get("median") is None:
        return "-"
    return f"{_num(figure['median'] * scale, '.3g')} ({_num(figure['p90'] * scale, '.3g')})"


def validation_table(validation: dict[str, Any]) -> list[str]:
    """Markdown lines: the physics figures (median, p90 in brackets) of the store, the trivial row and the floor.

    Shared by the evaluation report and the workflow's ``summary.md``.
    """
    lines = [f"Store `{validation.get('store')}` ({validation.get('origin')}, {validation.get('n_pairs')} pairs); "
             "each pair's velocity modelled with Devito and compared with its seismic.  Medians, p90 in brackets.",
             "", "| record compared with Devito | pairs | relative L2, whole record | relative L2, scattered part | "
             "SSIM | first-arrival error (ms) |", "|---|---|---|---|---|---|"]
    for label, n, fig in physics_rows(validation):
        lines.append(f"| {label} | {n} | {_median_p90(fig.get('physics_rel_l2'))} | "
                     f"{_median_p90(fig.get('scattered_rel_l2'))} | {_median_p90(fig.get('physics_ssim'))} | "
                     f"{_median_p90(fig.get('first_arrival_error_s'), 1e3)} |")
    lines += ["", SCATTERED_SENTENCE]
    ratios = [(key, label) for key, label in (("median_physics_rel_l2_over_floor", "whole record"),
                                              ("median_scattered_rel_l2_over_floor", "scattered part"))
              if validation.get(key) is not None]
    if not ratios and validation.get("median_rel_l2_over_floor") is not None:
        ratios = [("median_rel_l2_over_floor", "whole record")]
    if ratios:
        lines += ["", "Generated median / floor median: " + "; ".join(
            f"{label} **{_num(validation[key], '.3g')}**" for key, label in ratios) + "."]
    if "filter" in validation:
        f = validation["filter"]
        lines += ["", f"Filter rel L2 <= {f['threshold_rel_l2']:g}: kept {f['kept']}, dropped {f['dropped']} "
                  f"-> `{f['out']}`."]
    return lines


def render(validation: dict[str, Any] | None, evaluation: Evaluation | None, pictures_dir: Path) -> str:
    lines = ["# geogen evaluation report", ""]
    lines += ["## 1. Physics consistency (Devito)", ""]
    if validation is None:
        lines += ["Not measured: run `geogen validate RUN_DIR/generated.zarr --run RUN_DIR`.", ""]
    else:
        lines += validation_table(validation)
        lines.append("")
    if evaluation is not None:
        pics = evaluation.pictures or {}

        def link(key: str, caption: str) -> list[str]:
            if key not in pics:
                return []
            return [f"![{caption}]({os.path.relpath(pics[key], pictures_dir)})", ""]

        lines += link("physics_errors", "distribution of physics errors")
        lines += link("pairs_sheet", "generated pairs, Devito records and differences")
        dist = evaluation.distribution
        lines += ["## 2. Distribution quality", ""]
        if dist:
            lines += [f"{dist['name']}: {dist['features']}. Not comparable with Inception FID.", "",
                      "| modality | Fréchet generated vs real | Fréchet held-out real vs real | precision | recall |",
                      "|---|---|---|---|---|"]
            for m in ("velocity", "seismic"):
                e = dist.get(m, {})
                lines.append(f"| {m} | {_num(e.get('frechet_generated_vs_real'))} | "
                             f"{_num(e.get('frechet_real_heldout_vs_real'))} | {_num(e.get('precision'), '.3f')} | "
                             f"{_num(e.get('recall'), '.3f')} |")
            lines.append("")
        else:
            lines += ["Not measured.", ""]
        inv = evaluation.inversionnet
        st = inv["settings"]
        lines += ["## 3. Downstream payoff (InversionNet)", "",
                  f"Tested on {evaluation.test['n']} held-out real pairs ({evaluation.test['split']}); "
                  f"{st['steps']} AdamW steps each (lr {st['lr']:g}, wd {st['weight_decay']:g}, L1, batch "
                  f"{st['batch_size']}, width {st['width']}, {st['device']}).  Each arm adds as many extra pairs "
                  "to the real training pairs.", "",
                  ] + inversionnet_table(evaluation.arms, evaluation.comparisons) + [""]
        if "selection" in inv:
            seeds = st.get("seeds", [st.get("seed")])
            lines += [f"Weights scored: {inv['selection']} (validation pairs: {inv.get('validation', {}).get('n', 0)})"
                      f"; {len(seeds)} seed(s), mean ± sample std over seeds."
                      + (f"  Network scored: {inv['weights']}." if "weights" in inv else ""), ""]
        lines += link("inversionnet_curves", "InversionNet training loss")
        lines += link("training_curves", "UB-Diff training curves")
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/evaluation/report.md`` from the saved results; return its path."""
    run = RunDir(run_dir)
    run.evaluation.mkdir(parents=True, exist_ok=True)
    evaluation = _load(run.evaluation_json)
    text = render(_load(run.validation), None if evaluation is None else Evaluation.from_json(evaluation),
                  run.evaluation)
    return atomic_write(run.evaluation_report, text)
