"""A demo re-run for the same day: the earlier run moved aside whole; someone else's data never touched."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core_bridge.settings import load_settings
from flows.errors import DemoHomeError
from flows.orchestration.demo_day import DEMO_MARKER, PREVIOUS_DIR, prepare_home

DAY = dt.date(2026, 11, 20)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_home_when_fresh_then_marked_and_nothing_moved(ops_home: Path) -> None:
    assert prepare_home(load_settings(), DAY) is None
    assert (ops_home / DEMO_MARKER).is_file() and not (ops_home / PREVIOUS_DIR).exists()


def test_prepare_home_when_demo_of_that_day_exists_then_moved_aside_whole(ops_home: Path) -> None:
    settings = load_settings()
    prepare_home(settings, DAY)
    (ops_home / "reports" / DAY.isoformat() / "cat").mkdir(parents=True)
    (ops_home / "reports" / DAY.isoformat() / "cat" / "x.meta.json").write_text("{}")
    (ops_home / "journal").mkdir()
    (ops_home / "journal" / "seg-1").write_bytes(b"\x01\x02")
    before = {k: v for k, v in _tree(ops_home).items() if k != DEMO_MARKER}
    moved = prepare_home(settings, DAY, stamp="20261202T190000Z")
    assert moved == ops_home / PREVIOUS_DIR / "20261202T190000Z"
    assert _tree(moved) == before  # everything kept, byte for byte
    assert sorted(p.name for p in ops_home.iterdir()) == sorted([DEMO_MARKER, PREVIOUS_DIR])
    # a third run keeps the second's data too, beside the first
    (ops_home / "reports" / DAY.isoformat()).mkdir(parents=True)
    again = prepare_home(settings, DAY, stamp="20261202T191500Z")
    assert again is not None and sorted(p.name for p in (ops_home / PREVIOUS_DIR).iterdir()) == [
        "20261202T190000Z", "20261202T191500Z"]


def test_prepare_home_when_day_has_reports_no_demo_wrote_then_refused_untouched(ops_home: Path) -> None:
    (ops_home / "reports" / DAY.isoformat()).mkdir(parents=True)
    (ops_home / "reports" / DAY.isoformat() / "recon.html").write_text("real")
    before = _tree(ops_home)
    with pytest.raises(DemoHomeError, match="no demo wrote"):
        prepare_home(load_settings(), DAY)
    assert _tree(ops_home) == before
