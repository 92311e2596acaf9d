"""The retrain pipeline's room: its triggers, the merge of production rows, training, and the promotion gate.

May import the shared core (the top-level `mindpulse` modules); nothing outside imports it but the catalog's
step declarations (by name), the demo tools and the benchmark.
"""
