"""CAT feedback files -> errors; errors and firm corrections -> RPR / COR records.

Feedback we read (cat.md §4, per data file `<base>`): `<base>.ingestion.json` (counts) and
`<base>.ingestion.error.json.bz2` (one JSON object per rejected record: errorROEID, firmROEID, type,
errorCodes). Metadata integrity: `<meta base>.meta.integrity.json` ({status, errorCodes}).

Repairs: an RPR restates the *whole* event as we would build it now, with actionType RPR and the
errorROEID CAT assigned (otherwise CAT rejects it). A firm correction (COR) restates the event with the
changed fields and reuses the original firmROEID; it carries no errorROEID.
"""

from __future__ import annotations

import bz2
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# error code -> root cause bucket for the daily report (cat.md §4 list of ingestion rejects)
ERROR_ROOT_CAUSES: dict[str, str] = {
    "2026": "errorROEID/actionType mismatch",
    "2027": "timestamp granularity",
    "2032": "firmROEID format",
    "2033": "firmROEID date",
    "2019": "destination/destinationType",
    "2093": "session missing on exchange route",
    "2040": "leavesQty exceeds quantity",
    "2095": "invalid side",
    "2101": "timeInForce",
    "2036": "handlingInstructions",
    "2132": "record length",
    "2133": "unknown field",
    "2134": "invalid JSON",
    "2136": "bad characters",
    "2139": "future timestamp",
    "2143": "manualFlag combination",
    "2144": "manualFlag combination",
    "2149": "reporter/sender firm mismatch",
    "2153": "compression",
    "2189": "senderIMID equals destination",
    "2098": "symbol not valid on event date",
}


@dataclass(frozen=True)
class FeedbackError:
    error_roe_id: int
    firm_roe_id: str
    event: str
    codes: tuple[str, ...]
    file: str

    @property
    def root_cause(self) -> str:
        return ERROR_ROOT_CAUSES.get(self.codes[0], "other") if self.codes else "other"


@dataclass
class Feedback:
    errors: list[FeedbackError] = field(default_factory=list)
    integrity: dict[str, dict[str, Any]] = field(default_factory=dict)  # meta file -> status object
    ingestion: dict[str, dict[str, Any]] = field(default_factory=dict)  # data file -> counts


def parse_feedback(folder: Path) -> Feedback:
    """Read every CAT feedback file in `folder`; a malformed one raises ValueError naming file and line."""
    fb = Feedback()
    if not folder.is_dir():
        return fb
    for p in sorted(folder.iterdir()):
        name = p.name
        if name.endswith(".meta.integrity.json"):
            fb.integrity[name[: -len(".integrity.json")] + ".json"] = _load(p)
        elif name.endswith(".ingestion.json"):
            fb.ingestion[name[: -len(".ingestion.json")] + ".json.bz2"] = _load(p)
        elif ".ingestion.error" in name and name.endswith(".json.bz2"):
            data_file = name.split(".ingestion.error")[0] + ".json.bz2"
            for n, line in enumerate(bz2.decompress(p.read_bytes()).split(b"\n"), 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                    fb.errors.append(FeedbackError(int(obj["errorROEID"]), str(obj["firmROEID"]), str(obj["type"]),
                                                   tuple(str(c) for c in obj["errorCodes"]), data_file))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{name} line {n}: malformed feedback record ({exc})") from None
    return fb


def _load(p: Path) -> dict[str, Any]:
    try:
        obj = orjson.loads(p.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{p.name}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{p.name}: not a JSON object")
    return obj


def _restate(record: Mapping[str, Any], action: str, error_roe_id: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"actionType": action}
    if error_roe_id is not None:
        out["errorROEID"] = error_roe_id
    for k, v in record.items():
        if k not in ("actionType", "errorROEID"):
            out[k] = v
    return out


def build_repairs(errors: list[FeedbackError], current: Mapping[str, Mapping[str, Any]]) -> tuple[
        list[dict[str, Any]], list[FeedbackError]]:
    """RPR records for CAT's errors, restating each event from `current` (firmROEID -> record as built now).
    Returns (repairs, errors we could not repair because the event is no longer built)."""
    repairs, missing = [], []
    for e in sorted(errors, key=lambda x: x.error_roe_id):
        rec = current.get(e.firm_roe_id)
        if rec is None:
            missing.append(e)
            continue
        repairs.append(_restate(rec, "RPR", e.error_roe_id))
    return repairs, missing


def build_corrections(originals: Mapping[str, Mapping[str, Any]],
                      changes: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """COR records: the original event with `changes` applied (None removes a field), same firmROEID."""
    out = []
    for roe in sorted(changes):
        if roe not in originals:
            raise KeyError(f"no sealed event with firmROEID {roe!r} to correct")
        rec = dict(originals[roe])
        for k, v in changes[roe].items():
            if v is None:
                rec.pop(k, None)
            else:
                rec[k] = v
        out.append(_restate(rec, "COR", None))
    return out
