"""The trouble a demo day has on purpose, chosen by its seed, so the failure paths are shown and exercised:

- the clearer first delivers a SOD balances file with one corrupt amount: `sod-load` rejects it whole,
  quarantines it and fails (the failure automation pages); the clearer then re-delivers it and it loads;
- the clearer books one of the day's fills with a wrong quantity: `recon` finds the break;
- CAT rejects one of the day's new-order records: `cat-feedback` the next morning seals and submits its repair.

Pure file edits and choices; the demo runner applies them between the flows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

CAT_ERROR_CODE = "2093"  # the CAT twin's rejection used for the seeded record (see hw/cat_twin)


@dataclass(frozen=True)
class CorruptFile:
    path: Path
    original: bytes
    line: int  # 1-based line that was corrupted
    field: str


def corrupt_balances(served: Path, day: dt.date, seed: int) -> CorruptFile:
    """Replace one amount in the day's balances CSV by a non-number (a classic bad-extract defect). The file's
    header and trailer records (`#...` lines) stay as they are: the fault is in a balance row."""
    path = next(served.rglob(f"balances_{day:%Y%m%d}.csv"))
    original = path.read_bytes()
    lines = original.decode("ascii").split("\n")
    head_at = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))  # column names
    header = lines[head_at].split(",")
    data = [i for i, line in enumerate(lines) if i > head_at and line.strip() and not line.startswith("#")]
    rng = random.Random(seed)
    i = rng.choice(data)
    col = header.index("equity") if "equity" in header else 2
    cells = lines[i].split(",")
    cells[col] = cells[col][:-1] + "O" if cells[col] else "O"  # a letter O where a digit belongs
    lines[i] = ",".join(cells)
    path.write_bytes("\n".join(lines).encode("ascii"))
    return CorruptFile(path, original, i + 1, header[col])


def redeliver(bad: CorruptFile) -> None:
    """The clearer's corrected file: the same name, the original bytes, a newer mtime."""
    bad.path.write_bytes(bad.original)


def misbook_one_fill(fills: list[Any], seed: int) -> tuple[list[Any], dict[str, Any] | None]:
    """The clearer's trade file with one fill booked one share short (a quantity break for recon)."""
    if not fills:
        return fills, None
    rng = random.Random(seed + 1)
    candidates = [i for i, f in enumerate(fills) if int(f.qty) > 1]
    if not candidates:
        return fills, None
    i = rng.choice(candidates)
    out = list(fills)
    out[i] = replace(fills[i], qty=int(fills[i].qty) - 1)
    return out, {"exec_id": int(fills[i].exec_id), "account": fills[i].account, "symbol": fills[i].symbol,
                 "booked_qty": int(fills[i].qty) - 1, "traded_qty": int(fills[i].qty)}


def inject_cat_rejection(cat_twin_dir: Path, firm_roe_ids: list[str], seed: int) -> str | None:
    """Tell the CAT twin to reject one new-order record (by firmROEID) with a data error."""
    if not firm_roe_ids:
        return None
    roe = random.Random(seed + 2).choice(sorted(firm_roe_ids))
    cat_twin_dir.mkdir(parents=True, exist_ok=True)
    (cat_twin_dir / "inject.json").write_text(json.dumps({roe: [CAT_ERROR_CODE]}, indent=2) + "\n")
    return roe


def new_order_roe_ids(events: Any, accounts: Any, config: Any) -> list[str]:
    from reports.cat.events import iter_records

    return [str(r["firmROEID"]) for r in iter_records(events, accounts, config) if r.get("type") == "MENO"]
