"""The reporting pipeline's room: the Evidently reports and workspace, the history and dashboard, retention and
the volumes' sizes.

May import the shared core (the top-level `mindpulse` modules); the run summaries draw the dashboard from it.
"""
