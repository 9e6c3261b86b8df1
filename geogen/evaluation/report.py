"""A short Markdown report per run: the three questions, their numbers, their pictures.

It reads what validation and evaluation wrote (``run_dir/validation.json``,
``run_dir/evaluation/evaluation.json``) so it can be rebuilt at any time without
rerunning anything, and links the PNGs by relative path so the folder can be moved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _num(value: Any, fmt: str = ".5g") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "n/a"


def _spread(result: dict[str, Any], key: str) -> str:
    """``mean ± std`` over seeds when a std was measured, else the value."""
    std = result.get(f"{key}_std")
    return _num(result.get(key)) + (f" ± {_num(std, '.2g')}" if isinstance(std, (int, float)) else "")


def inversionnet_table(inv: dict[str, Any]) -> list[str]:
    """The (a)/(b)/(c) table (mean ± std over seeds) and the MAE gain line, from evaluate()'s ``inversionnet``."""
    lines = ["| training set | pairs | MAE | MSE | SSIM |", "|---|---|---|---|---|"]
    for key, label in (("a_real", "(a) real only"), ("b_real+generated", "(b) real + generated"),
                       ("c_real+simulated", "(c) real + simulated (upper bound)")):
        r = inv[key]
        lines.append(f"| {label} | {r['n_train']} | {_spread(r, 'mae')} | {_spread(r, 'mse')} | "
                     f"{_spread(r, 'ssim')} |")
    gain = inv.get("b_vs_a_mae_gain")
    return lines + ["", f"MAE gain of (b) over (a): **{_num(100 * gain if gain is not None else None, '.1f')} %**."]


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def validation_table(validation: dict[str, Any]) -> list[str]:
    """Markdown lines: each physics figure (median, p90) for the store beside the autoencoder floor.

    Shared by this report and the workflow's ``summary.md``.
    """
    lines = [f"Store `{validation.get('store')}` ({validation.get('origin')}, {validation.get('n_pairs')} pairs); "
             "each pair's velocity modelled with Devito and compared with its seismic.", "",
             "| figure | generated median | generated p90 | autoencoder floor median | floor p90 |",
             "|---|---|---|---|---|"]
    floor = validation.get("floor") or {}
    for key, label in (("physics_rel_l2", "relative L2"), ("physics_ssim", "SSIM (normalised record)"),
                       ("first_arrival_error_s", "first-arrival error (s)")):
        g, f = validation.get(key) or {}, floor.get(key) or {}
        lines.append(f"| {label} | {_num(g.get('median'))} | {_num(g.get('p90'))} | "
                     f"{_num(f.get('median'))} | {_num(f.get('p90'))} |")
    if "median_rel_l2_over_floor" in validation:
        lines += ["", f"Median relative L2 / floor: **{_num(validation['median_rel_l2_over_floor'], '.3g')}** "
                  "(the floor: held-out real pairs through the trained autoencoder)."]
    if "filter" in validation:
        f = validation["filter"]
        lines += ["", f"Filter rel L2 <= {f['threshold_rel_l2']:g}: kept {f['kept']}, dropped {f['dropped']} "
                  f"-> `{f['out']}`."]
    return lines


def render(validation: dict[str, Any] | None, evaluation: dict[str, Any] | None, pictures_dir: Path) -> str:
    lines = ["# geogen evaluation report", ""]
    lines += ["## 1. Physics consistency (Devito)", ""]
    if validation is None:
        lines += ["Not measured: run `geogen validate RUN_DIR/generated.zarr --run RUN_DIR`.", ""]
    else:
        lines += validation_table(validation)
        lines.append("")
    if evaluation is not None:
        pics = evaluation.get("pictures", {})

        def link(key: str, caption: str) -> list[str]:
            if key not in pics:
                return []
            return [f"![{caption}]({os.path.relpath(pics[key], pictures_dir)})", ""]

        lines += link("physics_errors", "distribution of physics errors")
        lines += link("pairs_sheet", "generated pairs, Devito records and differences")
        dist = evaluation.get("distribution")
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
        inv = evaluation["inversionnet"]
        st = inv["settings"]
        lines += ["## 3. Downstream payoff (InversionNet)", "",
                  f"Tested on {evaluation['test']['n']} held-out real pairs ({evaluation['test']['split']}); "
                  f"{st['steps']} AdamW steps each (lr {st['lr']:g}, wd {st['weight_decay']:g}, L1, batch "
                  f"{st['batch_size']}, width {st['width']}, {st['device']}).", "",
                  ] + inversionnet_table(inv) + [""]
        if "selection" in inv:
            seeds = st.get("seeds", [st.get("seed")])
            lines += [f"Weights scored: {inv['selection']} (validation pairs: {inv.get('validation', {}).get('n', 0)})"
                      f"; {len(seeds)} seed(s), mean ± sample std over seeds.", ""]
        lines += link("inversionnet_curves", "InversionNet training loss")
        lines += link("training_curves", "UB-Diff training curves")
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/evaluation/report.md`` from the saved results; return its path."""
    run = Path(run_dir)
    out_dir = run / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = render(_load(run / "validation.json"), _load(out_dir / "evaluation.json"), out_dir)
    target = out_dir / "report.md"
    tmp = target.with_name(".report.md.partial")
    tmp.write_text(text)
    os.replace(tmp, target)
    return target
