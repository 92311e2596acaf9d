"""Shared logic of the MindPulse pipeline steps.

Start at `catalog`: every step declared once (image, volumes, parameters, result). `protocol` is how a step
runs (last line JSON, exit 99 skipped, one ERROR line); `parameters` and `results` are the vocabulary.

Modules that need pandas, scikit-learn or Evidently import them at the top, so a step only imports the
modules its image family can load. Standard library alone: `catalog`, `parameters`, `results`, `protocol`,
`paths`, `atomic`, `registry`, `production`, `retention`, `history`, `dashboard`, `messages`, `summaries`,
`webhook`.
"""
