"""The soak's pure parts: the growth (slope) test, retry budgets, the traceback scan and the supervisor's
restart policy."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from flows.reliability import budgets, logscan, slope
from hw.supervise import restart_delay, stopped_on_purpose

T = [float(i * 5) for i in range(120)]  # 10 minutes sampled every 5 s


def test_growth_test_when_rss_climbs_steadily_then_grows() -> None:
    g = slope.growth_test("rss_mib", T, [100 + 0.5 * i for i in range(120)])  # +30 MiB over the second half
    assert g.verdict == "grows" and g.failed
    assert g.slope_per_h == pytest.approx(0.5 / 5 * 3600)


def test_growth_test_when_flat_with_noise_then_ok() -> None:
    ys = [200 + (7 if i % 3 == 0 else -5) for i in range(120)]
    g = slope.growth_test("rss_mib", T, ys)
    assert g.verdict == "ok" and abs(g.growth) < g.tolerance


def test_growth_test_when_one_step_in_the_first_half_then_ok() -> None:
    ys = [100.0 if i < 40 else 180.0 for i in range(120)]  # a cache filled once, early
    assert slope.growth_test("rss_mib", T, ys).verdict == "ok"


def test_growth_test_when_one_step_late_then_not_a_leak() -> None:
    # A bounded step inside the second half raises the slope but the last quarter does not keep rising.
    ys = [100.0 if i < 70 else 130.0 for i in range(120)]
    assert slope.growth_test("rss_mib", T, ys).verdict == "ok"


def test_growth_test_when_fds_leak_slowly_then_grows() -> None:
    ys = [40 + i // 4 for i in range(120)]  # one fd every 20 s
    assert slope.growth_test("fds", T, ys).verdict == "grows"


def test_growth_test_when_few_samples_then_no_verdict() -> None:
    g = slope.growth_test("threads", T[:6], [1, 2, 3, 4, 5, 6])
    assert g.verdict == "too few samples" and not g.failed


def test_growth_test_when_lengths_differ_then_error_names_metric() -> None:
    with pytest.raises(ValueError, match="fds"):
        slope.growth_test("fds", [0.0, 1.0], [1.0])


def test_tolerance_when_level_is_large_then_relative_part_applies() -> None:
    assert slope.tolerance("rss_mib", 50) == 16.0
    assert slope.tolerance("rss_mib", 1000) == pytest.approx(100.0)


@pytest.mark.parametrize(("observed", "over"), [
    ({"a": 3.0, "b": 0.0}, []),
    ({"a": 11.0, "b": 0.0}, ["a"]),
    ({"a": 3.0}, ["b"]),  # not reported at all: no proof it stayed in budget
    ({"a": float("nan"), "b": 0.0}, ["a"]),
])
def test_budget_check_when_counters_given_then_overruns_listed(observed: dict[str, float], over: list[str]) -> None:
    assert [o.counter for o in budgets.check(observed, {"a": 10, "b": 0})] == over


def test_capture_counters_when_escalated_then_flagged() -> None:
    doc = {"rewind": {"state": "escalated", "failures_total": 7, "escalations": 1}}
    assert budgets.capture_counters(doc) == {"capture.rewind.failures_total": 7.0, "capture.rewind.escalations": 1.0,
                                             "capture.rewind.escalated_at_end": 1.0}
    assert budgets.capture_counters({})["capture.rewind.failures_total"] is None


def test_prom_value_when_metric_present_then_value_else_none() -> None:
    text = ("# HELP colo_core_capture_rewind_failures_total x\n# TYPE colo_core_capture_rewind_failures_total counter\n"
            "colo_core_capture_rewind_failures_total 3.0\ncolo_core_capture_rewind_escalated 0.0\n")
    assert budgets.prom_value(text, "colo_core_capture_rewind_failures_total") == 3.0
    assert budgets.prom_value(text, "colo_missing") is None
    labelled = 'colo_core_capture_rewind_failures_total{node="primary"} 2.0\nx{node="standby"} 1.0\n'
    assert budgets.prom_value(labelled, "colo_core_capture_rewind_failures_total") == 2.0


LOG = """\
14:00:01 INFO started
Traceback (most recent call last):
  File "x.py", line 3, in <module>
    f()
    ^^^
flows.errors.FileRejectedError: balances.csv line 7 field amount: not a decimal
14:00:02 INFO next
Traceback (most recent call last):
  File "y.py", line 9, in run
    loop()
KeyError: 'epoch'
Traceback (most recent call last):
  File "z.py", line 1
"""


def test_scan_text_when_tracebacks_then_each_with_line_exception_and_expectation() -> None:
    found = logscan.scan_text(LOG, "worker.log", expected=["FileRejectedError"])
    assert [(f.line, f.exception, f.expected) for f in found] == [(2, "FileRejectedError", True),
                                                                 (8, "KeyError", False), (12, "?", False)]
    assert found[0].message.startswith("balances.csv line 7")
    assert found[2].message == "traceback cut off"


def test_scan_text_when_exception_chained_then_one_finding_with_the_final_exception() -> None:
    text = ("Traceback (most recent call last):\n  File \"a.py\", line 1\n"
            "sqlite3.OperationalError: database is locked\n"
            "\nThe above exception was the direct cause of the following exception:\n\n"
            "Traceback (most recent call last):\n  File \"b.py\", line 2\n"
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n")
    (f,) = logscan.scan_text(text, "prefect-server.log")
    assert (f.line, f.exception) == (1, "OperationalError") and f.message.startswith("(sqlite3.OperationalError)")


def test_scan_files_when_clean_or_missing_then_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("all fine\nno exception here\n")
    assert logscan.scan_files([tmp_path / "a.log", tmp_path / "gone.log"]) == []


def test_restart_delay_when_quick_deaths_repeat_then_doubles_to_a_cap() -> None:
    assert [restart_delay(n) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.6]
    assert restart_delay(30) == 10.0


@pytest.mark.parametrize(("rc", "purpose"), [(0, True), (-signal.SIGTERM, True), (-signal.SIGINT, True),
                                             (-signal.SIGKILL, False), (1, False), (-signal.SIGSEGV, False)])
def test_stopped_on_purpose_when_exit_code_then_restart_only_on_failure(rc: int, purpose: bool) -> None:
    assert stopped_on_purpose(rc) is purpose


def _doc() -> dict[str, object]:
    samples = [{"t_s": t, "name": "capture", "pid": 41, "rss_mib": 80.0 + t / 100, "fds": 30, "threads": 5,
                "cpu_pct": 3.5} for t in range(0, 600, 5)]
    return {"kind": "soak", "date": "2026-11-20", "seed": 7, "sample_s": 5, "minutes": 10.0, "ok": False,
            "summary": "FAIL: 1 processes", "failures": ["retry budget: capture.rewind.failures_total = 99"],
            "processes": ["capture", "worker"], "samples": samples,
            "growth": {"capture": [slope.growth_test("rss_mib", [float(s["t_s"]) for s in samples],  # type: ignore[arg-type]
                                                     [float(s["rss_mib"]) for s in samples]).to_json()]},  # type: ignore[arg-type]
            "budgets": [{"counter": "capture.rewind.failures_total", "value": 99.0, "budget": 20, "over": True}],
            "tracebacks": [], "kills": [], "differences": [], "steps": []}


def test_soak_report_when_rendered_then_chart_per_process_tables_and_none_states(tmp_path: Path) -> None:
    from reports.soak import render_html, write

    html = render_html(_doc())
    assert html.count("<svg") == 2  # one chart per process; the process without samples says so
    assert "no samples of worker" in html and "capture (pid 41)" in html
    assert "OVER" in html and "no traceback in any log" in html and "none: every output identical" in html
    assert render_html(_doc()) == html  # deterministic
    h, j = write(_doc(), tmp_path)
    assert h.name == "soak.html" and j.name == "soak.json" and '"kind": "soak"' in j.read_text()
