"""The twin's `sim` additions for the burst and chaos runs: a paced stream, and a flow of exactly N steps
stamped on the generator's own clock (the same seed gives the same events, byte for byte)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core_bridge.protocol import Command, EventType
from hw.twin.launch import TwinHandle, start_twin
from tests.fixtures.twin import curve_dealer, rpc
from tests.integration.test_twin_commands import rewind_all, status
from tests.polling import wait_for

TRADING = [int(e) for e in EventType if e.name.startswith(("ORDER_", "ROUTE_", "REPLACE_"))]
STAMP_FROM = 1_763_650_800_000_000_000  # 2026-11-20 10:00 New York


def _flow_events(handle: TwinHandle, args: dict[str, Any]) -> np.ndarray:
    s = curve_dealer(handle)
    try:
        first = status(s)["last_seq"] + 1
        assert rpc(s, Command.SIM, {"action": "start_flow", **args}).ok
        last: list[int] = []

        def done() -> bool:  # the flow stops by itself: the seq stops moving
            last.append(status(s)["last_seq"])
            return len(last) > 5 and last[-1] == last[-6] and last[-1] >= first
        wait_for(done, 30, "the flow to stop after its count")
        st = status(s)
    finally:
        s.close(0)
    recs, end = rewind_all(handle, st["epoch"], first, st["last_seq"])
    assert end["code"] == "OK"
    return recs[np.isin(recs["etype"], TRADING)]


def test_flow_when_counted_and_stamped_then_two_twins_give_identical_events(tmp_path: Path) -> None:
    args = {"rate": 2000, "seed": 5, "count": 400, "stamp_from_ns": STAMP_FROM}
    runs = []
    for name in ("a", "b"):
        twin = start_twin(tmp_path / name, "primary")
        try:
            runs.append(_flow_events(twin, args))
        finally:
            twin.stop()
    a, b = runs
    assert len(a) > 400 and a.tobytes() == b.tobytes()
    assert int(a["ts_ns"][0]) == STAMP_FROM and int(a["ts_ns"][-1]) < STAMP_FROM + 400 * 500_000 + 1000


@pytest.mark.parametrize("args", [{"count": 0}, {"stamp_from_ns": -1}, {"count": "9"}])
def test_flow_when_count_or_stamp_invalid_then_refused(twin_core_module: TwinHandle, args: dict[str, Any]) -> None:
    s = curve_dealer(twin_core_module)
    try:
        rep = rpc(s, Command.SIM, {"action": "start_flow", "rate": 100, **args})
    finally:
        s.close(0)
    assert not rep.ok and rep.code == "MSG_ARGS_INVALID"


def test_stream_when_paced_then_all_records_arrive_at_the_rate(twin_core_module: TwinHandle) -> None:
    s = curve_dealer(twin_core_module)
    try:
        rep = rpc(s, Command.SIM, {"action": "stream", "count": 4000, "batch": 500, "rate": 20_000})
        assert rep.ok and rep.result["rate"] == 20_000
        first = rep.result["first_seq"]
        wait_for(lambda: status(s)["last_seq"] >= first + 3999, 20, "the paced stream")
        assert not rpc(s, Command.SIM, {"action": "stream", "count": 10, "rate": -5}).ok
        st = status(s)
    finally:
        s.close(0)
    recs, _ = rewind_all(twin_core_module, st["epoch"], first, first + 3999)
    assert len(recs) == 4000 and bool(np.all(np.diff(recs["seq"]) == 1))
    # 4,000 records at 20,000/s take ~0.2 s of the core's clock: paced, not one burst of 4,000
    assert int(recs["ts_ns"][-1]) - int(recs["ts_ns"][0]) > 100_000_000
