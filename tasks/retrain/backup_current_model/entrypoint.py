"""backup_current_model: keep a copy of the live model before a new one may replace it.

Inputs:   /models/current/ (model.joblib + metadata.json)
Outputs:  /models/backups/model_<RUN_STAMP>/ (kept as it is when a retry finds it)
Exit:     0 backed up (or no model yet, said in the result), 1 the live model fails its checksum
"""

from mindpulse import options, step
from mindpulse.paths import Layout
from mindpulse.registry import backup_current_model

cli = step.parser("backup_current_model", __doc__)
options.run_stamp(cli)
args = cli.parse_args()
step.run("backup_current_model", lambda: backup_current_model(Layout.from_env(), args.stamp))
