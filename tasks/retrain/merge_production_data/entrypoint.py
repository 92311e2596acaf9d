"""merge_production_data: reference data + labelled production rows, validated and de-duplicated,
with the newest labelled rows held out to judge the new model on.

Inputs:   /data/reference_data.csv, /data/prod_data.csv
Outputs:  /data/training_data.csv, /data/evaluation_data.csv, /data/consumption.json (which
          production bytes were used, so archive_production_data moves exactly those),
          /data/quarantine/prod_data_quarantined_<RUN_STAMP>.csv when bad rows were set aside
Exit:     0 written, 1 bad input (nothing written)
"""

from mindpulse import options, step
from mindpulse.merge import DEFAULT_EVALUATION_SHARE, merge_production_data
from mindpulse.paths import Layout

cli = step.parser("merge_production_data", __doc__)
options.run_stamp(cli)
cli.add_argument(
    "--evaluation-share",
    type=float,
    default=step.env("EVALUATION_SHARE", DEFAULT_EVALUATION_SHARE, float),
    help="share of the labelled production rows, the newest, held out for the promotion gate [EVALUATION_SHARE]",
)
options.max_quarantine_share(cli)
args = cli.parse_args()
step.run(
    "merge_production_data",
    lambda: merge_production_data(Layout.from_env(), args.stamp, args.evaluation_share, args.max_quarantine_share),
)
