"""Sealing: file names, bzip2 per file, metadata, read-only, idempotent reruns, byte-identical regeneration."""

from __future__ import annotations

import bz2
import datetime as dt
import hashlib
import os
import re
import stat
from pathlib import Path

import orjson
import pytest

from hw.cat_twin.lifecycles import mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.events import build_records
from reports.cat.package import seal_records
from reports.errors import CatSealError, CatValidationError

DAY = dt.date(2026, 11, 20)
NOW = 2_000_000_000_000_000_000
NAME = re.compile(r"^999001_CLOP_20261120_(G1_)?OrderEvents_\d{6}\.(json\.bz2|meta\.json)$")


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_seal_when_day_split_by_size_then_names_metadata_and_hashes_match(tmp_path: Path) -> None:
    cfg = CatConfig(max_file_bytes=20_000, group="G1")
    sub = seal_day(mixed_day(DAY, 20), ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW, workers=2)
    assert len(sub.files) > 3 and len(sub.metas) == 1
    meta = orjson.loads((tmp_path / sub.metas[0]).read_bytes())
    assert set(meta) == {"type", "doneForDay", "fileGenerationDate", "reporter", "submitter", "fileVersion", "files"}
    assert meta["type"] == "META" and meta["doneForDay"] is True and meta["fileGenerationDate"] == 20261120
    assert meta["reporter"] == "CLOP" and meta["submitter"] == 999001 and meta["fileVersion"] == "4.2.0"
    total = 0
    for f in meta["files"]:
        raw = (tmp_path / f["fileName"]).read_bytes()
        assert NAME.match(f["fileName"]) and hashlib.sha256(raw).hexdigest() == f["compressedHash"]
        lines = bz2.decompress(raw).split(b"\n")
        assert lines[-1] == b"" and len(lines) - 1 == f["recordCount"]
        assert all(0 < len(x) <= 8190 for x in lines[:-1]) and len(bz2.decompress(raw)) <= 20_000
        total += f["recordCount"]
    assert total == 20 * 22 == sub.records
    assert NAME.match(sub.metas[0]) and sub.metas[0].endswith(f"{len(sub.files) + 1:06d}.meta.json")


def test_seal_when_regenerated_in_another_home_then_byte_identical(tmp_path: Path) -> None:
    cfg = CatConfig(max_file_bytes=30_000)
    ev = mixed_day(DAY, 10)
    seal_day(ev, ACCOUNTS_BY_ID, cfg, DAY, tmp_path / "a", now_ns=NOW, workers=2)
    seal_day(ev, ACCOUNTS_BY_ID, cfg, DAY, tmp_path / "b", now_ns=NOW + 10**12, workers=1)
    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    assert a == b and len(a) > 2


def test_seal_when_sealed_then_files_read_only_and_rerun_changes_nothing(tmp_path: Path) -> None:
    cfg = CatConfig(max_file_bytes=30_000)
    ev = mixed_day(DAY, 5)
    first = seal_day(ev, ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()}
    for p in tmp_path.iterdir():
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) & 0o222 == 0
    again = seal_day(ev, ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW)
    assert again.already_sealed and again.metas == first.metas
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir() if p.is_file()} == before


def test_seal_when_different_content_for_sealed_date_then_refused_unless_resubmit(tmp_path: Path) -> None:
    cfg = CatConfig()
    first = seal_day(mixed_day(DAY, 2), ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW)
    before = files(tmp_path)
    with pytest.raises(CatSealError, match="already sealed"):
        seal_day(mixed_day(DAY, 3), ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW)
    assert files(tmp_path) == before
    second = seal_day(mixed_day(DAY, 3), ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=NOW, resubmit=True)
    assert {f.name for f in second.files}.isdisjoint({f.name for f in first.files})
    after = files(tmp_path)
    assert all(after[k] == v for k, v in before.items())  # the first submission is untouched


def test_seal_when_record_breaks_a_rule_then_nothing_sealed_and_rule_reported(tmp_path: Path) -> None:
    cfg = CatConfig()
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, cfg)
    meor = next(r for r in recs if r["type"] == "MEOR")
    del meor["session"]  # 2093
    recs.append(dict(recs[0]))  # duplicate MENO: order key and firmROEID reused
    with pytest.raises(CatValidationError) as exc:
        seal_records(recs, cfg, 20261120, tmp_path, now_ns=NOW, workers=2)
    found = {(f.rule, f.field) for f in exc.value.findings}
    assert ("schema", "session") in found and ("order_key_unique", "orderID") in found
    assert [p for p in tmp_path.iterdir() if p.is_file()] == []
    assert os.listdir(tmp_path / ".work") == []


def test_seal_when_record_longer_than_8190_bytes_then_rejected(tmp_path: Path) -> None:
    cfg = CatConfig()
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, cfg)
    recs[0]["orderID"] = "9" * 8200
    with pytest.raises(CatValidationError) as exc:
        seal_records(recs, cfg, 20261120, tmp_path, now_ns=NOW, workers=1)
    assert "record_length" in {f.rule for f in exc.value.findings}


def test_seal_when_timestamp_in_future_then_rejected(tmp_path: Path) -> None:
    cfg = CatConfig()
    with pytest.raises(CatValidationError) as exc:
        seal_day(mixed_day(DAY), ACCOUNTS_BY_ID, cfg, DAY, tmp_path, now_ns=1_700_000_000_000_000_000)
    assert {f.rule for f in exc.value.findings} == {"timestamp_not_future"}


def test_seal_when_no_events_then_one_empty_file_with_done_for_day(tmp_path: Path) -> None:
    sub = seal_day(mixed_day(DAY)[:0], ACCOUNTS_BY_ID, CatConfig(), DAY, tmp_path, now_ns=NOW)
    assert sub.records == 0 and len(sub.files) == 1
    assert orjson.loads((tmp_path / sub.metas[0]).read_bytes())["doneForDay"] is True
