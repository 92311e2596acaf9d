"""generate_data_drift_report: Evidently drift of production features against the reference,
judged by the same rule and threshold as the retrain pipeline's detect_drift.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current for the live version
          (all read-only)
Outputs:  /reports/data_drift_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 too few production rows, 1 bad input
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.reporting import data_drift_report

cli = step.parser("generate_data_drift_report", __doc__)
options.run_stamp(cli)
options.drift(cli, "that counts as drift")
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "generate_data_drift_report",
    lambda: data_drift_report(Layout.from_env(), args.stamp, args.threshold, args.min_rows, args.max_quarantine_share),
)
