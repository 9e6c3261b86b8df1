"""Evaluation of generated pairs: physics consistency, distribution quality, downstream payoff.

- :func:`geogen.evaluation.physics_check.validate`: Devito check of every pair;
- :func:`geogen.evaluation.downstream.evaluate`: InversionNet (a) real, (b) + generated,
  (c) + simulated, plus the Fréchet feature distance and precision/recall;
- :mod:`geogen.evaluation.plots` and :mod:`geogen.evaluation.report`: pictures and report.

Submodules import torch or Devito only when used.
"""
