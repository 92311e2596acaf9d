"""check_production_data: are there enough new labelled production rows to retrain?

Inputs:   /data/prod_data.csv (read-only)
Outputs:  none; the decision and its reason are the result JSON
Exit:     0 retrain, 99 fewer labelled rows than the threshold, 1 bad input
"""

from mindpulse import options, step
from mindpulse.monitoring import check_production_data
from mindpulse.paths import Layout

cli = step.parser("check_production_data", __doc__)
cli.add_argument(
    "--threshold",
    type=int,
    default=step.env("RETRAIN_THRESHOLD", 1000, int),
    help="labelled rows that trigger a retrain [RETRAIN_THRESHOLD]",
)
options.force(cli, "count")
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "check_production_data",
    lambda: check_production_data(Layout.from_env(), args.threshold, args.force, args.max_quarantine_share),
)
