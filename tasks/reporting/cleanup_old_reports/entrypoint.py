"""cleanup_old_reports: keep the newest reports of each kind, never a file of another kind.

Inputs:   /reports/<kind>_report_YYYYMMDD_HHMMSS.{html,json}
Outputs:  older reports of each kind deleted, each with its JSON twin
Exit:     0 done, 1 bad parameter
"""

from mindpulse import step
from mindpulse.housekeeping import cleanup_old_reports
from mindpulse.paths import Layout

cli = step.parser("cleanup_old_reports", __doc__)
cli.add_argument(
    "--max-reports",
    type=int,
    default=step.env("MAX_REPORTS", 10, int),
    help="reports of each kind to keep [MAX_REPORTS]",
)
args = cli.parse_args()
step.run("cleanup_old_reports", lambda: cleanup_old_reports(Layout.from_env(), args.max_reports))
