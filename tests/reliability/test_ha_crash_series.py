"""20 consecutive crashes of the active node (kill -9 over SSH), each killed node restarted and caught up
before the next: the journal ends with 0 lost and 0 duplicated events across all 20 failovers."""

from __future__ import annotations

from pathlib import Path

from flows.ha.runner import crash_series


def test_crash_series_when_twenty_active_nodes_killed_then_no_event_lost_or_duplicated(tmp_path: Path) -> None:
    drills, overall = crash_series(tmp_path, 20)
    assert [d.failures for d in drills if not d.ok] == []
    stream = overall.checks["stream"]
    assert stream["lost"] == 0 and stream["duplicated"] == 0 and stream["diverged"] == 0 and stream["ok"]
    assert overall.checks["unresolved_in_flight"] == 0
    assert all(d.checks["state_differences"] == [] for d in drills)
    assert overall.ok, overall.failures
