"""generate_model_performance_report: Evidently classification quality of the live model on
production rows whose true outcome is known.

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (read-only)
Outputs:  /reports/model_performance_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 99 no labelled production rows, 1 bad input
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.reporting import model_performance_report

cli = step.parser("generate_model_performance_report", __doc__)
options.run_stamp(cli)
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "generate_model_performance_report",
    lambda: model_performance_report(Layout.from_env(), args.stamp, args.max_quarantine_share),
)
