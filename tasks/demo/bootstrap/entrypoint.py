"""bootstrap: seed an empty data volume with reference data and train the first model.

Inputs:   /data/student_lifestyle_100k.csv when present (the Kaggle file), else nothing
Outputs:  /data/reference_data.csv (the Kaggle file, or synthetic data with its schema),
          /models/versions/v0001/ and /models/current, /data/prod_data.csv.lock
Exit:     0 seeded or already seeded (existing files are never replaced), 1 bad input
"""

from mindpulse import options, step
from mindpulse.demo import bootstrap
from mindpulse.paths import Layout

cli = step.parser("bootstrap", __doc__)
cli.add_argument(
    "--rows",
    type=int,
    default=step.env("REFERENCE_ROWS", 100_000, int),
    help="synthetic reference rows to generate [REFERENCE_ROWS]",
)
options.seed(cli, 42)
options.selection_metric(cli, "the first model")
args = cli.parse_args()
step.run("bootstrap", lambda: bootstrap(Layout.from_env(), args.rows, args.seed, args.metric))
