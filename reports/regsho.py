"""The daily Reg SHO report: a pure writer from the day's data to files under reports/<date>/regsho/.

Sections: locates granted and consumed; short sales without a locate (must be zero: the core blocks them
with LOCATE_UNAVAILABLE, so a non-zero count is a control failure to escalate); threshold securities the
firm traded; pre-borrow (Rule 204(b)) names. Byte-identical for the same inputs (sorted, no wall clock).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LocateLine:
    locate_id: str
    symbol: str
    cusip: str
    method: str
    source: str
    granted: int
    used: int
    order_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class UnlocatedShort:
    symbol: str
    shorted: int
    granted: int
    order_ids: tuple[int, ...] = ()


@dataclass
class RegShoDay:
    date: dt.date
    threshold_list_date: dt.date
    locates: list[LocateLine] = field(default_factory=list)
    unlocated_shorts: list[UnlocatedShort] = field(default_factory=list)
    threshold_traded: dict[str, int] = field(default_factory=dict)  # symbol -> shares traded
    preborrow: dict[str, int] = field(default_factory=dict)  # symbol -> shares pre-borrowed


def write_regsho_report(day: RegShoDay, reports_dir: Path) -> list[Path]:
    """Write regsho_<date>.json (whole report) and locates_<date>.csv; returns the paths."""
    out = reports_dir / "regsho"
    out.mkdir(parents=True, exist_ok=True)
    ymd = day.date.isoformat()
    doc = {
        "date": ymd,
        "threshold_list_date": day.threshold_list_date.isoformat(),
        "summary": {
            "locates_granted": sum(x.granted for x in day.locates),
            "locates_consumed": sum(x.used for x in day.locates),
            "short_sales_without_locate": len(day.unlocated_shorts),
            "threshold_securities_traded": len(day.threshold_traded),
            "preborrow_names": len(day.preborrow),
        },
        "locates": [asdict(x) | {"order_ids": list(x.order_ids)} for x in sorted(day.locates, key=lambda x: x.symbol)],
        "short_sales_without_locate": [asdict(x) | {"order_ids": list(x.order_ids)}
                                       for x in sorted(day.unlocated_shorts, key=lambda x: x.symbol)],
        "threshold_securities_traded": dict(sorted(day.threshold_traded.items())),
        "preborrow_names": dict(sorted(day.preborrow.items())),
    }
    jpath = out / f"regsho_{ymd}.json"
    jpath.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["locate_id", "symbol", "cusip", "method", "source", "granted", "used", "order_ids"])
    for x in sorted(day.locates, key=lambda x: x.symbol):
        w.writerow([x.locate_id, x.symbol, x.cusip, x.method, x.source, x.granted, x.used,
                    " ".join(str(o) for o in x.order_ids)])
    cpath = out / f"locates_{ymd}.csv"
    cpath.write_text(buf.getvalue())
    return [jpath, cpath]
