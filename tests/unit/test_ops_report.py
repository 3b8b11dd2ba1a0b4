from __future__ import annotations

from pathlib import Path

from reports.ops_report import OpsDay, write_ops_report


def _day() -> OpsDay:
    return OpsDay(
        date="2026-11-20",
        orders_by_hour={"09": 120, "10": 80},
        rejects_by_hour={"09": 3},
        rejects_by_reason={"LOCATE_UNAVAILABLE": 2, "LIMIT_PRICE_COLLAR": 1},
        latency_ns={"p50": 900.0, "p99": 4000.0},
        bp_by_account={"PROP01": {"available": "1000000", "used": "250000"}},
        breaks_by_type={"QTY_MISMATCH": 1},
        cat_counts={"MENO": 200},
        drills=[
            {"scenario": "primary-crash", "detect_ms": 310, "accept_ms": 420, "gap_free_ms": 800, "result": "pass"}
        ],
        flows=[{"flow": "sod-load", "state": "Completed"}],
        reports={"recon": "recon/recon.html"},
    )


def test_write_when_same_day_twice_then_same_bytes(tmp_path: Path) -> None:
    a = write_ops_report(_day(), tmp_path / "a").read_bytes()
    b = write_ops_report(_day(), tmp_path / "b").read_bytes()
    assert a == b


def test_write_when_rendered_then_shows_each_section_and_link(tmp_path: Path) -> None:
    html = write_ops_report(_day(), tmp_path).read_text()
    for needle in ("LOCATE_UNAVAILABLE", "primary-crash", "recon/recon.html", "<svg", "PROP01", "MENO"):
        assert needle in html
    assert (tmp_path / "ops-report.json").exists()
