"""train_new_model: train Logistic Regression, Random Forest and XGBoost; promote the best.

Inputs:   /data/training_data.csv
Outputs:  /models/versions/vNNNN/{model.joblib,metadata.json}, /models/current -> that version,
          /data/reference_data.csv replaced by the training data (drift is measured against it)
Exit:     0 promoted, 1 bad input or failed training (the live model is untouched)
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.training import train_and_promote

cli = step.parser("train_new_model", __doc__)
options.selection_metric(cli, "the winner on the held-out split")
cli.add_argument(
    "--test-size",
    type=float,
    default=step.env("TEST_SIZE", 0.2, float),
    help="share of rows held out for the comparison [TEST_SIZE]",
)
options.seed(cli, 42)
args = cli.parse_args()
layout = Layout.from_env()
step.run(
    "train_new_model",
    lambda: train_and_promote(
        layout, layout.training_data, args.metric, args.seed, args.test_size, provenance={"trained_by": "retrain"}
    ),
)
