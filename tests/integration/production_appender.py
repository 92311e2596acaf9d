"""Plays the serving API: appends production rows to /data/prod_data.csv through the append protocol
(`mindpulse.production.append_lines`), a batch of 1 to 5 lines per append, until ROWS rows are written
or SIGTERM arrives. Runs inside a mindpulse family image that has numpy (family-pandas), as the step user.

Every row can be told apart: row n (counting from FIRST, default 1) carries n in the six fractional digits of its
timestamp (2026-01-01T12:00:00.000042+00:00 is row 42) and of its Physical_Activity (minutes + n / 10**6),
so it is recognisable in the archive and prod_data.csv by its timestamp, and in the training and
evaluation sets (which keep only features and label) by its features, which no other row shares.

Environment: ROWS (0: until SIGTERM), FIRST (the first row's number), PAUSE (seconds between appends), SEED,
UNLABELLED_SHARE (rows whose outcome is not known yet), LABEL (when set, the outcome of every labelled row).
Stdout: {"event": "appending"} once the first batch is in, then, when it stops,
{"event": "stopped", "rows": N, "appends": [[unix time the batch was in, its rows], ...]}.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime

import numpy as np

from mindpulse import production, schema
from mindpulse.demo import synthetic
from mindpulse.paths import Layout

# Row numbers live in six decimal digits.
MOST_ROWS = 999_999
# Features are drawn for this many rows and then reused: the row number alone keeps rows distinct
# (and apart from the reference rows, whose activity is whole minutes).
FEATURE_POOL = 50_000


def main() -> None:
    rows = int(os.environ.get("ROWS", "0")) or MOST_ROWS
    first = int(os.environ.get("FIRST", "1"))
    pause = float(os.environ.get("PAUSE", "0"))
    unlabelled_share = float(os.environ.get("UNLABELLED_SHARE", "0.3"))
    label = os.environ.get("LABEL", "")
    rng = np.random.default_rng(int(os.environ.get("SEED", "0")))
    stop_requested: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.append(signum))

    features = synthetic.lifestyle(min(rows, FEATURE_POOL), rng)
    probability = synthetic.depression_probability(features)
    outcome = (rng.random(len(features)) < probability).astype(int)
    unlabelled = rng.random(len(features)) < unlabelled_share
    records = features.to_dict("records")

    def line(number: int, now: datetime) -> str:
        index = number % len(records)
        values = dict(records[index])
        values["Physical_Activity"] = f"{int(values['Physical_Activity'])}.{number:06d}"
        values[schema.TIMESTAMP] = f"{now:%Y-%m-%dT%H:%M:%S}.{number:06d}+00:00"
        values[schema.PREDICTION] = int(probability[index] > 0.5)
        values[schema.ACTUAL] = "" if unlabelled[index] else label or outcome[index]
        return ",".join(str(values[column]) for column in schema.PRODUCTION_COLUMNS) + "\n"

    header = schema.header_line(schema.PRODUCTION_COLUMNS)
    layout = Layout.from_env()
    appends: list[tuple[float, int]] = []
    written = 0
    while written < rows and not stop_requested:
        batch = min(int(rng.integers(1, 6)), rows - written)
        now = datetime.now(UTC)
        lines = "".join(line(n, now) for n in range(first + written, first + written + batch))
        production.append_lines(layout, header, lines.encode())
        appends.append((time.time(), batch))
        written += batch
        if len(appends) == 1:
            print(json.dumps({"event": "appending"}), flush=True)
        time.sleep(pause)
    print(json.dumps({"event": "stopped", "rows": written, "appends": appends}), flush=True)


if __name__ == "__main__":
    main()
