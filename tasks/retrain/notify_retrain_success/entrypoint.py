"""notify_retrain_success: what this retrain run decided and achieved, to stdout, a file and a webhook.

Inputs:   /models/current/metadata.json (read-only); STEP_RESULTS, the JSON results of the
          earlier steps by task id (the DAG fills it in; null for a skipped step)
Outputs:  /reports/retrain_summary_<RUN_STAMP>.json; a POST to WEBHOOK_URL when set
          (a webhook that is down never fails the run)
Exit:     0 done, 1 the summary cannot be written
"""

import json

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.summaries import retrain_summary

cli = step.parser("notify_retrain_success", __doc__)
cli.add_argument(
    "--step-results",
    type=json.loads,
    default=step.env("STEP_RESULTS", {}, json.loads),
    help="JSON object: task id -> that step's result [STEP_RESULTS]",
)
options.webhook_url(cli)
options.run_stamp(cli)
args = cli.parse_args()
step.run(
    "notify_retrain_success",
    lambda: retrain_summary(Layout.from_env(), args.stamp, args.step_results, args.webhook_url),
)
