"""The volumes' sizes on the dashboard, and the disk alert in the report summary and its webhook post."""

from __future__ import annotations

import json
import shutil

from mindpulse import results
from mindpulse.paths import Layout
from mindpulse.reporting import history, volumes
from mindpulse.reporting import summary as reporting_summary
from tests.unit.test_summaries import Receiver, receiver  # noqa: F401 (the webhook receiver fixture)

STAMP = "20261126_120000"


def test_each_volume_is_measured_and_alerts_only_past_the_share(layout: Layout) -> None:
    (layout.data_dir / "archive").mkdir()
    (layout.data_dir / "archive" / "a.csv").write_bytes(b"x" * 3000)
    (layout.data_dir / "b.csv").write_bytes(b"y" * 500)
    (layout.models_dir / "current").symlink_to("versions/v0001")  # dangling: counted, not followed
    disk = shutil.disk_usage(layout.data_dir)

    measured = volumes.measure(layout, disk_alert_share=1.0)

    assert set(measured) == {"data", "models", "reports"}
    assert measured["data"]["bytes"] == 3500 and measured["reports"]["bytes"] == 0
    assert measured["data"]["disk_total_bytes"] == disk.total
    assert 0 < measured["data"]["disk_share"] < 1 and not measured["data"]["alert"]
    assert volumes.alerts(measured, 1.0) == []
    assert all(figures["alert"] for figures in volumes.measure(layout, disk_alert_share=0.0).values())


def test_a_full_disk_is_alerted_in_the_summary_the_webhook_and_the_page(
    layout: Layout,
    receiver: Receiver,  # noqa: F811
) -> None:
    summary = reporting_summary.send_report_summary(layout, STAMP, 0.3, receiver.url, disk_alert_share=0.0)

    [recorded] = history.read(layout)
    entry = results.HistoryEntry.read(recorded)
    assert entry.volumes == summary.volumes and set(entry.volumes) == {"data", "models", "reports"}
    assert len(entry.disk_alerts) == 3 and entry.disk_alerts[0].startswith("DISK ALERT: the disk of the data volume")
    text = json.loads(receiver.requests[0]["body"])["text"]
    assert all(alert in text for alert in entry.disk_alerts)
    page = layout.index_page.read_text()
    assert "<h2>Volumes</h2>" in page and page.count('class="num alert"') == 3


def test_below_the_share_there_is_no_alert_and_old_history_still_renders(
    layout: Layout,
    receiver: Receiver,  # noqa: F811
) -> None:
    layout.history.write_text(json.dumps({"stamp": "20261125_120000", "created_at": "x", "reports": {}}) + "\n")

    summary = reporting_summary.send_report_summary(layout, STAMP, 0.3, receiver.url, disk_alert_share=1.0)

    assert summary.disk_alerts == []
    assert "DISK ALERT" not in json.loads(receiver.requests[0]["body"])["text"]
    page = layout.index_page.read_text()
    assert "<h2>Volumes</h2>" in page and 'class="num alert"' not in page
