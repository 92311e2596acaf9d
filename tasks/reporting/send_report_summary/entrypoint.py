"""send_report_summary: the figures of this reporting run, the history chart page, a message.

Inputs:   /reports/*_report_<RUN_STAMP>.json, /reports/history.jsonl, /models/current (read-only)
Outputs:  /reports/report_summary_<RUN_STAMP>.json, a line in /reports/history.jsonl,
          /reports/index.html; a POST to WEBHOOK_URL when set (never fails the run)
Exit:     0 done, 1 the reports volume cannot be written
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.summaries import report_summary

cli = step.parser("send_report_summary", __doc__)
options.run_stamp(cli)
cli.add_argument(
    "--threshold",
    type=options.parse_drift_threshold,
    default=step.env("DRIFT_THRESHOLD", options.DEFAULT_DRIFT_THRESHOLD, options.parse_drift_threshold),
    help="drift threshold drawn on the chart [DRIFT_THRESHOLD]",
)
options.webhook_url(cli)
args = cli.parse_args()
step.run(
    "send_report_summary",
    lambda: report_summary(Layout.from_env(), args.stamp, args.threshold, args.webhook_url),
)
