"""generate_data_drift_report: Evidently drift of production features against the reference,
judged by the same rule and threshold as the retrain pipeline's detect_drift.

Inputs:   /data/reference_data.csv, /data/prod_data.csv (read-only)
Outputs:  /reports/data_drift_report_<REPORT_STAMP>.html and its .json twin
Exit:     0 written, 99 too few production rows, 1 bad input
"""

from mindpulse import step
from mindpulse.drift import DEFAULT_THRESHOLD, parse_threshold
from mindpulse.paths import Layout, utc_stamp
from mindpulse.reporting import data_drift_report

cli = step.parser("generate_data_drift_report", __doc__)
cli.add_argument(
    "--stamp",
    default=step.env("REPORT_STAMP", utc_stamp()),
    help="YYYYMMDD_HHMMSS shared by the reports of one run [REPORT_STAMP]",
)
cli.add_argument(
    "--threshold",
    type=parse_threshold,
    default=step.env("DRIFT_THRESHOLD", DEFAULT_THRESHOLD, parse_threshold),
    help="share of drifted feature columns that counts as drift [DRIFT_THRESHOLD]",
)
cli.add_argument(
    "--min-rows",
    type=int,
    default=step.env("MIN_DRIFT_ROWS", 100, int),
    help="fewest production rows to judge drift on [MIN_DRIFT_ROWS]",
)
args = cli.parse_args()
step.run(
    "generate_data_drift_report",
    lambda: data_drift_report(Layout.from_env(), args.stamp, args.threshold, args.min_rows),
)
