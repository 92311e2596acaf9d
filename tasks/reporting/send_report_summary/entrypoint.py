"""send_report_summary: the figures of this reporting run, the history chart page, a message.

Inputs:   /reports/*_report_<REPORT_STAMP>.json, /reports/history.jsonl, /models/current (read-only)
Outputs:  /reports/report_summary_<REPORT_STAMP>.json, a line in /reports/history.jsonl,
          /reports/index.html; a POST to WEBHOOK_URL when set (never fails the run)
Exit:     0 done, 1 the reports volume cannot be written
"""

from mindpulse import step
from mindpulse.paths import Layout, utc_stamp
from mindpulse.summaries import report_summary

cli = step.parser("send_report_summary", __doc__)
cli.add_argument(
    "--stamp",
    default=step.env("REPORT_STAMP", utc_stamp()),
    help="YYYYMMDD_HHMMSS shared by the reports of one run [REPORT_STAMP]",
)
cli.add_argument(
    "--threshold",
    type=float,
    default=step.env("DRIFT_THRESHOLD", 0.3, float),
    help="drift threshold drawn on the chart [DRIFT_THRESHOLD]",
)
cli.add_argument(
    "--webhook-url",
    default=step.env("WEBHOOK_URL", None),
    help="Slack-compatible webhook to POST the summary to [WEBHOOK_URL]",
)
args = cli.parse_args()
step.run(
    "send_report_summary",
    lambda: report_summary(Layout.from_env(), args.stamp, args.threshold, args.webhook_url),
)
