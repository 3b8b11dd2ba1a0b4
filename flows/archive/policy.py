"""The retention policy: classes (years + 17a-4 rule reference) and which record kind maps to which class.

Loaded from `retention_policy.toml` next to this module (or `archive.policy` in settings). A malformed
policy is rejected whole, naming the file and the field; nothing half-loaded.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.errors import FileRejectedError

DEFAULT_POLICY = Path(__file__).with_name("retention_policy.toml")


@dataclass(frozen=True)
class RetentionClass:
    name: str
    years: int
    rule: str
    records: str = ""
    description: str = ""
    unverified: bool = False


@dataclass(frozen=True)
class RetentionPolicy:
    version: str
    accessible_years: int
    accessible_note: str
    classes: dict[str, RetentionClass]
    kinds: dict[str, str]  # record kind -> class name
    source: Path

    def class_for(self, kind: str) -> RetentionClass:
        try:
            return self.classes[self.kinds[kind]]
        except KeyError:
            raise KeyError(f"record kind {kind!r} has no retention class in {self.source}") from None

    def retain_until(self, kind: str, business_date: dt.date) -> dt.date:
        return add_years(business_date, self.class_for(kind).years)


def add_years(day: dt.date, years: int) -> dt.date:
    """Calendar years; 29 Feb lands on 28 Feb in a common year (never a day early for any other date)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _need(table: dict[str, Any], key: str, typ: type, path: Path, where: str) -> Any:
    if key not in table:
        raise FileRejectedError(path, "missing", field=f"{where}.{key}")
    value = table[key]
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        raise FileRejectedError(path, f"expected {typ.__name__}, got {value!r}", field=f"{where}.{key}")
    return value


def load_policy(path: Path | None = None) -> RetentionPolicy:
    path = path or DEFAULT_POLICY
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FileRejectedError(path, f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise FileRejectedError(path, f"cannot read: {exc.strerror}") from None
    head = raw.get("policy")
    if not isinstance(head, dict):
        raise FileRejectedError(path, "missing [policy] table", field="policy")
    accessible = _need(head, "accessible_years", int, path, "policy")
    classes: dict[str, RetentionClass] = {}
    raw_classes = raw.get("classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        raise FileRejectedError(path, "no retention classes", field="classes")
    for name, table in raw_classes.items():
        where = f"classes.{name}"
        if not isinstance(table, dict):
            raise FileRejectedError(path, "must be a table", field=where)
        years = _need(table, "years", int, path, where)
        if years < 1:
            raise FileRejectedError(path, f"years must be >= 1, got {years}", field=f"{where}.years")
        if years < accessible:
            raise FileRejectedError(path, f"shorter than accessible_years {accessible}", field=f"{where}.years")
        classes[name] = RetentionClass(
            name=name,
            years=years,
            rule=_need(table, "rule", str, path, where),
            records=str(table.get("records", "")),
            description=str(table.get("description", "")),
            unverified=bool(table.get("unverified", False)),
        )
    raw_kinds = raw.get("kinds")
    if not isinstance(raw_kinds, dict) or not raw_kinds:
        raise FileRejectedError(path, "no record kinds", field="kinds")
    kinds: dict[str, str] = {}
    for kind, cls in raw_kinds.items():
        if cls not in classes:
            raise FileRejectedError(path, f"unknown class {cls!r}", field=f"kinds.{kind}")
        kinds[kind] = cls
    return RetentionPolicy(
        version=_need(head, "version", str, path, "policy"),
        accessible_years=accessible,
        accessible_note=str(head.get("accessible_note", "")),
        classes=classes,
        kinds=kinds,
        source=path,
    )
