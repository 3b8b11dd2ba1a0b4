"""Rules on the streams: heartbeat cadence (§9), drop-copy continuity (§6, §8), rewind in and out of range (§7),
and restart behaviour (§8), which runs only when the operator said how to restart the core.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import orjson

from core_bridge.conformance.peer import core_fields
from core_bridge.conformance.result import Evidence, rule
from core_bridge.conformance.session import HEARTBEAT_PERIOD_MS, Session
from core_bridge.protocol import DROPCOPY_TOPIC, MAX_REWIND_SPAN, REWIND_CHUNK, EventFlag

HB_FIELDS = ("node", "epoch", "last_seq", "state_version", "core_time_ns", "trading_state", "ha_role",
             "stream_remaining")
FULL_RANGE_CAP = 50_000  # a full-range rewind asks for at most this many records
TOGGLE_EVERY_S = 0.25  # the continuity rule makes its own events this often (a quiet core publishes none)


def _res(reply: dict[str, Any]) -> dict[str, Any]:
    return reply.get("result") or {}


@rule("heartbeat_cadence", "§9")
def heartbeat_cadence(s: Session, ev: Evidence) -> str:
    cfg, period = s.config, HEARTBEAT_PERIOD_MS
    sub = s.peer.subscribe("telemetry", (b"hb",), s.mon)
    beats: list[tuple[int, dict[str, Any]]] = []
    bad = 0
    try:
        first_by = time.monotonic() + 20 * period / 1000  # the first heartbeat within 20 periods
        window_end: float | None = None
        while (left := (window_end or first_by) - time.monotonic()) > 0:
            if not sub.poll(max(1, int(left * 1000))):
                continue
            frames = sub.recv_multipart()
            at = time.monotonic_ns()
            doc = _json(frames[-1]) if len(frames) == 2 and frames[0] == b"hb" else None
            if not isinstance(doc, dict):
                bad += 1
                continue
            beats.append((at, doc))
            window_end = window_end or time.monotonic() + cfg.hb_window_s
    finally:
        sub.close(0)
    ev.check("heartbeats arrive on the telemetry feed", len(beats) >= 3, beats=len(beats))
    ev.check("every hb message is [b'hb', JSON object]", bad == 0, malformed=bad)
    if len(beats) < 3:
        return "no heartbeats"
    missing = sorted({k for _, d in beats for k in HB_FIELDS if k not in d})
    ev.check("every heartbeat has the fields of §9", not missing, missing=missing)
    clocked = [d for _, d in beats if "clock_offset_ns" in d]  # optional for a core (§9)
    ev.check("where sent, clock_offset_ns is an integer and clock_source a string",
             all(isinstance(d["clock_offset_ns"], int) and not isinstance(d["clock_offset_ns"], bool)
                 and isinstance(d.get("clock_source"), str) for d in clocked), heartbeats_with_offset=len(clocked))
    lo, hi = period * (1 - cfg.hb_tolerance), period * (1 + cfg.hb_tolerance)
    local = [(b[0] - a[0]) / 1e6 for a, b in zip(beats, beats[1:], strict=False)]
    med = statistics.median(local)
    ev.check(f"median interval (received) within {lo:.0f}..{hi:.0f} ms of the {period} ms period", lo <= med <= hi,
             median_ms=round(med, 2), min_ms=round(min(local), 2), max_ms=round(max(local), 2), n=len(local))
    stamps = [d.get("core_time_ns") for _, d in beats]
    if all(isinstance(t, int) for t in stamps):
        core = [(b - a) / 1e6 for a, b in zip(stamps, stamps[1:], strict=False)]  # type: ignore[operator]
        cmed = statistics.median(core)
        ev.check(f"median interval by core_time_ns within {lo:.0f}..{hi:.0f} ms", lo <= cmed <= hi,
                 median_ms=round(cmed, 2))
        ev.check(f"no heartbeat gap above {cfg.hb_max_gap:g} periods", max(core) <= cfg.hb_max_gap * period,
                 max_gap_ms=round(max(core), 2))
    epoch = _res(s.status()).get("epoch")
    ev.check("heartbeats carry the core's epoch", all(d.get("epoch") == epoch for _, d in beats), epoch=epoch)
    seqs = [d.get("last_seq") for _, d in beats]
    ev.check("last_seq never goes back", all(isinstance(x, int) for x in seqs)
             and all(b >= a for a, b in zip(seqs, seqs[1:], strict=False)))  # type: ignore[operator]
    return f"{len(beats)} heartbeats, median {med:.1f} ms (period {period} ms)"


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


@rule("dropcopy_continuity", "§6, §8")
def dropcopy_continuity(s: Session, ev: Evidence) -> str:
    import numpy as np

    from core_bridge.protocol import decode_batch

    sub = s.peer.subscribe("dropcopy", (DROPCOPY_TOPIC,), s.mon)
    batches: list[np.ndarray] = []
    bad: list[str] = []
    toggles, level = 0, "HALTED"

    def take(wait_s: float) -> None:
        if sub.poll(max(1, int(wait_s * 1000))):
            frames = sub.recv_multipart()
            if len(frames) != 3 or frames[0] != DROPCOPY_TOPIC:
                bad.append(f"a message of {len(frames)} frames, topic {frames[0][:8]!r}")
                return
            try:
                batches.append(decode_batch(frames[1], frames[2])[1].copy())
            except ValueError as exc:
                bad.append(str(exc))

    try:
        t_end = time.monotonic() + s.config.stream_seconds
        next_toggle = time.monotonic()
        while (now := time.monotonic()) < t_end:
            if now >= next_toggle:
                s.set_symbol(level)
                level, toggles, next_toggle = ("ACTIVE" if level == "HALTED" else "HALTED"), toggles + 1, \
                    next_toggle + TOGGLE_EVERY_S
            take(min(t_end, next_toggle) - time.monotonic())
        st = _res(s.status())
        target, epoch = int(st.get("last_seq") or 0), st.get("epoch")
        until = time.monotonic() + 3.0
        while time.monotonic() < until and not (batches and int(batches[-1]["seq"][-1]) >= target):
            take(until - time.monotonic())
    finally:
        sub.close(0)
    ev.note(toggles=toggles, batches=len(batches))
    ev.check("drop copy arrives while the suite makes events", bool(batches), toggles=toggles)
    ev.check("every message is [b'dc', header, records] and decodes", not bad, problems=bad[:10])
    if not batches:
        return "nothing received"
    recs = np.concatenate(batches)
    s.live = recs
    epochs = sorted({int(e) for e in recs["epoch"]})
    ev.check("one epoch, the status epoch", epochs == [epoch], epochs=epochs, status_epoch=epoch)
    seqs = recs["seq"].astype(np.int64)
    d = np.diff(seqs)
    gaps = [[int(seqs[i]), int(seqs[i + 1])] for i in np.flatnonzero(d > 1)[:10]]
    dupes = [[int(seqs[i]), int(seqs[i + 1])] for i in np.flatnonzero(d < 1)[:10]]
    ev.check("no gap in seq", not gaps, gaps=gaps)
    ev.check("no duplicate or reordered seq", not dupes, dupes=dupes)
    ev.check("the stream reaches the status last_seq", int(seqs[-1]) >= target, last_seen=int(seqs[-1]),
             status_last_seq=target)
    ev.check("timestamps strictly increase", bool(np.all(np.diff(recs["ts_ns"].astype(np.int64)) > 0)))
    ev.check("no live record carries the REPLAY flag", not bool(np.any(recs["flags"] & EventFlag.REPLAY)))
    return (f"{len(recs)} records in {len(batches)} batches, seq {int(seqs[0])}..{int(seqs[-1])} gapless "
            f"over {s.config.stream_seconds:g} s")


def _ranges(last: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out = {(1, 1), (last, last), (max(1, last - FULL_RANGE_CAP + 1), last)}
    if last > REWIND_CHUNK:
        out.add((1, min(last, 2 * REWIND_CHUNK + 7)))  # more than one chunk
    for _ in range(3):
        a = rng.randint(1, last)
        out.add((a, rng.randint(a, min(last, a + 5_000))))
    return sorted(out)


@rule("rewind_in_range", "§7")
def rewind_in_range(s: Session, ev: Evidence) -> str:
    import numpy as np

    st = _res(s.status())
    for level in ("HALTED", "ACTIVE", "HALTED"):  # a core that published little: make a few events first
        if int(st.get("last_seq") or 0) >= 3:
            break
        s.set_symbol(level)
        st = _res(s.status())
    epoch, last = st.get("epoch"), int(st.get("last_seq") or 0)
    ev.check("the core has published records to rewind", last >= 1, last_seq=last)
    if last < 1:
        return "nothing published"
    for a, b in _ranges(last, s.config.seed):
        ans = s.rewind(epoch, a, b)
        end, problems, compared = ans.end or {}, [], 0
        if ans.error:
            problems.append(ans.error)
        if (end.get("end"), end.get("code"), end.get("epoch")) != (True, "OK", epoch):
            problems.append(f"end frame {end}")
        if not isinstance(end.get("last_seq"), int) or end["last_seq"] < b:
            problems.append(f"end last_seq {end.get('last_seq')} below {b}")
        got = ans.seqs()
        if got != list(range(a, b + 1)):
            problems.append(f"records {got[:1]}..{got[-1:]} ({len(got)}), not {a}..{b}")
        if any(n > REWIND_CHUNK for n in ans.chunks):
            problems.append(f"a chunk above REWIND_CHUNK: {max(ans.chunks)}")
        if ans.records is not None and not problems:
            recs = ans.records
            if not bool(np.all(recs["flags"] & EventFlag.REPLAY)):
                problems.append("a replayed record without the REPLAY flag")
            if not bool(np.all(recs["epoch"] == epoch)):
                problems.append("a record of another epoch")
            live = s.live
            if live is not None:
                live = live[(live["epoch"] == epoch) & (live["seq"] >= a) & (live["seq"] <= b)]
                if len(live):
                    replayed = recs[(live["seq"].astype(np.int64) - a)].copy()
                    replayed["flags"] &= ~np.uint8(EventFlag.REPLAY)
                    compared = len(live)
                    if replayed.tobytes() != live.tobytes():
                        problems.append("replayed records differ from the live ones beyond the REPLAY flag")
        ev.check(f"rewind {a}..{b} of epoch {epoch} serves exactly that range", not problems, problems=problems,
                 chunks=ans.chunks, compared_with_live=compared)
    return f"{len(ev.checks) - 1} ranges inside 1..{last} served exactly, REPLAY-flagged"


@rule("rewind_out_of_range", "§7")
def rewind_out_of_range(s: Session, ev: Evidence) -> str:
    st = _res(s.status())
    epoch, last = st.get("epoch"), int(st.get("last_seq") or 0)
    cases = [("to_seq beyond last_seq", 1, last + 1000), ("from_seq 0", 0, 3), ("to_seq below from_seq", 9, 8),
             ("not yet published", last + 1, last + 5), ("span above MAX_REWIND_SPAN", 1, MAX_REWIND_SPAN + 1)]
    for name, a, b in cases:
        ans = s.rewind(epoch, a, b)
        end = ans.end or {}
        ok = (ans.records is None and ans.error is None and end.get("code") == "REWIND_OUT_OF_RANGE"
              and isinstance(end.get("last_seq"), int) and end["last_seq"] >= last)
        ev.check(f"{name} ({a}..{b}): only an end frame, REWIND_OUT_OF_RANGE", ok, end=end, error=ans.error,
                 records=len(ans.seqs()))
    other = epoch + 1000 if isinstance(epoch, int) else 10**6
    ans = s.rewind(other, 1, 1)
    ev.check(f"an epoch never had ({other}): REWIND_EPOCH_UNKNOWN", ans.records is None
             and (ans.end or {}).get("code") == "REWIND_EPOCH_UNKNOWN", end=ans.end, error=ans.error)
    return f"{len(cases)} ranges outside 1..{last} refused REWIND_OUT_OF_RANGE; unknown epoch refused"


@rule("restart", "§8")
def restart(s: Session, ev: Evidence) -> str:
    cfg = s.config
    if cfg.restart is None:
        ev.na("no --allow-restart command given: the suite restarts a core only when told how")
    s.set_symbol("ACTIVE")
    rid, frame = s.peer.frame("set_kill", s.kill_args("HALTED"))
    s.symbol_changed = True
    applied = s.peer.send(rid, frame, s.op)
    ev.check("a set_kill is applied before the restart", applied is not None and applied.get("ok") is True,
             reply=core_fields(applied))
    st0 = _res(s.status())
    e0, l0 = st0.get("epoch"), int(st0.get("last_seq") or 0)
    t0 = time.monotonic()
    info = cfg.restart()
    ev.check("the restart command succeeded", info.get("exit_code") == 0, **info)
    hello: dict[str, Any] | None = None
    while time.monotonic() - t0 < cfg.restart_deadline_s:
        h = s.peer.call("hello", identity=s.mon, timeout_s=0.5)
        if h is not None and h.get("ok") and _res(h).get("epoch") != e0:
            hello = h
            break
        if h is not None:
            time.sleep(0.05)  # the old process still answers: polling interval of a bounded wait
    ev.check(f"the core answers with a new epoch within {cfg.restart_deadline_s:g} s", hello is not None,
             seconds=round(time.monotonic() - t0, 2))
    if hello is None or applied is None:
        return "no answer after the restart"
    e1 = _res(hello).get("epoch")
    ev.check("the new epoch is above the old one", isinstance(e0, int) and isinstance(e1, int) and e1 > e0,
             epochs=[e0, e1])
    st1 = _res(s.status())
    if l0 >= 1:
        lo = max(1, l0 - 999)
        old = s.rewind(e0, lo, l0)
        ev.check(f"the old epoch's records are still served ({lo}..{l0} of epoch {e0})",
                 old.seqs() == list(range(lo, l0 + 1)) and (old.end or {}).get("code") == "OK",
                 end=old.end, error=old.error)
    ev.check("kill levels survived", st1.get("kill") == st0.get("kill"), before=st0.get("kill"),
             after=st1.get("kill"))
    ev.check("state_version survived", isinstance(st1.get("state_version"), int)
             and st1["state_version"] >= int(st0.get("state_version") or 0),
             before=st0.get("state_version"), after=st1.get("state_version"))
    ev.check("the state did not come back unknown", st1.get("state_unknown") == st0.get("state_unknown"),
             state_unknown=[st0.get("state_unknown"), st1.get("state_unknown")])
    again = s.peer.send(rid, frame, s.op)
    ev.check("an id applied before the restart replays its original reply", core_fields(again)
             == core_fields(applied), original=core_fields(applied), retry=core_fields(again))
    ev.check("and is not applied again", _res(s.status()).get("state_version") == st1.get("state_version"))
    s.set_symbol("ACTIVE")  # an event in the new epoch, should it have published none yet
    st2 = _res(s.status())
    l2 = int(st2.get("last_seq") or 0)
    seqs = s.rewind(e1, 1, min(l2, 5)).seqs() if l2 >= 1 and st2.get("epoch") == e1 else []
    ev.check("seq restarts at 1 in the new epoch", seqs[:1] == [1], first_seqs=seqs, last_seq=l2)
    return f"epoch {e0} -> {e1}; kill levels, state_version and applied ids survived"
