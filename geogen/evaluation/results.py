"""Typed results of the downstream evaluation, with their JSON form.

:class:`ArmResult` is one InversionNet arm (its figures over seeds, :class:`SeedResult` per
seed, or why it was skipped), :class:`Comparison` one pair of arms, and :class:`Evaluation`
the whole summary: what ``evaluation.json`` holds and ``geogen evaluate --json`` prints.

``to_json()`` gives back exactly the keys a result was built or read with (a figure measured
as ``None`` stays ``null``; keys that older files lack stay absent; extra keys are kept), so a
result read from an older ``evaluation.json`` or a workflow marker writes back what it read.
Arm keys and comparison names come from :mod:`geogen.evaluation.config` (``ARMS``,
``COMPARISONS``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from geogen.evaluation.config import GENERATED, REAL_ONLY, SIMULATED, comparison_name


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        """The JSON form: the fields that were given (``None`` included), then any extra keys."""
        return self.model_dump(exclude_unset=True)


class SeedResult(_Result):
    """One InversionNet training of an arm: its test figures and how its weights were chosen."""

    seed: int
    mae: float
    mse: float
    ssim: float
    best_step: int | None = None
    validation_mae: float | None = None
    final_train_l1: float | None = None
    train_s: float | None = None
    reused: str | None = Field(None, description="the kept training (evaluation/fits) these figures came from, "
                                                 "when this evaluation did not train the seed again")


class ArmResult(_Result):
    """One arm: mean and sample std over seeds of the test figures, or ``skipped`` with the reason."""

    label: str
    extra: str | None = None
    source: str | None = None
    n_train: int | None = None
    n_extra: int | None = None
    mae: float | None = None
    mae_std: float | None = None
    mse: float | None = None
    mse_std: float | None = None
    ssim: float | None = None
    ssim_std: float | None = None
    best_step: list[int] | int | None = None
    final_train_l1: float | None = None
    train_s: float | None = None
    per_seed: list[SeedResult] | None = None
    skipped: str | None = None

    @property
    def trained(self) -> bool:
        """Whether the arm was trained (else ``skipped`` says why)."""
        return self.mae is not None

    def without_seeds(self) -> ArmResult:
        """The same result without its per-seed list (the workflow's marker keeps only the figures)."""
        return ArmResult.model_validate({k: v for k, v in self.to_json().items() if k != "per_seed"})


class Comparison(_Result):
    """How much lower one arm's MAE is than another's, and whether that exceeds the seeds' spread."""

    mae_gain: float | None = None
    mae_difference: float | None = None
    spread: float | None = None
    beyond_spread: bool | None = None
    mae_gain_per_seed: list[float | None] | None = None


class Evaluation(_Result):
    """The summary of one evaluation (``run_dir/evaluation/evaluation.json``)."""

    run_dir: str | None = None
    generated_store: str | None = None
    test: dict[str, Any] = Field(default_factory=dict, description="the held-out real pairs: store, split, n")
    inversionnet: dict[str, Any] = Field(default_factory=dict, description="settings, selection, validation")
    arms: dict[str, ArmResult] = Field(default_factory=dict, description="arm key (ARMS) -> its result")
    comparisons: dict[str, Comparison] = Field(default_factory=dict, description="<better>_vs_<other> -> figures")
    distribution: dict[str, Any] | None = None
    pictures: dict[str, str] | None = None
    report: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        """An evaluation as written by any geogen, also before arms had their own key (a, b, c only)."""
        data = dict(data)
        data["arms"], data["comparisons"] = arms_and_comparisons(data)
        return cls.model_validate(data)


#: Keys of evaluation.json before the arms were named (a, b, c only).
_OLD_ARM_KEYS = {REAL_ONLY.key: "a_real", GENERATED.key: "b_real+generated", SIMULATED.key: "c_real+simulated"}
_OLD_LABELS = {REAL_ONLY.key: "(a) real only", GENERATED.key: "(b) real + generated",
               SIMULATED.key: "(c) real + simulated (upper bound)"}


def arms_and_comparisons(data: dict[str, Any]) -> tuple[dict[str, ArmResult], dict[str, Comparison]]:
    """The typed arms and comparisons of an evaluation summary or a workflow marker, of any geogen version."""
    if data.get("arms"):
        arms = {key: ArmResult.model_validate(arm) for key, arm in data["arms"].items()}
    else:
        inv = data.get("inversionnet") or {}
        arms = {key: ArmResult.model_validate({"label": _OLD_LABELS[key], **inv[old]})
                for key, old in _OLD_ARM_KEYS.items() if old in inv}
    comparisons = data.get("comparisons")
    if comparisons is None and "b_vs_a_mae_gain" in (data.get("inversionnet") or {}):
        comparisons = {comparison_name(GENERATED, REAL_ONLY): {"mae_gain": data["inversionnet"]["b_vs_a_mae_gain"]}}
    return arms, {name: Comparison.model_validate(c) for name, c in (comparisons or {}).items()}
