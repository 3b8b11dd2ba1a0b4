"""CAT's processing of a submission, as far as a reporter can observe it (cat.md §4 feedback stages).

For each metadata file in `upload/` not yet processed: every listed data file must have arrived first,
with the listed SHA-256 and record count (else the metadata integrity file says REJECTED with a code);
then each record is ingested: invalid JSON (2134), over 8190 bytes (2132), RPR with an unknown errorROEID
(2026), or an injected error for its firmROEID. Rejected records are listed in
`<base>.ingestion.error.json.bz2` with a CAT-assigned errorROEID. An RPR clears its error.
State (next errorROEID, open errors, processed metadata) persists in `state.json`, so ids are
deterministic for a given sequence of submissions.
"""

from __future__ import annotations

import bz2
import hashlib
import json
from pathlib import Path
from typing import Any

MAX_RECORD_BYTES = 8190
FIRST_ERROR_ROE_ID = 7_000_000_001


class CatTwin:
    def __init__(self, root: Path, inject: dict[str, list[str]] | None = None) -> None:
        self.root = Path(root)
        self.upload = self.root / "upload"
        self.feedback = self.root / "feedback"
        self.upload.mkdir(parents=True, exist_ok=True)
        self.feedback.mkdir(parents=True, exist_ok=True)
        # errors to inject: firmROEID -> CAT error codes (argument, or `inject.json` in the root for runs
        # driven through settings, e.g. the flows)
        inject_file = self.root / "inject.json"
        from_file = json.loads(inject_file.read_text()) if inject_file.exists() else {}
        self.inject: dict[str, list[str]] = {**from_file, **(inject or {})}
        self._state_path = self.root / "state.json"

    def _state(self) -> dict[str, Any]:
        if self._state_path.exists():
            return json.loads(self._state_path.read_text())  # type: ignore[no-any-return]
        return {"next_error": FIRST_ERROR_ROE_ID, "open_errors": {}, "processed": [], "repaired": []}

    def _save(self, st: dict[str, Any]) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=1, sort_keys=True))
        tmp.replace(self._state_path)

    def open_errors(self) -> dict[str, str]:
        """errorROEID -> firmROEID of errors not yet repaired."""
        return dict(self._state()["open_errors"])

    def process(self) -> list[str]:
        """Process newly arrived metadata; returns the feedback file names written."""
        st = self._state()
        written: list[str] = []
        for meta_path in sorted(self.upload.glob("*.meta.json")):
            if meta_path.name in st["processed"]:
                continue
            st["processed"].append(meta_path.name)
            written += self._process_meta(meta_path, st)
        self._save(st)
        return written

    def _process_meta(self, meta_path: Path, st: dict[str, Any]) -> list[str]:
        base = meta_path.name[: -len(".json")]  # "<...>_NNNNNN.meta"
        try:
            meta = json.loads(meta_path.read_bytes())
            files = meta["files"]
        except (ValueError, KeyError, TypeError):
            return [self._write(f"{base}.integrity.json", {"status": "REJECTED", "errorCodes": ["1100"]})]
        codes: list[str] = []
        for f in files:
            p = self.upload / f["fileName"]
            if not p.exists():
                codes.append("1101")  # metadata arrived before (or without) its data file
                continue
            if hashlib.sha256(p.read_bytes()).hexdigest() != f["compressedHash"]:
                codes.append("1105")
        if codes:
            return [self._write(f"{base}.integrity.json", {"status": "REJECTED", "errorCodes": sorted(set(codes)),
                                                          "feedbackVersion": meta.get("fileVersion")})]
        written = [self._write(f"{base}.integrity.json", {"status": "ACCEPTED", "errorCodes": [],
                                                         "feedbackVersion": meta.get("fileVersion")})]
        for f in files:
            written += self._ingest(self.upload / f["fileName"], int(f["recordCount"]), st)
        return written

    def _ingest(self, path: Path, listed: int, st: dict[str, Any]) -> list[str]:
        data_base = path.name[: -len(".json.bz2")]
        try:
            lines = [x for x in bz2.decompress(path.read_bytes()).split(b"\n") if x]
        except (OSError, ValueError):
            return [self._write(f"{data_base}.ingestion.json", {"status": "REJECTED", "errorCodes": ["2153"]})]
        errors: list[dict[str, Any]] = []
        for line in lines:
            rec: dict[str, Any] = {}
            codes: list[str] = []
            if len(line) > MAX_RECORD_BYTES:
                codes.append("2132")
            try:
                rec = json.loads(line)
            except ValueError:
                codes.append("2134")
            roe = str(rec.get("firmROEID", ""))
            if rec.get("actionType") == "RPR":
                eid = str(rec.get("errorROEID", ""))
                if eid in st["open_errors"]:
                    del st["open_errors"][eid]
                    st["repaired"].append(eid)
                else:
                    codes.append("2026")
            elif rec.get("actionType") == "NEW":
                codes += self.inject.get(roe, [])
            if codes:
                eid = st["next_error"]
                st["next_error"] += 1
                st["open_errors"][str(eid)] = roe
                errors.append({"errorROEID": eid, "firmROEID": roe, "type": rec.get("type", ""), "errorCodes": codes})
        out = [self._write(f"{data_base}.ingestion.json", {
            "status": "ACCEPTED", "recordCount": len(lines), "listedCount": listed,
            "acceptedCount": len(lines) - len(errors), "rejectedCount": len(errors)})]
        if errors:
            name = f"{data_base}.ingestion.error.json.bz2"
            blob = b"".join(json.dumps(e, sort_keys=True).encode() + b"\n" for e in errors)
            (self.feedback / name).write_bytes(bz2.compress(blob, 9))
            out.append(name)
        return out

    def _write(self, name: str, obj: dict[str, Any]) -> str:
        (self.feedback / name).write_text(json.dumps(obj, sort_keys=True) + "\n")
        return name
