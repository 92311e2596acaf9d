"""Shared logic of the MindPulse pipeline steps.

Modules that need pandas, scikit-learn or Evidently import them at the top, so a step only
imports the modules its image family can load: `paths`, `step`, `atomic`, `registry` and
`notify` use the standard library alone.
"""
