"""Drill checks (journal vs node logs, state, in-flight orders), the report writer and the host inventory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core_bridge.protocol import EVENT_DTYPE, EventFlag, EventType
from flows.ha import checks
from hw.errors import HostError
from hw.hosts import load_inventory
from reports.ha import render_html, report_doc, write_report


def recs(seqs: list[int], epoch: int = 1, *, etype: EventType = EventType.LIMITS_CHANGED, qty: int = 0) -> np.ndarray:
    r = np.zeros(len(seqs), dtype=EVENT_DTYPE)
    r["seq"], r["epoch"], r["etype"], r["qty"] = seqs, epoch, etype, qty
    return r


@pytest.mark.parametrize(("journal", "logs", "want"), [
    (recs([1, 2, 3]), [{1: recs([1, 2, 3])}, {1: recs([1, 2])}], {"lost": 0, "duplicated": 0, "ok": True}),
    (recs([1, 3]), [{1: recs([1, 2, 3])}, {}], {"lost": 1, "ok": False}),
    (recs([1, 2, 2]), [{1: recs([1, 2])}, {}], {"duplicated": 1, "ok": False}),
    (recs([1, 2]), [{1: recs([1])}, {1: recs([1, 2], qty=7)}], {"diverged": 1, "nodes_disagree": 1, "ok": False}),
    (recs([1, 2, 3]), [{1: recs([1, 2])}, {}], {"extra": 1, "ok": False}),
])
def test_check_stream_when_compared_then_counts_each_kind_of_fault(journal: np.ndarray,
                                                                   logs: list[dict[int, np.ndarray]],
                                                                   want: dict[str, object]) -> None:
    got = checks.check_stream(journal, logs).to_dict()
    assert {k: got[k] for k in want} == want


def test_check_stream_when_journal_copy_was_rewound_then_replay_flag_ignored() -> None:
    j = recs([1, 2])
    j["flags"][1] = EventFlag.REPLAY
    assert checks.check_stream(j, [{1: recs([1, 2])}]).ok


def test_state_differences_when_one_key_changed_then_named() -> None:
    before = {"kill": {"firm": "ACTIVE"}, "bp": {"PROP01": "1"}}
    assert checks.state_differences(before, {**before, "bp": {"PROP01": "2"}}, ("kill", "bp")) == ["bp"]


def test_unresolved_orders_when_acked_before_takeover_and_not_ended_then_listed() -> None:
    j = np.concatenate([recs([1], etype=EventType.ORDER_ACKED), recs([2], etype=EventType.ORDER_ACKED),
                        recs([3], etype=EventType.ORDER_CANCELLED), recs([4], etype=EventType.ORDER_ACKED)])
    j["order_id"] = [10, 11, 11, 12]
    assert checks.unresolved_orders(j, (1, 3)) == [10]
    assert checks.unresolved_orders(j) == [10, 12]


def test_summarize_when_even_count_then_median_is_mean_of_middle() -> None:
    assert checks.summarize([300.0, 100.0, 200.0, 400.0]) == {"median": 250.0, "worst": 400.0, "n": 4}


def test_report_when_rendered_twice_then_byte_identical_and_lists_refusals(tmp_path: Path) -> None:
    drill = {"scenario": "second_primary", "ok": True, "metrics": {}, "checks": {},
             "timeline": [(0.0, "started"), (12.5, "refused")],
             "refusals": [{"utc": "2026-11-21T15:00:00Z", "operator": "ops", "identity": "admin",
                           "command": "ha_promote", "endpoint": "tcp://x", "code": "HA_SPLIT_BRAIN", "message": ""}]}
    doc = report_doc("2026-11-21", [drill])
    assert render_html(doc) == render_html(doc)
    j, h = write_report(doc, tmp_path / "ha")
    assert "HA_SPLIT_BRAIN" in h.read_text() and j.exists()


def test_load_inventory_when_field_missing_then_error_names_host_and_field(tmp_path: Path) -> None:
    p = tmp_path / "hosts.toml"
    p.write_text('[hosts.colo-a]\naddress = "10.0.0.1"\nuser = "ops"\nkey_file = "k"\n')
    with pytest.raises(HostError, match="hosts.colo-a: missing field 'known_hosts'"):
        load_inventory(p)
    p.write_text('[hosts.colo-a]\naddress = "10.0.0.1"\nuser = "ops"\nkey_file = "k"\nknown_hosts = "kh"\n'
                 'node = "standby"\nport = 2222\n')
    h = load_inventory(p)["colo-a"]
    assert (h.node, h.port, h.known_hosts) == ("standby", 2222, Path("kh"))
