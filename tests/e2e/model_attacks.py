"""The attack on the models volume: whoever can write it (a step that writes models, the serving side, a person
on the host) replaces the live model with a pickle that runs code and recomputes its checksum. The answer it
must get is declared here, asserted by the e2e layer and rendered into docs/security.md (engine_attacks)."""

from __future__ import annotations

import json
from typing import Any

from mindpulse.paths import volume_name
from tests.e2e.compose_stack import TAG, Stack, run_command

MARKER = "/data/pickle-ran"
# What each attempt gets, exactly ({version}: the live version the attack replaced).
MODEL_ANSWERS = {
    "replace the live model with a crafted pickle plus its recomputed sha256": (
        "ERROR: /models/versions/{version}/metadata.json: its signature does not match (changed after it was "
        "registered, or signed with another key); refusing to load the model"
    ),
    "replace the public key models are checked with": (
        "PermissionError: [Errno 13] Permission denied: '/trust/model-signing.pub'"
    ),
}

# Run as the step user with the models and trust volumes writable: the most a compromised step could hold.
ATTACK = f"""
import hashlib, json, os, shutil
import joblib
folder = os.path.realpath("/models/current")
os.makedirs("/models/.attack-original")
for name in ("model.joblib", "metadata.json"):
    shutil.copy2(os.path.join(folder, name), "/models/.attack-original")

class Payload:
    def __reduce__(self):
        return (open, ({MARKER!r}, "w"))

joblib.dump(Payload(), os.path.join(folder, "model.joblib"))
with open(os.path.join(folder, "model.joblib"), "rb") as crafted:
    checksum = hashlib.sha256(crafted.read()).hexdigest()
with open(os.path.join(folder, "metadata.json")) as handle:
    metadata = json.load(handle)
metadata["model_sha256"] = checksum
with open(os.path.join(folder, "metadata.json"), "w") as handle:
    json.dump(metadata, handle)
try:
    open("/trust/model-signing.pub", "w").close()
    trust = "replaced"
except OSError as error:
    trust = f"{{type(error).__name__}}: {{error}}"
print(json.dumps({{"version": os.path.basename(folder), "checksum": checksum, "trust": trust}}))
"""
# Loads the planted model the way a loader without signatures would (joblib.load).
UNVERIFIED_LOAD = f"""
import hashlib, json, os
import joblib
with open("/models/current/metadata.json") as handle:
    recorded = json.load(handle)["model_sha256"]
with open("/models/current/model.joblib", "rb") as handle:
    found = hashlib.sha256(handle.read()).hexdigest()
joblib.load("/models/current/model.joblib")
print(json.dumps({{"checksum_holds": recorded == found, "pickle_ran": os.path.exists({MARKER!r})}}))
"""
# Every file of the data volume with its checksum: the step must change none and create no marker.
_LIST_DATA = """
import hashlib, json, os
found = {}
for folder, _, names in os.walk("/data"):
    for name in names:
        path = os.path.join(folder, name)
        with open(path, "rb") as handle:
            found[path] = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps(found))
"""
RESTORE = """
import os, shutil
folder = os.path.realpath("/models/current")
for name in ("model.joblib", "metadata.json"):
    shutil.copy2(os.path.join("/models/.attack-original", name), folder)
shutil.rmtree("/models/.attack-original")
"""


def _volume(stack: Stack, kind: str, mode: str) -> list[str]:
    return ["-v", f"{volume_name(kind, stack.settings)}:/{kind}:{mode}"]


def _python(stack: Stack, script: str, *mounts: str) -> Any:
    """What `script` prints last, as JSON (None when it prints nothing), run in the ml family as the step user."""
    image = f"mindpulse/family-ml:{TAG}"
    printed = run_command(["docker", "run", "--rm", "--network", "none", *mounts, image, "python", "-c", script])
    assert printed.returncode == 0, printed.stderr[-3000:]
    lines = printed.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def attack_live_model(stack: Stack) -> dict[str, Any]:
    """Plant the crafted model, show it would run its code, then let a step that loads models meet it, as the README
    runs one by hand. The live model's files are put back afterwards."""
    planted = _python(stack, ATTACK, *_volume(stack, "models", "rw"), *_volume(stack, "trust", "rw"))
    try:
        # The attack reached its target: the checksum vouches for the payload, and an unchecked load runs it.
        # A scratch /data: an anonymous volume, the step user's (a tmpfs there stays root's), gone with the container.
        unverified = _python(stack, UNVERIFIED_LOAD, *_volume(stack, "models", "ro"), "-v", "/data")
        before = _python(stack, _LIST_DATA, *_volume(stack, "data", "ro"))
        step = run_command(
            ["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
             *_volume(stack, "data", "rw"), *_volume(stack, "models", "ro"), *_volume(stack, "trust", "ro"),
             "-e", "ROWS=10", f"mindpulse/simulate-traffic:{TAG}"]
        )  # fmt: skip
        after = _python(stack, _LIST_DATA, *_volume(stack, "data", "ro"))
    finally:
        _python(stack, RESTORE, *_volume(stack, "models", "rw"))
    return {
        "planted": planted,
        "unverified": unverified,
        "exit_code": step.returncode,
        "stderr": step.stderr.strip().splitlines(),
        "data_unchanged": before == after,
        "pickle_ran_in_step": MARKER in after,
    }
