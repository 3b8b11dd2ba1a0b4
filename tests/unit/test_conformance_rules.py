"""The conformance rules are not vacuous: each fails against a core broken in the way it checks, all pass
against a correct one, and what does not apply is "n/a" with a reason, never "pass".

The peer is `tests.conformance_fake.FakeCore`, an in-process core with real CURVE and ZAP; timings are
shortened (the rules' deadlines, not sleeps, bound every wait).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from core_bridge.conformance import Config, Endpoints, RuleResult, Status, Unreachable, run_suite
from core_bridge.conformance.report import render_html, text_details, text_line, write_reports
from core_bridge.conformance.result import Evidence, rule
from core_bridge.conformance.runner import RULE_NAMES, shell_restart
from tests.conformance_fake import FakeCore

MakeCore = Callable[..., FakeCore]
FAST = {"timeout_s": 1.0, "unknown_key_wait_s": 0.5, "count_wait_s": 1.0, "hb_window_s": 1.0, "stream_seconds": 1.0,
        "restart_deadline_s": 5.0}


def config(core: FakeCore, **kw: object) -> Config:
    assert core.endpoints is not None
    return Config(core.endpoints, core.keys_dir, **{**FAST, **kw})  # type: ignore[arg-type]


@pytest.fixture
def make_core(tmp_path: Path) -> Iterator[Callable[..., FakeCore]]:
    made: list[FakeCore] = []

    def make(flaws: set[str] | frozenset[str] = frozenset()) -> FakeCore:
        core = FakeCore(tmp_path / f"core{len(made)}", flaws)
        made.append(core)
        return core

    yield make
    for core in made:
        core.close()


def one(core: FakeCore, name: str, **kw: object) -> RuleResult:
    report = run_suite(config(core, **kw), only=[name])
    assert [r.name for r in report.results] == [name]
    return report.results[0]


def test_suite_when_the_core_keeps_the_protocol_then_every_rule_passes(make_core: MakeCore) -> None:
    core = make_core()
    report = run_suite(config(core, restart=core.restart, restart_label="fake restart"))
    failed = {r.name: [c for c in r.evidence["checks"] if not c["ok"]] for r in report.results if r.status != "pass"}
    assert failed == {}
    assert [r.name for r in report.results] == list(RULE_NAMES)
    assert report.ok and report.counts() == {"pass": len(RULE_NAMES), "fail": 0, "n/a": 0}
    assert report.version == 2 and report.core["core_id"] == "fake-core"


BROKEN = [  # (flaw of the fake core, the rule that must fail, words of a failed check)
    ("no_version_check", "handshake", "MSG_VERSION_UNSUPPORTED"),
    ("accept_unknown_keys", "unknown_key", "gets no reply"),
    ("no_auth_count", "unknown_key", "counts the refused handshake"),
    ("no_role_check", "role_refusal", "AUTH_ROLE_DENIED"),
    ("replay_other_args", "idempotent_retry", "other args"),
    ("toggle", "levels_set_not_toggled", "not toggled back"),
    ("block_cancels", "cancels_never_blocked", "cancel_all acknowledged OK at firm REDUCE_ONLY"),
    ("apply_expired", "expiry", "MSG_EXPIRED"),
    ("lenient_types", "malformed_frames", "v as a string"),
    ("no_heartbeat", "heartbeat_cadence", "heartbeats arrive"),
    ("slow_heartbeat", "heartbeat_cadence", "median interval"),
    ("drop_live", "dropcopy_continuity", "no gap in seq"),
    ("no_replay_flag", "rewind_in_range", "serves exactly that range"),
    ("rewind_lenient", "rewind_out_of_range", "REWIND_OUT_OF_RANGE"),
    ("forget_state", "restart", "kill levels survived"),
    ("flatten_lenient", "flatten_orders", "a flatten MARKET order is refused ORDER_INVALID"),
]


@pytest.mark.parametrize(("flaw", "name", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_rule_when_the_core_breaks_it_then_it_fails_with_the_evidence(make_core: MakeCore, flaw: str, name: str,
                                                                      words: str) -> None:
    core = make_core({flaw})
    result = one(core, name, restart=core.restart)
    assert result.status is Status.FAIL, result
    failed = [c["check"] for c in result.evidence["checks"] if not c["ok"]]
    assert any(words in c for c in failed), failed
    assert result.summary.startswith("FAILED:") and result.seconds > 0
    assert orjson.loads(orjson.dumps(result.to_json(), default=str))["status"] == "fail"


def test_every_rule_has_a_broken_core_that_fails_it() -> None:
    assert {b[1] for b in BROKEN} == set(RULE_NAMES)


def test_restart_when_no_restart_command_then_na_with_the_reason_never_pass(make_core: MakeCore) -> None:
    result = one(make_core({"forget_state"}), "restart")
    assert result.status is Status.NA and "--allow-restart" in result.summary
    assert result.evidence["reason"] == result.summary
    assert text_details(result) == [f"      n/a: {result.summary}"]


def test_run_suite_when_nothing_listens_then_unreachable_within_the_deadline(tmp_path: Path) -> None:
    core = FakeCore(tmp_path / "keys-only")  # for its keys; its endpoints are not used
    core.close()
    eps = Endpoints.around("tcp://127.0.0.1:9")
    with pytest.raises(Unreachable, match="no reply to hello"):
        run_suite(Config(eps, core.keys_dir, timeout_s=0.3))


def test_rule_when_a_body_checks_nothing_or_raises_then_it_fails() -> None:
    class Quiet:
        def cleanup(self) -> None:
            pass

    @rule("quiet", "test")
    def quiet(s: object, ev: Evidence) -> None:
        ev.note(looked="around")

    @rule("boom", "test")
    def boom(s: object, ev: Evidence) -> None:
        ev.check("one fine check", True)
        raise RuntimeError("broken peer")

    assert quiet(Quiet()).status is Status.FAIL  # type: ignore[arg-type]
    result = boom(Quiet())  # type: ignore[arg-type]
    assert result.status is Status.FAIL and "RuntimeError: broken peer" in orjson.dumps(result.evidence).decode()


def test_reports_when_written_then_json_and_html_beside_each_other(make_core: MakeCore, tmp_path: Path) -> None:
    report = run_suite(config(make_core({"toggle"})), only=["handshake", "levels_set_not_toggled", "restart"])
    paths = write_reports(report, tmp_path / "out" / "conf.html")
    assert [p.name for p in paths] == ["conf.json", "conf.html"]
    doc = orjson.loads(paths[0].read_bytes())
    assert doc["ok"] is False and doc["counts"] == {"pass": 1, "fail": 1, "n/a": 1}
    assert [r["status"] for r in doc["rules"]] == ["pass", "fail", "n/a"]
    page = paths[1].read_text()
    assert "DOES NOT CONFORM" in page and "levels_set_not_toggled" in page and "<script" not in page
    assert render_html({**doc, "rules": [{**doc["rules"][0], "summary": "<b>x</b>"}]}).count("&lt;b&gt;x") == 1
    assert write_reports(doc, tmp_path / "dir")[0] == tmp_path / "dir" / "conformance.json"
    assert text_line(report.results[1]).startswith("FAIL  levels_set_not_toggled")


def test_shell_restart_when_the_command_backgrounds_a_process_then_it_returns_at_once(tmp_path: Path) -> None:
    step = shell_restart(f"echo restarting; sleep 30 > /dev/null 2>&1 & echo $! > {tmp_path}/pid; exit 3",
                         timeout_s=10)
    out = step()
    pid = int((tmp_path / "pid").read_text())
    subprocess.run(["kill", str(pid)], check=False)
    assert out["exit_code"] == 3 and "restarting" in out["output_tail"] and out["seconds"] < 5


def test_corectl_conformance_when_a_rule_name_is_unknown_then_usage_exit_2() -> None:
    corectl = str(Path(sys.executable).with_name("corectl"))
    out = subprocess.run([corectl, "conformance", "--endpoint", "tcp://127.0.0.1:9", "--rule", "nope", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and orjson.loads(out.stdout)["error"] == "usage"
    assert "handshake" in orjson.loads(out.stdout)["message"]
