"""archive_production_data: move the production rows this run trained on out of prod_data.csv.

Inputs:   /data/consumption.json (written by merge_production_data), /data/prod_data.csv
Outputs:  /data/archive/prod_data_archived_YYYYMMDD_HHMMSS.csv; prod_data.csv keeps its header
          and every row appended since the merge
Exit:     0 archived (or nothing to archive), 1 prod_data.csv changed under the consumed rows
"""

from mindpulse import step
from mindpulse.paths import Layout
from mindpulse.production import archive_consumed

step.parser("archive_production_data", __doc__).parse_args()
step.run("archive_production_data", lambda: archive_consumed(Layout.from_env()))
