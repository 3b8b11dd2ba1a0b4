"""CAT reporting configuration and every mapping that rests on an unverified reading of the spec.

Identity (submitter, IMID, CRD, group) comes from settings (`COLO_OPS_CAT_*` env or `[cat]` in
colo-ops.toml). The constants below are policy choices or best-effort mappings whose primary source
could not be read (see ../shared/domain/cat_scenarios.md "Open items"); they live here, in one place, so
that compliance can change one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core_bridge.protocol import Side, TimeInForce, Venue

# --- unverified mappings / policy (cat_scenarios.md §2, §5, §7; cat.md §1.3) -------------------------------
SIDE_CODES: dict[int, str] = {Side.BUY: "B", Side.SELL: "SL", Side.SHORT: "SS", Side.SHORT_EXEMPT: "SX"}
# Exchange ID per venue (cat.md §2 Exchange IDs). Routes to these are destinationType 'E'.
DESTINATIONS: dict[int, str] = {Venue.NSDQ: "NSDQ", Venue.NYSE: "NYSE", Venue.ARCA: "ARCA"}
ORDER_TYPES: dict[int, str] = {1: "LMT", 2: "MKT"}
# routedOrderID = the OUCH token / Pillar ClOrdID the core sent (drop-copy routed_id, decimal text) and
# session = the OUCH port / Pillar session name (drop-copy session). UNVERIFIED: CAT "Order Routing Field
# Mapping" document not available publicly.
TRADING_SESSION = "REG"  # our core only trades the regular session (UNVERIFIED for extended hours)
DEPT_TYPE = "T"  # prop trading desk (policy, cat.md §1.3)
ACCOUNT_HOLDER_TYPE = "P"  # other proprietary (FAQ C5); not a registered market maker
REPRESENTATIVE_IND = "N"
FDID_PENDING = "PENDING"
# Orders the core's risk gate blocked (ORDER_REJECTED) never left the firm. Policy (cat_scenarios.md §5,
# UNVERIFIED, to confirm with compliance): the core had created and timestamped the order, so the
# conservative choice is MENO + MEOC (initiator F, full cancel), no route. "none" reports nothing.
RISK_REJECT_POLICY = "meno_meoc"
FILE_VERSION = "4.2.0"  # metadata fileVersion = schema version we build to (cat_scenarios.md §7, UNVERIFIED)
FILE_KIND = "OrderEvents"
MAX_RECORD_BYTES = 8190
MAX_FILES_PER_META = 100


@dataclass(frozen=True)
class CatConfig:
    """Who we are to CAT and how files are cut. Defaults are placeholders for the twin and tests."""

    submitter_id: int = 999001  # CAT Submitter ID (our CRD when we self-submit)
    imid: str = "CLOP"  # CAT Reporter IMID (FINRA MPID), max 7 alphanumeric
    crd: int = 999001
    group: str = ""  # optional Alphanumeric(20) file group
    max_file_bytes: int = 256 * 1024 * 1024  # uncompressed bytes per data file (<= 1 GB recommended)
    risk_reject_policy: str = RISK_REJECT_POLICY
    file_version: str = FILE_VERSION

    @property
    def sender_imid(self) -> str:
        """Industry Member ID `<CRD>:<IMID>` (senderIMID on routes)."""
        return f"{self.crd}:{self.imid}"

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> CatConfig:
        d = cls()
        values: dict[str, Any] = {
            "submitter_id": int(settings.get("cat.submitter_id", d.submitter_id)),
            "imid": str(settings.get("cat.imid", d.imid)),
            "crd": int(settings.get("cat.crd", d.crd)),
            "group": str(settings.get("cat.group", d.group)),
            "max_file_bytes": int(settings.get("cat.max_file_bytes", d.max_file_bytes)),
            "risk_reject_policy": str(settings.get("cat.risk_reject_policy", d.risk_reject_policy)),
        }
        values.update(overrides)
        return cls(**values)


def tif_object(tif: int, date_int: int) -> dict[str, Any]:
    """timeInForce name/value object: DAY carries the event date, IOC is a boolean attribute."""
    if tif == TimeInForce.IOC:
        return {"IOC": True}
    return {"DAY": date_int}
