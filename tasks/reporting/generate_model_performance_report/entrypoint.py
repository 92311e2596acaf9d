"""generate_model_performance_report: Evidently classification quality of the live model on
production rows whose true outcome is known.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (read-only)
Outputs:  /reports/model_performance_report_<REPORT_STAMP>.html and its .json twin
Exit:     0 written, 99 no labelled production rows, 1 bad input
"""

from mindpulse import step
from mindpulse.paths import Layout, utc_stamp
from mindpulse.reporting import model_performance_report

cli = step.parser("generate_model_performance_report", __doc__)
cli.add_argument(
    "--stamp",
    default=step.env("REPORT_STAMP", utc_stamp()),
    help="YYYYMMDD_HHMMSS shared by the reports of one run [REPORT_STAMP]",
)
args = cli.parse_args()
step.run("generate_model_performance_report", lambda: model_performance_report(Layout.from_env(), args.stamp))
