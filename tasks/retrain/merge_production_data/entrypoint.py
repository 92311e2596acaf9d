"""merge_production_data: reference data + labelled production rows, validated and de-duplicated.

Inputs:   /data/reference_data.csv, /data/prod_data.csv
Outputs:  /data/training_data.csv, /data/consumption.json (which production bytes were used,
          so archive_production_data moves exactly those)
Exit:     0 written, 1 bad input (nothing written)
"""

from mindpulse import step
from mindpulse.merge import merge_production_data
from mindpulse.paths import Layout, utc_stamp

step.parser("merge_production_data", __doc__).parse_args()
step.run("merge_production_data", lambda: merge_production_data(Layout.from_env(), utc_stamp()))
