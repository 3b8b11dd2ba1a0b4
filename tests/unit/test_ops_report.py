from __future__ import annotations

import re
from pathlib import Path

from reports.ops_report import OpsDay, render_markdown, write_ops_report


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


def _drill_results() -> list[dict[str, object]]:
    """Two drills exactly as the ha-drill flow hands them to reports/ha.py: DrillResult.to_dict()."""
    from flows.ha.checks import StreamCheck
    from flows.ha.measure import DrillResult

    ok = DrillResult("primary_crash", fault_method="sigkill",
                     metrics={"detect_ms": 312.4, "accept_ms": 401.0, "gap_free_ms": 655.5},
                     checks={"stream": StreamCheck(1200, 1200, 0, 0, 0, 0, 0).to_dict()},
                     timeline=[(0.0, "kill -KILL primary"), (401.0, "standby accepts commands")])
    bad = DrillResult("primary_network", fault_method="sigstop", fault_note="no network namespaces",
                      metrics={"accept_ms": 950.0, "gap_free_ms": None, "detect_ms": 280.0},
                      checks={"stream": StreamCheck(900, 903, 3, 1, 0, 0, 0).to_dict()})
    bad.fail("journal not gap-free within the deadline")
    return [ok.to_dict(), bad.to_dict()]


def test_ops_report_when_ha_drill_report_written_then_drill_table_filled(tmp_path: Path) -> None:
    from flows.ops_report.gather import drills_from
    from reports.ha import report_doc, write_report

    ha_dir = tmp_path / "reports" / "2026-11-20" / "ha"
    write_report(report_doc("2026-11-20", _drill_results()), ha_dir)  # the real writer: ha-drill.{json,html}
    day = OpsDay(date="2026-11-20", drills=drills_from(ha_dir))
    html = write_ops_report(day, tmp_path / "out").read_text()
    section = html.split("<h2>HA drills</h2>", 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td>([^<]*)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", section) if "<td>" in r]
    assert rows == [
        ["primary_crash", "PASS", "sigkill", "312.4", "401.0", "655.5", "0", "0"],
        ["primary_network", "FAIL", "sigstop (no network namespaces)", "280.0", "950.0", "", "3", "1"],
    ]
    md = render_markdown(day)
    assert "| primary_crash | PASS | sigkill | 312.4 | 401.0 | 655.5 | 0 | 0 |" in md
    assert "| primary_network | FAIL | sigstop (no network namespaces) | 280.0 | 950.0 |  | 3 | 1 |" in md
    again = write_ops_report(OpsDay(date="2026-11-20", drills=drills_from(ha_dir)), tmp_path / "again")
    assert again.read_bytes() == (tmp_path / "out" / "ops-report.html").read_bytes()


def test_exceptions_when_none_then_the_report_says_so_and_when_some_then_each_is_a_row() -> None:
    from reports.ops_report import OpsDay, render_html, render_markdown

    empty = OpsDay(date="2026-11-20")
    assert "no exceptions on this date" in render_html(empty) and "no exceptions on this date" in render_markdown(empty)
    day = OpsDay(date="2026-11-20", exceptions=[
        {"kind": "file rejected", "item": "balances_20261120.csv", "detail": "line 5 field equity: not a decimal",
         "status": "re-delivered and loaded"},
        {"kind": "recon RECON_QTY_MISMATCH", "item": "PROP01 AAPL", "detail": "exec_id=7", "status": "OPEN"}])
    html, md = render_html(day), render_markdown(day)
    for text in ("balances_20261120.csv", "re-delivered and loaded", "RECON_QTY_MISMATCH", "PROP01 AAPL"):
        assert text in html and text in md
    assert "no exceptions on this date" not in html
