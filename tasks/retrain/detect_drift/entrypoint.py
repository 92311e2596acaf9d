"""detect_drift: have production features drifted from the live model's training data?

Inputs:   /data/reference_data.csv, /data/prod_data.csv (read-only)
Outputs:  none; the share of drifted feature columns, each column's score and the decision
          are the result JSON
Exit:     0 retrain (share > threshold), 99 no drift or too few rows, 1 bad input
"""

import argparse

from mindpulse import step
from mindpulse.drift import DEFAULT_THRESHOLD, parse_threshold
from mindpulse.monitoring import detect_drift
from mindpulse.paths import Layout

cli = step.parser("detect_drift", __doc__)
cli.add_argument(
    "--threshold",
    type=parse_threshold,
    default=step.env("DRIFT_THRESHOLD", DEFAULT_THRESHOLD, parse_threshold),
    help="share of drifted feature columns above which to retrain [DRIFT_THRESHOLD]",
)
cli.add_argument(
    "--min-rows",
    type=int,
    default=step.env("MIN_DRIFT_ROWS", 100, int),
    help="fewest production rows to judge drift on [MIN_DRIFT_ROWS]",
)
cli.add_argument(
    "--force",
    action=argparse.BooleanOptionalAction,
    default=step.env("FORCE", False, step.flag),
    help="retrain whatever the drift [FORCE]",
)
args = cli.parse_args()
step.run("detect_drift", lambda: detect_drift(Layout.from_env(), args.threshold, args.min_rows, args.force))
