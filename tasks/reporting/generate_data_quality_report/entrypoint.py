"""generate_data_quality_report: Evidently data summary of reference and production data.

Inputs:   /data/reference_data.csv, /data/prod_data.csv (production may be empty), /models/current
          for the live version (all read-only)
Outputs:  /reports/data_quality_report_<REPORT_STAMP>.html and its .json twin
Exit:     0 written, 1 bad input
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.reporting import data_quality_report

cli = step.parser("generate_data_quality_report", __doc__)
options.report_stamp(cli)
args = cli.parse_args()
step.run("generate_data_quality_report", lambda: data_quality_report(Layout.from_env(), args.stamp))
