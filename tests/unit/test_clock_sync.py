"""Clock synchronization: the twin's seeded PTP plan, the clock-sync log, the pre-open clock checks, the alert
thresholds and the daily clock report (byte-identical on re-run)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from core_bridge.clocksync import ClockSample, ClockTolerances, ClockWindows, append_samples, log_path, read_clock_log
from core_bridge.errors import ClockLogError, ConfigError
from flows.checks.clock import clock_findings, run_clock_report
from hw.twin.clock_plan import BREACH_LENGTH_S, BREACH_PEAK_NS, WANDER_NS, ClockPlan

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 20)
OPEN_NS = int(dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000  # 09:30 ET
S = 1_000_000_000
TOL = ClockTolerances()


def test_plan_when_same_date_and_seed_then_same_offsets_and_other_seed_differs() -> None:
    a, b, c = ClockPlan(7, "2026-11-20"), ClockPlan(7, "2026-11-20"), ClockPlan(8, "2026-11-20")
    ts = [x * 0.5 for x in range(400)]
    assert [a.offset_ns(t) for t in ts] == [b.offset_ns(t) for t in ts]
    assert [a.offset_ns(t) for t in ts] != [c.offset_ns(t) for t in ts]
    assert max(abs(a.offset_ns(t)) for t in ts) <= WANDER_NS < TOL.house_ns


def test_plan_when_breach_then_exactly_one_excursion_past_house_tolerance_and_inside_cat() -> None:
    plan = ClockPlan.from_env("2026-11-20", {"COLO_OPS_TWIN_CLOCK_PLAN": "1:breach"})
    ts = [x * 0.1 for x in range(1200)]  # two minutes
    bad = [t for t in ts if abs(plan.offset_ns(t)) > TOL.house_ns]
    window = plan.breach_window_s()
    assert window is not None and bad
    assert min(bad) >= window[0] and max(bad) < window[1] == window[0] + BREACH_LENGTH_S
    assert all(abs(plan.offset_ns(t)) == BREACH_PEAK_NS < TOL.cat_ns for t in bad)


@pytest.mark.parametrize("value", ["x", "1:late", "1:breach@soon"])
def test_plan_when_env_malformed_then_refused_with_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="COLO_OPS_TWIN_CLOCK_PLAN"):
        ClockPlan.from_env("2026-11-20", {"COLO_OPS_TWIN_CLOCK_PLAN": value})


def _hb(t_ns: int, off: int | None) -> dict[str, object]:
    hb: dict[str, object] = {"node": "primary", "event_time_ns": t_ns, "core_time_ns": t_ns - 5, "clock_source": "ptp"}
    if off is not None:
        hb["clock_offset_ns"] = off
    return hb


def test_windows_when_heartbeats_span_two_seconds_then_one_line_each_with_last_and_max_abs() -> None:
    w = ClockWindows()
    closed = [w.add(_hb(OPEN_NS + i * S // 10, off)) for i, off in enumerate([5, -300, 7, *([1] * 7), 2])]
    done = [c for c in closed if c is not None]
    assert done == [ClockSample(OPEN_NS, "primary", "ptp", 1, 300, 10)]
    assert w.flush() == ClockSample(OPEN_NS + S, "primary", "ptp", 2, 2, 1)


def test_windows_when_no_reading_then_offset_unknown_not_zero() -> None:
    w = ClockWindows()
    w.add(_hb(OPEN_NS, None))
    assert w.flush() == ClockSample(OPEN_NS, "primary", "ptp", None, None, 1)


def test_log_when_written_and_read_then_round_trips_and_a_repeated_window_keeps_the_last(tmp_path: Path) -> None:
    rows = [ClockSample(OPEN_NS + i * S, "primary", "ptp", 10 * i, 10 * i, 10) for i in range(3)]
    append_samples(tmp_path, rows)
    append_samples(tmp_path, [ClockSample(OPEN_NS + 2 * S, "primary", "ptp", None, None, 3)])  # restart
    path = log_path(tmp_path, DAY)
    assert path.read_text().splitlines()[0] == "time_utc,time_ns,node,source,offset_ns,max_abs_offset_ns,samples"
    assert path.read_text().splitlines()[1].startswith("2026-11-20T14:30:00Z,")
    assert read_clock_log(path) == [*rows[:2], ClockSample(OPEN_NS + 2 * S, "primary", "ptp", None, None, 3)]


def test_log_when_a_field_is_not_a_number_then_error_names_line_and_field(tmp_path: Path) -> None:
    append_samples(tmp_path, [ClockSample(OPEN_NS, "primary", "ptp", 1, 1, 1)])
    path = log_path(tmp_path, DAY)
    path.write_text(path.read_text() + "2026-11-20T14:30:01Z,x,primary,ptp,1,1,1\n")
    with pytest.raises(ClockLogError, match=r"line 3: field time_ns"):
        read_clock_log(path)


@pytest.mark.parametrize(
    ("offsets", "house", "cat"),
    [
        ([10_000, -90_000, 100_000], "ok", "ok"),
        ([10_000, -250_000], "fail", "ok"),
        ([60_000_000], "fail", "fail"),
        ([10_000, None], "fail", "fail"),  # one heartbeat without a reading: unknown fails closed
        ([], "fail", "fail"),
    ],
)
def test_preopen_clock_when_offsets_given_then_house_and_cat_checks(offsets: list[int | None], house: str,
                                                                    cat: str) -> None:
    got = {f.check: f.severity for f in clock_findings(offsets, TOL, source="ptp")}
    assert got == {"clock-offset-house": house, "clock-offset-cat": cat}


def test_tolerances_when_configured_then_read_and_a_house_wider_than_cat_is_refused() -> None:
    class S_:
        def __init__(self, v: dict[str, int]) -> None:
            self.v = v

        def get(self, key: str, default: object = None) -> object:
            return self.v.get(key, default)

    got = ClockTolerances.from_settings(S_({"clock.house_tolerance_ns": 50_000}))
    assert got == ClockTolerances(50_000_000, 50_000)
    with pytest.raises(ConfigError, match="house_tolerance_ns"):
        ClockTolerances.from_settings(S_({"clock.house_tolerance_ns": 60_000_000}))


def test_alert_rules_when_read_then_thresholds_are_the_default_tolerances() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load((ROOT / "infra/prometheus/alerts.yml").read_text())["groups"]
             for r in g["rules"] if "alert" in r}

    def threshold(name: str) -> float:
        m = re.search(r"colo_core_clock_offset_max_abs_seconds\) > ([0-9.e-]+)$", rules[name]["expr"])
        assert m, rules[name]["expr"]
        return float(m.group(1))

    assert threshold("ClockOffsetHouseTolerance") == TOL.house_ns / 1e9
    assert threshold("ClockOffsetCatTolerance") == TOL.cat_ns / 1e9


def _day_log(home: Path) -> None:
    plan = ClockPlan(1, DAY.isoformat(), True, 20)
    w = ClockWindows()
    out = []
    for i in range(600):  # a minute of heartbeats
        c = w.add(_hb(OPEN_NS + i * S // 10, plan.offset_ns(i / 10)))
        if c:
            out.append(c)
    append_samples(home / "clocksync", [*out, w.flush()])  # type: ignore[list-item]


def test_clock_report_when_the_plan_breaches_then_one_house_breach_and_rerun_is_byte_identical(tmp_path: Path) -> None:
    _day_log(tmp_path)
    reports = tmp_path / "reports" / DAY.isoformat()
    doc, paths = run_clock_report(tmp_path, DAY, TOL, reports)
    s = doc["summary"]
    assert (s["windows"], s["house_breaches"], s["cat_breaches"]) == (60, 1, 0)
    assert s["windows_beyond_house_tolerance"] == BREACH_LENGTH_S and s["max_abs_offset_ns"] == BREACH_PEAK_NS
    assert doc["breaches"][0]["start_et"] == "09:30:20" and doc["breaches"][0]["end_et"] == "09:30:23"
    assert not s["in_tolerance"]
    first = {p.name: p.read_bytes() for p in paths}
    html = first[f"clock_{DAY}.html"].decode()
    assert "<svg" in html and "09:30:20" in html and "clocksync/clocksync_2026-11-20.csv" in html
    _, again = run_clock_report(tmp_path, DAY, TOL, reports)
    assert {p.name: p.read_bytes() for p in again} == first


def test_clock_report_when_no_log_then_says_absent_and_not_in_tolerance(tmp_path: Path) -> None:
    doc, paths = run_clock_report(tmp_path, DAY, TOL, tmp_path / "reports" / DAY.isoformat())
    assert doc["summary"]["windows"] == 0 and not doc["summary"]["in_tolerance"]
    assert doc["sources"][0]["sha256"] == "absent"
    assert "no clock readings logged for 2026-11-20" in paths[0].read_text()


def test_recorder_when_the_log_cannot_be_written_then_windows_kept_retried_with_backoff_and_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from core_bridge.clocksync import ClockRecorder

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    rec = ClockRecorder(blocker / "clocksync", ["tcp://127.0.0.1:1"], tmp_path)
    rows = [ClockSample(OPEN_NS, "primary", "ptp", 10, 10, 10)]
    with caplog.at_level("ERROR", logger="core_bridge"):
        for _ in range(4):
            assert rec._write(rows) == rows  # kept, never dropped
    assert rec.write_backoff.consecutive == 4 and rec.write_backoff.delay_s == 8.0
    assert not rec.write_backoff.ready()  # the loop waits instead of retrying every 200 ms
    assert len([r for r in caplog.records if "clock-sync log" in r.getMessage()]) == 1
    blocker.unlink()
    assert rec._write(rows) == [] and rec.write_backoff.state == "ok"
