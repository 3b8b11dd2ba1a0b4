"""NDJSON data files, bzip2, metadata, and sealing under COLO_OPS_HOME/reports/<date>/cat/.

Invariants (see reports/cat/__init__.py): a record is one line <= 8190 bytes; each data file is
bzip2-compressed on its own; a submission is data files then one `.meta.json` per <= 100 files, each
listing record counts and the SHA-256 of the compressed file; nothing is sealed unless every record
passed the schema and the cross-record rules; sealed files are read-only and never overwritten (a
resubmission takes the next free file numbers); re-sealing identical content is a no-op that returns
the sealed submission, so a rerun of a date is idempotent and byte-identical.

Speed: lines are serialised and cross-checked in this process; per-file work (schema check of every
line with the compiled checker, bzip2, SHA-256) runs in a process pool, one task per data file.
"""

from __future__ import annotations

import bz2
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reports.cat.config import FILE_KIND, MAX_FILES_PER_META, MAX_RECORD_BYTES, CatConfig
from reports.cat.fastcheck import compiled_checks
from reports.cat.rules import CrossRecordChecker, Finding
from reports.errors import CatSealError, CatValidationError

_NAME_RE = re.compile(r"^(?P<prefix>.+_OrderEvents)_(?P<num>\d{6})(?P<ext>\.json\.bz2|\.meta\.json)$")


def name_prefix(cfg: CatConfig, date_int: int) -> str:
    group = f"{cfg.group}_" if cfg.group else ""
    return f"{cfg.submitter_id}_{cfg.imid}_{date_int}_{group}{FILE_KIND}"


def data_file_name(cfg: CatConfig, date_int: int, number: int) -> str:
    return f"{name_prefix(cfg, date_int)}_{number:06d}.json.bz2"


def meta_file_name(cfg: CatConfig, date_int: int, number: int) -> str:
    return f"{name_prefix(cfg, date_int)}_{number:06d}.meta.json"


def used_numbers(cat_dir: Path, prefix: str) -> set[int]:
    out = set()
    if cat_dir.is_dir():
        for p in cat_dir.iterdir():
            m = _NAME_RE.match(p.name)
            if m and m.group("prefix") == prefix:
                out.add(int(m.group("num")))
    return out


@dataclass
class SealedFile:
    name: str
    records: int
    sha256: str
    raw_bytes: int = 0


@dataclass
class Submission:
    """One sealed submission: its data files and metadata files (names relative to the cat dir)."""

    kind: str  # NEW, RPR/COR (repairs) ...
    files: list[SealedFile]
    metas: list[str]
    already_sealed: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)


# --- per-file worker ------------------------------------------------------------------------------------------


def _seal_chunk(task: tuple[int, bytes, str, bool]) -> tuple[int, int, str, int, list[Finding]]:
    """Check every line, compress, write `<partial>`; returns (index, records, sha256, raw bytes, findings)."""
    idx, blob, partial, strict = task
    checks = compiled_checks()
    findings: list[Finding] = []
    lines = blob.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, line in enumerate(lines, 1):
        if len(line) > MAX_RECORD_BYTES:
            findings.append(Finding("record_length", f"{len(line)} bytes > {MAX_RECORD_BYTES}", file=str(idx), line=n))
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            findings.append(Finding("schema", f"invalid JSON: {exc}", file=str(idx), line=n))
            continue
        fn = checks.get(str(rec.get("type"))) if type(rec) is dict else None
        errs = fn(rec, line) if fn is not None else [("type", "unknown event type")]
        if strict and not errs:
            from reports.cat.schema import parse_record, schema_errors

            errs = schema_errors(parse_record(line))
        for fld, msg in errs:
            findings.append(Finding("schema", msg, str(rec.get("firmROEID", "")) if type(rec) is dict else "",
                                    str(rec.get("type", "")) if type(rec) is dict else "", fld, str(idx), n))
    data = bz2.compress(blob, 9)
    Path(partial).write_bytes(data)
    return idx, len(lines), hashlib.sha256(data).hexdigest(), len(blob), findings


# --- sealing ----------------------------------------------------------------------------------------------


def _chunks(records: Iterable[dict[str, Any]], max_bytes: int, checker: CrossRecordChecker | None,
            counts: dict[str, int]) -> Iterator[bytes]:
    buf: list[bytes] = []
    size = 0
    dumps = orjson.dumps
    for r in records:
        line = dumps(r)
        if checker is not None:
            checker.add(r)
        et = r["type"]
        counts[et] = counts.get(et, 0) + 1
        if size and size + len(line) + 1 > max_bytes:
            blob = b"\n".join(buf) + b"\n"
            buf, size = [], 0  # before the yield: the lines must not live on while the file is checked
            yield blob
        buf.append(line)
        size += len(line) + 1
    yield (b"\n".join(buf) + b"\n") if buf else b""


def seal_records(records: Iterable[dict[str, Any]], cfg: CatConfig, date_int: int, cat_dir: Path, *,
                 now_ns: int, kind: str = "NEW", done_for_day: bool = True, strict: bool = False,
                 workers: int = 2, resubmit: bool = False, cross_check: bool = True) -> Submission:
    """Validate and seal one submission. Raises CatValidationError (nothing sealed) or CatSealError."""
    cat_dir.mkdir(parents=True, exist_ok=True)
    work = cat_dir / ".work"
    work.mkdir(exist_ok=True)
    checker = CrossRecordChecker(cfg.imid, now_ns) if cross_check else None
    counts: dict[str, int] = {}
    results: dict[int, tuple[int, int, str, int, list[Finding]]] = {}
    partials: list[Path] = []
    try:
        tasks: Iterator[tuple[int, bytes, str, bool]] = (
            (i, blob, str(work / f"{kind}.{i}.partial"), strict)
            for i, blob in enumerate(_chunks(records, cfg.max_file_bytes, checker, counts)))
        first = next(tasks)
        second = next(tasks, None)
        tasks = itertools.chain([first], [second] if second is not None else [], tasks)
        if workers <= 1 or second is None:  # one file: no pool to start
            for t in tasks:
                partials.append(Path(t[2]))
                results[t[0]] = _seal_chunk(t)
        else:
            ctx = mp.get_context("fork")
            with ctx.Pool(workers) as pool:
                pending: list[Any] = []
                for t in tasks:
                    partials.append(Path(t[2]))
                    pending.append(pool.apply_async(_seal_chunk, (t,)))
                    while len(pending) > workers + 1:  # bounded memory: at most a few files in flight
                        r = pending.pop(0).get()
                        results[r[0]] = r
                for p in pending:
                    r = p.get()
                    results[r[0]] = r
        findings = [f for i in sorted(results) for f in results[i][4]]
        if checker is not None:
            findings += checker.finish()
        if findings:
            raise CatValidationError(findings)
        return _commit(cfg, date_int, cat_dir, [results[i] for i in sorted(results)], partials, kind,
                       done_for_day, resubmit, counts)
    finally:
        for p in partials:
            p.unlink(missing_ok=True)


def _commit(cfg: CatConfig, date_int: int, cat_dir: Path, results: list[tuple[int, int, str, int, list[Finding]]],
            partials: list[Path], kind: str, done_for_day: bool, resubmit: bool, counts: dict[str, int]) -> Submission:
    prefix = name_prefix(cfg, date_int)
    hashes = [r[2] for r in results]
    for sub in sealed_submissions(cat_dir):
        if sub.kind == kind and [f.sha256 for f in sub.files] == hashes:
            sub.already_sealed = True
            sub.counts = counts
            return sub  # identical content is already sealed: idempotent rerun
        if sub.kind == kind == "NEW" and not resubmit:
            raise CatSealError(f"{cat_dir}: a different NEW submission is already sealed ({sub.metas[0]}); "
                               "pass resubmit=True to seal another under new file numbers")
    used = used_numbers(cat_dir, prefix)
    numbers: list[int] = []
    n = 1
    while len(numbers) < len(results) + -(-len(results) // MAX_FILES_PER_META):
        if n not in used:
            numbers.append(n)
        n += 1
    files = []
    for (idx, count, sha, raw, _), num in zip(results, numbers, strict=False):
        name = data_file_name(cfg, date_int, num)
        _place(partials[idx], cat_dir / name)
        files.append(SealedFile(name, count, sha, raw))
    metas = []
    meta_numbers = numbers[len(results):]
    batches = [files[i:i + MAX_FILES_PER_META] for i in range(0, len(files), MAX_FILES_PER_META)]
    for b, (batch, num) in enumerate(zip(batches, meta_numbers, strict=True)):
        meta = {"type": "META", "doneForDay": done_for_day and b == len(batches) - 1, "fileGenerationDate": date_int,
                "reporter": cfg.imid, "submitter": cfg.submitter_id, "fileVersion": cfg.file_version,
                "files": [{"fileName": f.name, "recordCount": f.records, "compressedHash": f.sha256} for f in batch]}
        name = meta_file_name(cfg, date_int, num)
        tmp = cat_dir / ".work" / (name + ".partial")
        tmp.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
        _place(tmp, cat_dir / name)
        _write_kind(cat_dir, name, kind)
        metas.append(name)
    return Submission(kind, files, metas, counts=counts)


def _place(src: Path, dst: Path) -> None:
    """Move into place read-only without ever replacing an existing file (link fails if dst exists)."""
    os.chmod(src, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        os.link(src, dst)
    except FileExistsError:
        raise CatSealError(f"{dst} already exists; sealed CAT files are never overwritten") from None
    src.unlink()


def _write_kind(cat_dir: Path, meta_name: str, kind: str) -> None:
    """Our own note of what a submission was (NEW, RPR...), beside but outside CAT's files."""
    (cat_dir / ".work" / (meta_name + ".kind")).write_text(kind)


def sealed_submissions(cat_dir: Path) -> list[Submission]:
    out: list[Submission] = []
    if not cat_dir.is_dir():
        return out
    for p in sorted(cat_dir.glob("*.meta.json")):
        meta = orjson.loads(p.read_bytes())
        kind_file = cat_dir / ".work" / (p.name + ".kind")
        kind = kind_file.read_text() if kind_file.exists() else "NEW"
        files = [SealedFile(f["fileName"], f["recordCount"], f["compressedHash"]) for f in meta["files"]]
        out.append(Submission(kind, files, [p.name]))
    # a submission spanning several metadata files (>100 data files) is merged back together
    merged: list[Submission] = []
    for s in out:
        if merged and merged[-1].kind == s.kind and not _done(cat_dir, merged[-1].metas[-1]):
            merged[-1].files += s.files
            merged[-1].metas += s.metas
        else:
            merged.append(s)
    return merged


def _done(cat_dir: Path, meta_name: str) -> bool:
    return bool(orjson.loads((cat_dir / meta_name).read_bytes()).get("doneForDay", True))


def read_data_file(path: Path) -> list[dict[str, Any]]:
    """Records of one sealed .json.bz2 file. Decimal literals stay exact (kept as raw JSON fragments), so a
    restated record (RPR/COR) carries the very same price text, never a float round trip."""
    raw = bz2.decompress(path.read_bytes())
    return [json.loads(x, parse_float=_fragment) for x in raw.split(b"\n") if x]


def _fragment(text: str) -> orjson.Fragment:
    return orjson.Fragment(text.encode())
