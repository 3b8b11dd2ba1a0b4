"""Every chart of every HTML report labels its values and, with nothing to draw, says so instead of drawing an
empty frame (reports/svg.py and the charts ops_report, recon, ha, retention and regsho draw with it)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from reports import ha, ops_report, recon, regsho, retention
from reports.svg import bar_chart, line_chart, value_label

DATE = "2026-11-20"


def _values(svg: str) -> list[str]:
    return re.findall(r'class="value">([^<]*)</text>', svg)


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, flags=re.S)


# ------------------------------------------------------------------------------------------------ svg.py
@pytest.mark.parametrize(("labels", "series"), [([], {"n": []}), (["a", "b"], {}), (["a", "b"], {"n": [0, 0]})])
def test_bar_chart_when_nothing_to_draw_then_none_text_and_no_bars(labels: list[str],
                                                                   series: dict[str, list[float]]) -> None:
    svg = bar_chart(labels, series, title="Breaks", empty=f"no breaks for {DATE}")
    assert 'class="chart-none"' in svg and f"no breaks for {DATE}" in svg and "Breaks" in svg
    assert "<rect" not in svg and "<line" not in svg


def test_bar_chart_when_values_then_each_bar_labelled_with_its_value() -> None:
    svg = bar_chart(["09", "10"], {"orders": [120, 80], "rejects": [3, 0]}, title="Orders")
    assert svg.count("<rect") == 4
    assert _values(svg) == ["120", "3", "80", "0"]
    assert "chart-none" not in svg


def test_bar_chart_when_zero_is_not_empty_then_zero_bars_drawn_and_labelled() -> None:
    svg = bar_chart(["PROP01"], {"used": [0], "available": [0]}, zero_is_empty=False)
    assert "chart-none" not in svg and _values(svg) == ["0", "0"]


def test_bar_chart_when_stacked_then_tall_segments_labelled() -> None:
    svg = bar_chart(["a"], {"x": [50], "y": [50]}, stacked=True)
    assert _values(svg) == ["50", "50"]


def test_line_chart_when_nothing_to_draw_then_none_text() -> None:
    for xs, series in (([], {"p99": []}), ([1.0, 2.0], {"p99": [0.0, 0.0]})):
        svg = line_chart(xs, series, title="Latency", empty=f"no data for {DATE}")
        assert f"no data for {DATE}" in svg and "<polyline" not in svg


def test_line_chart_when_points_then_points_labelled() -> None:
    svg = line_chart([1.0, 2.0, 3.0], {"p99": [900.0, 4000.0, 12500.0]})
    assert "<polyline" in svg and _values(svg) == ["900", "4000", "12.5k"]


@pytest.mark.parametrize(("v", "text"), [(0, "0"), (12.25, "12.2"), (9999, "9999"), (25_300, "25.3k"),
                                         (1_000_000, "1M"), (3_400_000_000, "3.4G")])
def test_value_label_when_formatted_then_short(v: float, text: str) -> None:
    assert value_label(v) == text


# ------------------------------------------------------------------------------------------------ reports
def test_ops_report_when_day_empty_then_every_chart_says_none_for_the_date() -> None:
    html = ops_report.render_html(ops_report.OpsDay(date=DATE))
    svgs = _svgs(html)
    assert len(svgs) == 4 and all('class="chart-none"' in s for s in svgs)
    for text in ("no orders for", "no risk-gate latency figures for", "no buying-power snapshot for",
                 "no breaks for"):
        assert f"{text} {DATE}" in html


def test_ops_report_when_figures_then_every_chart_labels_values() -> None:
    day = ops_report.OpsDay(date=DATE, orders_by_hour={"09": 120}, latency_ns={"p50": 900.0},
                            bp_by_account={"PROP01": {"available": "1000000", "used": "250000"}},
                            breaks_by_type={"QTY_MISMATCH": 2})
    svgs = _svgs(ops_report.render_html(day))
    assert [_values(s) for s in svgs] == [["120", "0"], ["900"], ["250k", "1M"], ["2"]]


def _recon(history: list[tuple[str, int, int]]) -> recon.ReconReport:
    return recon.ReconReport(DATE, {"breaks": 0}, [], history, {})


def test_recon_report_when_no_breaks_over_the_days_then_chart_says_no_breaks() -> None:
    html = recon.render_html(_recon([("2026-11-19", 0, 0), (DATE, 0, 0)]))
    assert "no breaks from 2026-11-19 to 2026-11-20" in html and "<rect" not in html
    assert f"no recon runs up to {DATE}" in recon.render_html(_recon([]))
    assert f"no breaks on {DATE}" in recon.render_html(_recon([(DATE, 0, 0)]))


def test_recon_report_when_breaks_then_chart_labels_values() -> None:
    (svg,) = _svgs(recon.render_html(_recon([("2026-11-19", 1, 1), (DATE, 2, 1)])))
    assert _values(svg) == ["1", "1", "2", "1"]


def _drill(scenario: str, timeline: list[tuple[float, str]]) -> dict[str, object]:
    return {"scenario": scenario, "ok": True, "fault_method": "sigkill", "fault_note": "",
            "metrics": {"detect_ms": 310.5, "accept_ms": 420.0, "gap_free_ms": 800.0},
            "checks": {"stream": {"lost": 0, "duplicated": 0}}, "timeline": timeline, "refusals": [], "failures": []}


def test_ha_report_when_no_drills_or_no_timeline_then_charts_say_none() -> None:
    assert f"no drill timings for {DATE}" in ha.render_html(ha.report_doc(DATE, []))
    html = ha.render_html(ha.report_doc(DATE, [_drill("primary_crash", [])]))
    assert "no timeline events recorded" in html
    html = ha.render_html(ha.report_doc(DATE, [_drill("primary_crash", [(0.0, "kill")])]))
    assert "every event at the fault itself" in html


def test_ha_report_when_drills_then_charts_label_values() -> None:
    html = ha.render_html(ha.report_doc(DATE, [_drill("primary_crash", [(0.0, "kill"), (420.0, "accepts")])]))
    timings, timeline = _svgs(html)
    assert _values(timings) == ["310.5", "420", "800"] and _values(timeline) == ["0", "420"]


def _attestation(**kw: object) -> retention.RetentionAttestation:
    return retention.RetentionAttestation(run_date=DATE, run_at_utc="2026-11-20T07:00:00Z", policy_version="1",
                                          store={}, **kw)  # type: ignore[arg-type]


def test_retention_attestation_when_nothing_held_then_chart_says_none() -> None:
    html = retention.render_html(_attestation())
    assert f"nothing held or archived as of {DATE}" in html and "<rect" not in html


def test_retention_attestation_when_held_then_chart_labels_values() -> None:
    a = _attestation(archived_by_class={"cat_file": 2},
                     holdings_by_class={"cat_file": {"objects": 5, "bytes": 10, "on_hold": 0}})
    (svg,) = _svgs(retention.render_html(a))
    assert _values(svg) == ["5", "2"]
    assert "| cat_file | 2 | 5 | 10 | 0 |" in retention.markdown_summary(a)


def test_regsho_report_when_no_locates_then_chart_says_none_and_bytes_repeat(tmp_path: Path) -> None:
    day = regsho.RegShoDay(dt.date(2026, 11, 20), dt.date(2026, 11, 19))
    first = regsho.write_regsho_report(day, tmp_path)
    html = first[-1].read_text()
    assert first[-1].name == f"regsho_{DATE}.html"
    assert f"no locates granted or consumed on {DATE}" in html and "<rect" not in html
    before = [p.read_bytes() for p in first]
    assert [p.read_bytes() for p in regsho.write_regsho_report(day, tmp_path)] == before


def test_regsho_report_when_locates_then_chart_labels_granted_and_consumed(tmp_path: Path) -> None:
    day = regsho.RegShoDay(dt.date(2026, 11, 20), dt.date(2026, 11, 19), locates=[
        regsho.LocateLine("L1", "AAPL", "037833100", "ETB", "clearer", 1_000_000, 300, (7,)),
        regsho.LocateLine("L2", "TSLA", "88160R101", "threshold", "exchange", 0, 0)])
    html = regsho.write_regsho_report(day, tmp_path)[-1].read_text()
    (svg,) = _svgs(html)
    assert _values(svg) == ["1M", "300"] and "TSLA" not in svg
    import json

    md = regsho.markdown_summary(json.loads((tmp_path / "regsho" / f"regsho_{DATE}.json").read_text()))
    assert "| AAPL | 1000000 | 300 | ETB | clearer |" in md and "none: every short sale had a locate" in md
