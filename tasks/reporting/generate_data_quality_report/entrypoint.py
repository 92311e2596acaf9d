"""generate_data_quality_report: Evidently data summary of reference and production data.

Inputs:   /data/reference_data.csv, /data/prod_data.csv (production may be empty), /models/current
          for the live version (all read-only)
Outputs:  /reports/data_quality_report_<RUN_STAMP>.html and its .json twin
Exit:     0 written, 1 bad input
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.reporting import data_quality_report

cli = step.parser("generate_data_quality_report", __doc__)
options.run_stamp(cli)
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "generate_data_quality_report",
    lambda: data_quality_report(Layout.from_env(), args.stamp, args.max_quarantine_share),
)
