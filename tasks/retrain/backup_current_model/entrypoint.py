"""backup_current_model: keep a timestamped copy of the live model before it is replaced.

Inputs:   /models/current/ (model.joblib + metadata.json)
Outputs:  /models/backups/model_YYYYMMDD_HHMMSS/
Exit:     0 backed up (or no model yet, said in the result), 1 the live model fails its checksum
"""

from mindpulse import step
from mindpulse.paths import Layout, utc_stamp
from mindpulse.registry import backup_current_model

step.parser("backup_current_model", __doc__).parse_args()
step.run("backup_current_model", lambda: backup_current_model(Layout.from_env(), utc_stamp()))
