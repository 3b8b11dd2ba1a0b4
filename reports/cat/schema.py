"""FINRA's CAT IM schema (their own JSON table format) turned into standard JSON Schema, one per event.

FINRA publishes field tables (name, dataType, R/C/O, allowed choices), not JSON Schema. We generate a
draft 2020-12 schema per event from that table (plus the narrower equity value lists in cat_fields.json)
so the `jsonschema` library can check records, and `fastcheck` compiles the *same* generated schema to
straight-line Python for the 10 M-record hot path. Conditional rules ("C" fields) that the spec states in
prose are added here as if/then clauses, so both checkers enforce them.

Numbers: JSON Schema cannot see decimal places of a float, so records are parsed with
`parse_float=Decimal` and a custom keyword `catDecimal` {digits, scale, trailingZeros} checks the literal.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import validators

SPEC_DIR = Path(__file__).parent / "spec"
SCHEMA_VERSION = "4.2.0"
# Events this firm reports (cat.md §1); the schema is generated for every event, these are checked in tests.
REPORTED_EVENTS = ("MENO", "MENOS", "MEOR", "MEMR", "MECR", "MEOM", "MEOC")

# Text(n): printable ASCII 32-126 except comma, pipe, double quote and @ (error 2136). \Z, not $: Python's $
# also matches before a trailing newline.
TEXT_PATTERN = r"^[\x20\x21\x23-\x2B\x2D-\x3F\x41-\x7B\x7D\x7E]*\Z"
ALNUM_PATTERN = r"^[A-Za-z0-9]*\Z"
TS_STRING_PATTERN = r"^[0-9]{8}[ T][0-9]{6}(\.[0-9]{1,9})?\Z"
EXCHANGE_ID = "Exchange ID"


@functools.cache
def finra_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    return json.loads((SPEC_DIR / f"cat_im_schema_{version}.json").read_text())  # type: ignore[no-any-return]


@functools.cache
def cat_fields() -> dict[str, Any]:
    return json.loads((SPEC_DIR / "cat_fields.json").read_text())  # type: ignore[no-any-return]


def _text(n: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": n, "pattern": TEXT_PATTERN}


def _alnum(n: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": n, "pattern": ALNUM_PATTERN}


def _datatype_schema(dt: Any, field: dict[str, Any], spec: dict[str, Any], narrowed: list[Any] | None) -> Any:
    name = field["name"]
    types = {d["dataType"]: d for d in spec["dataTypes"]}
    if isinstance(dt, list):  # e.g. destination: Industry Member ID or Exchange ID -> the wider of the two
        return _text(16)
    if dt == "Price":
        return {"type": "number", "catDecimal": {"digits": 10, "scale": 8, "trailingZeros": True}}
    if dt == "Real Quantity":
        return {"type": "number", "catDecimal": {"digits": 12, "scale": 6, "trailingZeros": False}}
    if dt == "Whole Quantity":
        return {"type": "number", "catDecimal": {"digits": 12, "scale": 0, "trailingZeros": False}}
    if dt == "Unsigned":
        return {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
    if dt == "Integer":
        return {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
    if dt == "Date":
        return {"type": "integer", "minimum": 19000101, "maximum": 99991231}
    if dt == "Timestamp":
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 10**20 - 1},
                {"type": "string", "maxLength": 25, "pattern": TS_STRING_PATTERN},
            ]
        }
    if dt == "Boolean":
        return {"type": "boolean"}
    if dt == "Text (0)":
        return False  # retired / reserved positions: must be absent (error 2156)
    if dt.startswith("Text ("):
        return _text(int(dt[6:-1]))
    if dt.startswith("Alphanumeric ("):
        return _alnum(int(dt[14:-1]))
    if dt == "Symbol":
        return _text(22)
    if dt == "Message Type":
        return None  # filled by the caller with a const of the event name
    if dt == "CAT Reporter IMID":
        return _alnum(7)
    if dt == "Industry Member ID":
        return _text(16)
    if dt == EXCHANGE_ID:
        return {"type": "string", "enum": list(types[EXCHANGE_ID]["allowedValues"])}
    if dt == "Choice":
        values = narrowed if narrowed is not None else spec["choices"].get(name)
        return {"type": "string", "enum": list(values)} if values else {"type": "string"}
    if dt == "Name/Value Pairs":
        return _nvp_schema(name, spec)
    if field.get("arrayElements"):
        item = _object_schema(field["arrayElements"], spec, {})
        return {"type": "array", "minItems": 1, "items": item}
    jtype = field.get("JSONDataType")
    return {"type": {"ARRAY": "array", "OBJECT": "object", "STRING": "string", "NUMBER": "number"}.get(
        str(jtype), "string")} | ({"minItems": 1} if jtype == "ARRAY" else {})


def _nvp_schema(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    defs = {d["nameValuePair"]: d["fields"] for d in spec["nameValuePairDefinitions"]}
    props: dict[str, Any] = {}
    for f in defs.get(name, []):
        props[f["name"]] = _datatype_schema(f["dataType"], f, spec, None)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False, "minProperties": 1}
    if name == "timeInForce":
        out["maxProperties"] = 1  # exactly one attribute (error 2101)
    return out


def _object_schema(fields: list[dict[str, Any]], spec: dict[str, Any],
                   narrowed: dict[str, list[Any]]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        sub = _datatype_schema(f["dataType"], f, spec, narrowed.get(f["name"]))
        props[f["name"]] = sub
        if f["required"] == "Required" and f["name"] not in required:
            required.append(f["name"])
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _when(field: str, value: Any, then: dict[str, Any]) -> dict[str, Any]:
    cond = {"const": value} if not isinstance(value, list) else {"enum": value}
    return {"if": {"required": [field], "properties": {field: cond}}, "then": then}


def _conditionals(names: set[str], spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Conditional ("C") rules the spec states in prose, for the fields this event has."""
    rules: list[dict[str, Any]] = []
    absent = lambda f: {"not": {"required": [f]}}  # noqa: E731
    if "errorROEID" in names:
        rules.append(_when("actionType", "RPR", {"required": ["errorROEID"]}))  # RPR carries CAT's id
        rules.append(_when("actionType", ["NEW", "COR"], absent("errorROEID")))  # error 2026
    if {"orderType", "price"} <= names:
        rules.append(_when("orderType", "LMT", {"required": ["price"]}))
        rules.append(_when("orderType", "MKT", absent("price")))
    if "destinationType" in names:
        exch = [x for x in next(d for d in spec["dataTypes"] if d["dataType"] == EXCHANGE_ID)["allowedValues"]]
        need = [n for n in ("destination", "routedOrderID", "session", "senderIMID") if n in names]
        rules.append(_when("destinationType", "E", {"required": need,
                                                     "properties": {"destination": {"enum": exch}}}))  # 2019/2093
        rules.append(_when("destinationType", ["F", "O"], {"required": ["destination"]}))
    if {"manualFlag", "electronicTimestamp"} <= names:
        rules.append(_when("manualFlag", False, absent("electronicTimestamp")))
    if {"priorOrderID", "priorOrderKeyDate"} <= names:
        rules.append({"dependentRequired": {"priorOrderID": ["priorOrderKeyDate"],
                                            "priorOrderKeyDate": ["priorOrderID"]}})
    return rules


@functools.cache
def event_schemas(version: str = SCHEMA_VERSION) -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) per event type, generated from FINRA's table and cat_fields.json."""
    spec = finra_schema(version)
    narrowed_all = cat_fields()["events"]
    out: dict[str, dict[str, Any]] = {}
    for ev in spec["eventDefinitions"]:
        name = ev["eventName"]
        narrowed = {f["name"]: f["values"] for f in narrowed_all.get(name, [])
                    if f.get("type") == "Choice" and f.get("values")}
        sch = _object_schema(ev["fields"], spec, narrowed)
        for fname, fsch in sch["properties"].items():
            if fsch is None:
                sch["properties"][fname] = {"type": "string", "const": name}
        rules = _conditionals(set(sch["properties"]), spec)
        if rules:
            sch["allOf"] = rules
        sch["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[name] = sch
    return out


# --- jsonschema validator with Decimal numbers and the catDecimal keyword -----------------------------------


def _is_number(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int | float | Decimal) and not isinstance(instance, bool)


def _cat_decimal(_validator: Any, spec: dict[str, Any], instance: Any, _schema: Any) -> Any:
    if isinstance(instance, bool) or not isinstance(instance, int | float | Decimal):
        return
    if isinstance(instance, int):
        if abs(instance) >= 10 ** spec["digits"]:
            yield jsonschema.ValidationError(f"{instance} has more than {spec['digits']} integer digits")
        return
    if spec["scale"] == 0:
        yield jsonschema.ValidationError(f"{instance} must be a whole number without a decimal point")
        return
    d = instance if isinstance(instance, Decimal) else Decimal(repr(instance))
    t = d.as_tuple()
    exp = int(t.exponent)
    if exp < -spec["scale"]:
        yield jsonschema.ValidationError(f"{instance} has more than {spec['scale']} decimal places")
    if not spec["trailingZeros"] and exp < 0 and t.digits[-1] == 0:
        yield jsonschema.ValidationError(f"{instance} has trailing decimal zeros")
    if abs(d) >= 10 ** spec["digits"]:
        yield jsonschema.ValidationError(f"{instance} has more than {spec['digits']} integer digits")


_TYPE_CHECKER = validators.Draft202012Validator.TYPE_CHECKER.redefine("number", _is_number)
CatSchemaValidator = validators.extend(
    validators.Draft202012Validator, {"catDecimal": _cat_decimal}, type_checker=_TYPE_CHECKER
)


@functools.cache
def jsonschema_validators(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    return {name: CatSchemaValidator(s) for name, s in event_schemas(version).items()}


def parse_record(line: bytes | str) -> Any:
    """Parse one NDJSON line keeping decimal literals exact (for the jsonschema path)."""
    return json.loads(line, parse_float=Decimal)


def schema_errors(record: dict[str, Any], version: str = SCHEMA_VERSION) -> list[tuple[str, str]]:
    """(field path, message) for each schema violation of one parsed record, via the jsonschema library."""
    etype = record.get("type") if isinstance(record, dict) else None
    if not isinstance(record, dict):
        return [("", "record is not a JSON object")]
    vals = jsonschema_validators(version)
    if not isinstance(etype, str) or etype not in vals:
        return [("type", f"unknown event type {etype!r}")]
    out = []
    for err in vals[etype].iter_errors(record):
        path = ".".join(str(p) for p in err.absolute_path)
        out.append((path, err.message))
    return out
