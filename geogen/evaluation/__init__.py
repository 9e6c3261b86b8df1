"""Evaluation of generated pairs: physics consistency, distribution quality, downstream payoff.

- :func:`geogen.evaluation.physics_check.validate`: Devito check of every pair;
- :func:`geogen.evaluation.downstream.evaluate`: InversionNet arms (a) real, (b) + generated,
  (b0) + direct-wave records, (p) + paired-only generator, (c) + simulated, plus the
  Fréchet feature distance and precision/recall (settings and the arms: :mod:`geogen.evaluation.config`;
  typed results: :mod:`geogen.evaluation.results`);
- :mod:`geogen.evaluation.plots` and :mod:`geogen.evaluation.report`: pictures and report.

Submodules import torch or Devito only when used.
"""
