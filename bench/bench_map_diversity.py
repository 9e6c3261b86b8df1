"""How varied are a generator's velocity maps, and how close to the maps it trained on?

Stop 24 found that at the OpenFWI geometry the generated *maps*, more than their records,
hold the generated pairs back.  This prints, for each pairs store given and beside real
maps as the reference rows, the median MAE on [-1, 1] velocity (InversionNet's scale)

- to the nearest of the run's paired training maps (low: the generator copies its pairs),
- to the nearest of all the run's training velocity maps,
- to the nearest other map among ``--n`` maps of the same kind (low: the maps are less
  varied than real ones; compare with the paired training maps' row, same ``--n``).

Only training and validation maps are read: the test pairs stay unseen, so this can guide
generator work without touching the InversionNet test.

    python bench/bench_map_diversity.py RUN_DIR STORE [STORE ...] [--n N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from geogen.data.datasets import acquisition_of
from geogen.data.store import open_store
from geogen.evaluation.run_inputs import RunInputs


def maps(path: str | Path, kind: str, index: np.ndarray | None = None) -> np.ndarray:
    """Velocity maps (sample, z, x) of a store, optionally only the rows ``index``."""
    v = open_store(path, kind=kind)["velocity"]
    v = v.transpose(v.dims[0], "z", "x")
    if index is not None:
        v = v.isel({v.dims[0]: index})
    return v.values.astype(np.float32)


def nearest_mae(a: np.ndarray, reference: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
    """Per map of ``a``, the mean absolute difference (m/s) to its nearest map in ``reference``."""
    x = torch.from_numpy(a.reshape(len(a), -1))
    r = torch.from_numpy(reference.reshape(len(reference), -1))
    d = torch.cdist(x, r, p=1) / x.shape[1]
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=None,
                        help="maps per set for the among-themselves figure (default: the paired training maps' count, "
                             "so the real row is there to compare with)")
    args = parser.parse_args()

    inputs = RunInputs.locate(args.run)  # the run's stores, resolved as geogen evaluate resolves them
    acquisition = acquisition_of(open_store(inputs.pairs_store, kind="pairs"))
    scale = 2.0 / (acquisition.vmax - acquisition.vmin)  # m/s -> [-1, 1] units, InversionNet's scale
    paired_train = maps(inputs.pairs_store, "pairs", inputs.part("pairs", "train"))
    all_train = maps(inputs.velocity_store, "velocity", inputs.part("velocity", "train"))
    args.n = args.n or len(paired_train)
    rows: list[tuple[str, np.ndarray, bool]] = [  # (name, maps, whether they are training maps themselves)
        ("real: validation pairs' maps",
         maps(inputs.pairs_store, "pairs", inputs.part("pairs", "validation")), False),
        ("real: paired training maps", paired_train, True),
    ]
    rows += [(str(store), maps(store, "pairs"), False) for store in args.stores]
    print(f"{args.run}: {len(paired_train)} paired training maps, {len(all_train)} training velocity maps; "
          "median MAE on [-1, 1] velocity to the nearest map")
    w = max(len(name) for name, _, _ in rows)
    print(f"{'maps':<{w}} {'paired train':>13} {'all train':>10} {'among ' + str(args.n):>12}")
    for name, v, is_training in rows:
        among = v[: args.n]
        spread = (f"{np.median(nearest_mae(among, among, exclude_self=True)) * scale:.4f}"
                  if len(among) >= args.n else f"(< {args.n} maps)")
        if is_training:  # a training map is its own nearest training map
            to_pairs = to_all = "-"
        else:
            to_pairs = f"{np.median(nearest_mae(v, paired_train)) * scale:.4f}"
            to_all = f"{np.median(nearest_mae(v, all_train)) * scale:.4f}"
        print(f"{name:<{w}} {to_pairs:>13} {to_all:>10} {spread:>12}")


if __name__ == "__main__":
    main()
