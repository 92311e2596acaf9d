"""The apply_retention image on throwaway volumes: a dry run on read-only mounts lists what would go and
changes nothing; the real run deletes exactly that, logs each deletion, and sweeps stale temporary files."""

from __future__ import annotations

import json

from tests.images.docker_steps import READ_ONLY, WRITABLE, Volumes

STALE = "202001010000"  # `touch -t`: long before any sweep age
MODELS_SCRIPT = """
set -e
cd /models
for n in 1 2 3; do
  mkdir -p versions/v000$n
  echo model$n > versions/v000$n/model.joblib
  echo '{"version": "v000'$n'", "created_at": "2020-01-0'$n'T00:00:00+00:00"}' > versions/v000$n/metadata.json
done
ln -s versions/v0003 current
mkdir versions/.v0004.ab12cd34 && echo half > versions/.v0004.ab12cd34/model.joblib
touch -t {stale} versions/.v0004.ab12cd34/model.joblib versions/.v0004.ab12cd34
"""
REPORTS_SCRIPT = """
set -e
echo old > /reports/.index.html.k2j4h1zz.tmp && touch -t {stale} /reports/.index.html.k2j4h1zz.tmp
echo new > /reports/.history.jsonl.q9w8e7rr.tmp
"""
LISTING = "find /{volume} -exec ls -ld --time-style=+%s {{}} + | sort"


def listing(v: Volumes) -> str:
    return "".join(v.shell(volume, LISTING.format(volume=volume)) for volume in ("data", "models", "reports"))


def test_dry_run_then_retention_on_real_volumes(volumes: Volumes) -> None:
    v = volumes
    v.shell("models", MODELS_SCRIPT.replace("{stale}", STALE))
    v.shell("reports", REPORTS_SCRIPT.replace("{stale}", STALE))
    policy = {"KEEP_VERSIONS": "1", "KEEP_DAYS": "0"}
    before = listing(v)

    refused = v.run(
        "apply_retention", {**policy, "KEEP_VERSIONS": "0"}, data=WRITABLE, models=WRITABLE, reports=WRITABLE
    )
    assert refused.code == 1 and refused.stderr.startswith("ERROR:") and "keep_versions" in refused.stderr
    dry = v.run("apply_retention", {**policy, "DRY_RUN": "true"}, data=READ_ONLY, models=READ_ONLY, reports=READ_ONLY)
    assert dry.code == 0, dry.stderr
    assert dry.result["deleted"]["version"] == ["v0001", "v0002"]
    assert sorted(dry.result["swept"]) == ["models/versions/.v0004.ab12cd34", "reports/.index.html.k2j4h1zz.tmp"]
    assert "would delete version models/versions/v0001" in dry.stdout
    assert listing(v) == before

    done = v.run("apply_retention", policy, data=WRITABLE, models=WRITABLE, reports=WRITABLE)

    assert done.code == 0, done.stderr
    assert (done.result["deleted"], done.result["swept"]) == (dry.result["deleted"], dry.result["swept"])
    assert v.shell("models", "ls -A /models/versions").split() == ["v0003"]
    assert v.shell("reports", "ls -A /reports").split() == [".history.jsonl.q9w8e7rr.tmp"]
    audit = [json.loads(line) for line in v.shell("models", "cat /models/audit.jsonl").splitlines()]
    assert [(entry["event"], entry["deleted"], entry["live"]) for entry in audit] == [
        ("deleted", "models/versions/v0001", "v0003"),
        ("deleted", "models/versions/v0002", "v0003"),
    ]
