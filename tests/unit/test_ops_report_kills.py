"""The daily ops report lists the date's kill-to-flat runs, each linked to its timeline page, and a run that
did not end flat is an open exception."""

from __future__ import annotations

from pathlib import Path

from core_bridge.killflat.timeline import write_report
from flows.ops_report.gather import kills_from
from reports.ops_report import OpsDay, render_html, render_markdown


def _doc(outcome: str, started_ns: int, still_open: list[str]) -> dict[str, object]:
    return {"scope": "account", "key": "PROP01", "operator": "riskwatch", "reason": "rule runaway",
            "started_ns": started_ns, "ended_ns": started_ns + 10**9, "elapsed_ms": 1000.0, "outcome": outcome,
            "epoch": 1, "resting_orders": [{"order_id": 1, "venue": "NSDQ", "gone": "cancelled"}],
            "flatten_orders": [], "still_open": still_open, "timeline": [], "timeline_by_venue": {}}


def test_ops_report_when_kills_ran_then_each_is_a_row_linked_to_its_timeline(tmp_path: Path) -> None:
    kills = tmp_path / "kills"
    j1, h1 = write_report(_doc("flat", 1_796_650_000_000_000_000, []), kills)
    write_report(_doc("partial", 1_796_650_100_000_000_000, ["NYSE: 1 resting order(s) not confirmed"]), kills)
    (kills / "notes.json").write_text("{}")  # not a kill report: passed over
    rows = kills_from(kills)
    assert [r["outcome"] for r in rows] == ["flat", "partial"] and rows[0]["report"] == f"kills/{h1.name}"
    assert rows[0]["scope"] == "account PROP01" and rows[1]["still open"] == "NYSE: 1 resting order(s) not confirmed"
    day = OpsDay(date="2026-12-07", kills=rows)
    html = render_html(day)
    assert f'href="kills/{h1.name}"' in html and "<h2>Kill to flat</h2>" in html
    assert "| account PROP01 | riskwatch | partial |" in render_markdown(day).replace("  ", " ")
    assert kills_from(tmp_path / "absent") == [] and j1.exists()


def test_ops_report_when_no_kill_then_the_section_says_so() -> None:
    assert "no kill to flat on this date" in render_html(OpsDay(date="2026-12-07"))
