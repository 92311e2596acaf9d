"""train_new_model: train Logistic Regression, Random Forest and XGBoost on two windows of the
training data (all rows, recent production rows only), register the best as a new version, and
make it live only if the promotion gate (mindpulse.gate) accepts it on the held-out evaluation rows.

Inputs:   /data/training_data.csv, /data/evaluation_data.csv (both from merge_production_data),
          /models/current (the live model: the champion)
Outputs:  /models/versions/vNNNN/{model.joblib,metadata.json} (status promoted or rejected, with
          the figures and the reason), a line in /models/audit.jsonl; when promoted: /models/current
          -> that version, and /data/reference_data.csv replaced by its training window
Exit:     0 registered (promoted or rejected: see "promoted" in the result), 1 bad input or failed
          training (the live model is untouched)
"""

from mindpulse import gate, options, step
from mindpulse.paths import Layout
from mindpulse.training import DEFAULT_TOLERANCE, TrainingSettings, train_and_register

cli = step.parser("train_new_model", __doc__)
options.selection_metric(cli, "the challenger and judges it against the live model")
cli.add_argument(
    "--validation-share",
    type=float,
    default=step.env("VALIDATION_SHARE", 0.2, float),
    help="share of the recent rows (all rows when too few) held out to compare the candidates [VALIDATION_SHARE]",
)
cli.add_argument(
    "--tolerance",
    type=float,
    default=step.env("PROMOTION_TOLERANCE", DEFAULT_TOLERANCE, float),
    help="largest loss (selection metric) a chain of promotions may add up to [PROMOTION_TOLERANCE]",
)
cli.add_argument(
    "--gate-alpha",
    type=float,
    default=step.env("PROMOTION_ALPHA", gate.DEFAULT_ALPHA, float),
    help="the challenger is kept out when a one-sided McNemar test on the held-out rows finds it worse at "
    "this level [PROMOTION_ALPHA]",
)
cli.add_argument(
    "--min-score",
    type=float,
    default=step.env("PROMOTION_MIN_SCORE", gate.DEFAULT_MIN_SCORE, float),
    help="no challenger scoring below this (selection metric, held-out rows) goes live [PROMOTION_MIN_SCORE]",
)
cli.add_argument(
    "--force-promote",
    action="store_true",
    default=step.env("FORCE_PROMOTE", False, step.flag),
    help="make the challenger live even when the gate would keep the live model [FORCE_PROMOTE]",
)
options.seed(cli, 42)
args = cli.parse_args()
layout = Layout.from_env()
settings = TrainingSettings(
    args.metric, args.seed, args.validation_share, args.tolerance, args.force_promote, args.gate_alpha, args.min_score
)
step.run(
    "train_new_model",
    lambda: train_and_register(
        layout, layout.training_data, layout.evaluation_data, settings, provenance={"trained_by": "retrain"}
    ),
)
