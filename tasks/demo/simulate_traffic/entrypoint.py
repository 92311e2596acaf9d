"""simulate_traffic: play the serving API: append predictions of the live model with outcomes.

Inputs:   /models/current/ (read-only)
Outputs:  rows appended to /data/prod_data.csv through the append protocol
Exit:     0 appended, 1 no model or bad parameters
"""

from mindpulse import options, step
from mindpulse.demo import simulate_traffic
from mindpulse.paths import Layout

cli = step.parser("simulate_traffic", __doc__)
cli.add_argument("--rows", type=int, default=step.env("ROWS", 1500, int), help="rows to append [ROWS]")
cli.add_argument(
    "--covariate-shift",
    type=float,
    default=step.env("COVARIATE_SHIFT", 0.0, float),
    help="lifestyle shift: 0 none, 1 moderate, 2 strong [COVARIATE_SHIFT]",
)
cli.add_argument(
    "--concept-shift",
    type=float,
    default=step.env("CONCEPT_SHIFT", 0.0, float),
    help="0..1 blend towards a different risk model [CONCEPT_SHIFT]",
)
cli.add_argument(
    "--unlabelled-share",
    type=float,
    default=step.env("UNLABELLED_SHARE", 0.0, float),
    help="share of rows whose outcome is not known yet [UNLABELLED_SHARE]",
)
options.seed(cli, None)
args = cli.parse_args()
step.run(
    "simulate_traffic",
    lambda: simulate_traffic(
        Layout.from_env(), args.rows, args.seed, args.covariate_shift, args.concept_shift, args.unlabelled_share
    ),
)
