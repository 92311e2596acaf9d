"""check_data_availability: is there data to report on?

Inputs:   /data/reference_data.csv, /data/prod_data.csv, /models/current (all read-only)
Outputs:  none; row counts are the result JSON
Exit:     0 reference data valid (production data may be missing or empty: said in the result,
          and the production reports then skip themselves), 1 reference data missing or bad
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.reporting import check_data_availability

cli = step.parser("check_data_availability", __doc__)
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run("check_data_availability", lambda: check_data_availability(Layout.from_env(), args.max_quarantine_share))
