"""The generated JSON Schema (jsonschema library) and the compiled hot-path checker agree on varied records."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import orjson
import pytest

from hw.cat_twin.lifecycles import mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.events import build_records
from reports.cat.fastcheck import check_line
from reports.cat.schema import REPORTED_EVENTS, event_schemas, parse_record, schema_errors

DAY = dt.date(2026, 11, 20)


def valid_records() -> list[dict[str, Any]]:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CatConfig())
    return [json.loads(orjson.dumps(r), parse_float=Decimal) for r in recs]


def _dump(obj: Any) -> bytes:
    """Decimals back to their exact literal, the way a data file carries them."""
    def enc(v: Any) -> Any:
        if isinstance(v, Decimal):
            return orjson.Fragment(str(v).encode())
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, list):
            return [enc(x) for x in v]
        return v

    return orjson.dumps(enc(obj))


MUTATIONS = [
    ("drop required", lambda r, f, rng: r.pop(f, None)),
    ("null", lambda r, f, rng: r.__setitem__(f, None)),
    ("empty string", lambda r, f, rng: r.__setitem__(f, "")),
    ("wrong type number", lambda r, f, rng: r.__setitem__(f, 7)),
    ("wrong type string", lambda r, f, rng: r.__setitem__(f, "X")),
    ("wrong type bool", lambda r, f, rng: r.__setitem__(f, True)),
    ("object", lambda r, f, rng: r.__setitem__(f, {"DAY": 20261120})),
    ("long text", lambda r, f, rng: r.__setitem__(f, "A" * 65)),
    ("bad char", lambda r, f, rng: r.__setitem__(f, "a,b")),
    ("newline", lambda r, f, rng: r.__setitem__(f, "ab\n")),
    ("nine decimals", lambda r, f, rng: r.__setitem__(f, Decimal("1.123456789"))),
    ("eight decimals", lambda r, f, rng: r.__setitem__(f, Decimal("1.12345678"))),
    ("trailing zero", lambda r, f, rng: r.__setitem__(f, Decimal("100.50"))),
    ("float whole", lambda r, f, rng: r.__setitem__(f, Decimal("100.0"))),
    ("huge", lambda r, f, rng: r.__setitem__(f, 10**13)),
    ("negative", lambda r, f, rng: r.__setitem__(f, -5)),
    ("unknown field", lambda r, f, rng: r.__setitem__("bogusField", 1)),
    ("ts string", lambda r, f, rng: r.__setitem__(f, "20261120 093000.123456789")),
    ("ts bad string", lambda r, f, rng: r.__setitem__(f, "20261120 0930")),
    ("two tif", lambda r, f, rng: r.__setitem__("timeInForce", {"DAY": 20261120, "IOC": True})),
    ("tif unknown", lambda r, f, rng: r.__setitem__("timeInForce", {"XYZ": True})),
    ("handling ok", lambda r, f, rng: r.__setitem__("handlingInstructions", {"ALO": True, "DISQ": 100})),
    ("handling bad", lambda r, f, rng: r.__setitem__("handlingInstructions", {"ALO": "yes"})),
    ("handling empty", lambda r, f, rng: r.__setitem__("handlingInstructions", {})),
    ("handling disq zero", lambda r, f, rng: r.__setitem__("handlingInstructions", {"DISQ": Decimal("10.10")})),
    ("rpr no error id", lambda r, f, rng: r.__setitem__("actionType", "RPR")),
    ("new with error id", lambda r, f, rng: r.__setitem__("errorROEID", 5)),
    ("market with price", lambda r, f, rng: r.__setitem__("orderType", "MKT")),
    ("exchange id bad", lambda r, f, rng: r.__setitem__("destination", "NASDAQ")),
    ("firm route", lambda r, f, rng: r.__setitem__("destinationType", "F")),
    ("reserved", lambda r, f, rng: r.__setitem__("reservedForFutureUse", "x")),
    ("manual no ts", lambda r, f, rng: r.__setitem__("manualFlag", True)),
    ("electronic ts", lambda r, f, rng: r.__setitem__("electronicTimestamp", 1)),
    ("prior id alone", lambda r, f, rng: r.pop("priorOrderKeyDate", None)),
    ("side options", lambda r, f, rng: r.__setitem__("side", "S")),
    ("aggregated", lambda r, f, rng: r.__setitem__("aggregatedOrders", [{"orderID": "1", "orderKeyDate": 1}])),
    ("aggregated bad", lambda r, f, rng: r.__setitem__("aggregatedOrders", [{"orderID": 1}])),
    ("type other", lambda r, f, rng: r.__setitem__("type", "MEOT")),
]


def test_fastcheck_when_varied_records_then_agrees_with_jsonschema() -> None:
    rng = random.Random(20261120)
    base = valid_records()
    cases = valid = 0
    disagreements = []
    for rec in base:
        fields = list(rec)
        for name, mut in MUTATIONS:
            for f in rng.sample(fields, min(4, len(fields))):
                r = json.loads(_dump(rec), parse_float=Decimal)
                mut(r, f, rng)
                line = _dump(r)
                slow = schema_errors(parse_record(line))
                fast = check_line(line)
                cases += 1
                valid += not slow
                if bool(slow) != bool(fast):
                    disagreements.append((name, f, line.decode()[:200], slow[:2], fast[:2]))
    assert cases > 3000 and 100 < valid < cases - 1000  # both outcomes well represented
    assert disagreements == []


def test_fastcheck_when_valid_records_then_no_errors_from_either() -> None:
    for rec in valid_records():
        line = _dump(rec)
        assert schema_errors(parse_record(line)) == [] and check_line(line) == []


@pytest.mark.parametrize(
    ("event", "mutate", "field"),
    [
        ("MEOR", lambda r: r.pop("session"), "session"),  # 2093
        ("MENO", lambda r: r.__setitem__("side", "Sell"), "side"),  # 2095
        ("MENO", lambda r: r.__setitem__("timeInForce", "DAY=20261120"), "timeInForce"),  # 2101
        ("MENO", lambda r: r.__setitem__("quantity", Decimal("100.00")), "quantity"),
        ("MEOC", lambda r: r.__setitem__("extra", 1), "extra"),  # 2133
        ("MENO", lambda r: r.__setitem__("errorROEID", 1), "errorROEID"),  # 2026
    ],
)
def test_check_when_spec_rule_broken_then_both_name_the_field(event: str, mutate: Any, field: str) -> None:
    rec = next(r for r in valid_records() if r["type"] == event)
    mutate(rec)
    line = _dump(rec)
    assert any(field in path or field in msg for path, msg in schema_errors(parse_record(line)))
    assert any(path == field for path, _ in check_line(line))


def test_schema_when_generated_from_4_1_and_4_2_then_reported_fields_identical_and_records_pass_both() -> None:
    a, b = event_schemas("4.1.0"), event_schemas("4.2.0")
    for ev in REPORTED_EVENTS:
        assert a[ev]["properties"] == b[ev]["properties"] and a[ev]["required"] == b[ev]["required"], ev
    for rec in valid_records():
        line = _dump(rec)
        assert schema_errors(parse_record(line), "4.1.0") == [] and check_line(line, "4.1.0") == []
