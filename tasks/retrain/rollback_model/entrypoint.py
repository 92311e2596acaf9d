"""rollback_model: make an earlier model version live again, and say why in the audit log.

Inputs:   /models/versions/<version>/ (checked against its checksum), /models/audit.jsonl
Outputs:  /models/current -> that version (one atomic switch), a "rolled_back" line in /models/audit.jsonl
Exit:     0 rolled back, 1 no such version, a checksum mismatch, or nothing to roll back to

By hand: docker run --rm --network none -v mindpulse_models:/models \
             mindpulse/rollback-model:<tag> --to v0003 --reason "v0004 misreads new students"
Without --to, the version that was live before the current one becomes live again.
"""

import getpass

from mindpulse import step
from mindpulse.paths import Layout
from mindpulse.registry import rollback

cli = step.parser("rollback_model", __doc__)
cli.add_argument("--to", default=step.env("TO_VERSION", None), help="version to make live, e.g. v0003 [TO_VERSION]")
cli.add_argument("--reason", default=step.env("REASON", None), help="why, for the audit log (required) [REASON]")
cli.add_argument(
    "--by", default=step.env("REQUESTED_BY", getpass.getuser()), help="who asks, for the audit log [REQUESTED_BY]"
)
args = cli.parse_args()
if not args.reason or not args.reason.strip():
    cli.error("--reason (or REASON) is required: the audit log says why every live model changed")
step.run("rollback_model", lambda: rollback(Layout.from_env(), args.to or None, args.reason.strip(), args.by))
