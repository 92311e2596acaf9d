"""detect_drift: have production features drifted from the live model's training data?

Inputs:   /data/reference_data.csv, /data/prod_data.csv (read-only)
Outputs:  none; the share of drifted feature columns, each column's score and the decision
          are the result JSON
Exit:     0 retrain (share > threshold), 99 no drift or too few rows, 1 bad input
"""

from mindpulse import options, step
from mindpulse.monitoring import detect_drift
from mindpulse.paths import Layout

cli = step.parser("detect_drift", __doc__)
options.drift(cli, "above which to retrain")
options.force(cli, "drift")
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "detect_drift",
    lambda: detect_drift(Layout.from_env(), args.threshold, args.min_rows, args.force, args.max_quarantine_share),
)
