"""The audit log of the models volume, `audit.jsonl`: one JSON line per decision (promoted, rejected, rolled back)
and per deletion, saying which version was live and why (standard library only).

Every append holds the registry lock (`Layout.registry_lock`), so two steps on two hosts of shared storage never
interleave or lose a line, and a line is written whole or not at all.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from mindpulse import atomic
from mindpulse.paths import Layout
from mindpulse.protocol import StepError

PROMOTED, REJECTED, ROLLED_BACK, DELETED = "promoted", "rejected", "rolled_back", "deleted"
# The events after which `live` names the version now live.
WENT_LIVE = frozenset({PROMOTED, ROLLED_BACK})


def entries(layout: Layout) -> list[dict[str, Any]]:
    try:
        lines = layout.audit_log.read_text().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # torn by a crash before `append` could undo it; every whole line is one object
    return found


def previously_live(layout: Layout, live: str | None) -> str | None:
    """The version that was live just before `live` became live: where a rollback without --to goes."""
    for entry in reversed(entries(layout)):
        if entry["event"] in WENT_LIVE and entry["version"] == live:
            previous: str | None = entry["previous"]
            return previous
    return None


def record(
    layout: Layout,
    event: str,
    version: str,
    previous: str | None,
    reason: str,
    gate: dict[str, Any] | None = None,
    by: str = "pipeline",
) -> None:
    """The line of a decision about `version`; `previous` was live before it."""
    entry = {
        "event": event,
        "version": version,
        "previous": previous,
        "live": version if event != REJECTED else previous,
        "reason": reason,
        "by": by,
        **({"gate": gate} if gate else {}),
    }
    append(layout, entry)


def record_deletion(layout: Layout, deleted: str, live: str | None, reason: str) -> None:
    """The line of something retention deletes (`deleted`: its path on its volume, e.g. models/versions/v0003). It
    names no "version": that key means a registration decision."""
    append(layout, {"event": DELETED, "deleted": deleted, "live": live, "reason": reason, "by": "retention"})


def append(layout: Layout, entry: dict[str, Any]) -> None:
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    # One write of one whole line, under the lock: O_APPEND alone keeps lines whole within one kernel, not across
    # NFS clients. A short write (a full disk) is undone, so the next line never joins a torn one.
    with atomic.exclusive(layout.registry_lock):
        fd = os.open(layout.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            atomic.append_whole(fd, line, layout.audit_log)
        except OSError as error:
            raise StepError(f"{layout.audit_log}: cannot append the audit line: {error.strerror or error}") from None
        finally:
            os.close(fd)
