"""A compiled CAT record checker: the generated JSON Schema (schema.py) turned into straight-line Python.

Why: `jsonschema` costs ~100 µs a record; a day of 10 M events cannot afford it. This module walks the
*same* generated schemas and emits one Python function per event type (only the keywords schema.py
uses), so there is one source of truth and a test proves both agree on varied records. Input is the
record as parsed by `orjson` (floats for decimals) plus its raw line, because a float cannot show trailing
decimal zeros: those are found on the raw bytes with one regex per event.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from reports.cat.schema import SCHEMA_VERSION, event_schemas

_TYPES = {
    "string": "type({v}) is str",
    "integer": "type({v}) is int",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
}


class _Gen:
    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        self.n = 0

    def const(self, value: Any) -> str:
        self.n += 1
        name = f"K{self.n}"
        self.consts[name] = value
        return name

    def bool_expr(self, s: Any, v: str) -> str:
        """A boolean expression for the simple schemas used inside anyOf (timestamps)."""
        parts = [_TYPES[s["type"]].format(v=v)]
        if "minimum" in s:
            parts.append(f"{v} >= {s['minimum']}")
        if "maximum" in s:
            parts.append(f"{v} <= {s['maximum']}")
        if "maxLength" in s:
            parts.append(f"len({v}) <= {s['maxLength']}")
        if "pattern" in s:
            parts.append(f"{self.const(re.compile(s['pattern']))}.search({v}) is not None")
        return "(" + " and ".join(parts) + ")"

    def value(self, s: Any, v: str, path: str, ind: str) -> list[str]:
        """Statements appending (path, message) to E for each way `v` breaks schema `s`."""
        if s is False:
            return [f"{ind}E.append(({path}, 'field must be absent'))"]
        if "anyOf" in s:
            expr = " or ".join(self.bool_expr(b, v) for b in s["anyOf"])
            return [f"{ind}if not ({expr}): E.append(({path}, 'matches no allowed form'))"]
        out = [f"{ind}if not {_TYPES[s['type']].format(v=v)}: E.append(({path}, 'must be {s['type']}'))",
               f"{ind}else:"]
        body: list[str] = []
        i2 = ind + "    "
        if "const" in s:
            body.append(f"{i2}if {v} != {s['const']!r}: E.append(({path}, 'must be {s['const']}'))")
        if "enum" in s:
            allowed = self.const(frozenset(s["enum"]))
            body.append(f"{i2}if {v} not in {allowed}: E.append(({path}, 'not an allowed value'))")
        if "minLength" in s:
            body.append(f"{i2}if len({v}) < {s['minLength']}: E.append(({path}, 'too short'))")
        if "maxLength" in s:
            body.append(f"{i2}if len({v}) > {s['maxLength']}: E.append(({path}, 'too long'))")
        if "pattern" in s:
            body.append(f"{i2}if {self.const(re.compile(s['pattern']))}.search({v}) is None: "
                        f"E.append(({path}, 'bad characters'))")
        if "minimum" in s:
            body.append(f"{i2}if {v} < {s['minimum']}: E.append(({path}, 'below minimum'))")
        if "maximum" in s:
            body.append(f"{i2}if {v} > {s['maximum']}: E.append(({path}, 'above maximum'))")
        if "catDecimal" in s:
            d = s["catDecimal"]
            lim = 10 ** d["digits"]
            body.append(f"{i2}if type({v}) is int:")
            body.append(f"{i2}    if abs({v}) >= {lim}: E.append(({path}, 'too many integer digits'))")
            if d["scale"] == 0:
                body.append(f"{i2}else: E.append(({path}, 'must be a whole number'))")
            else:
                body.append(f"{i2}else:")
                body.append(f"{i2}    if round({v}, {d['scale']}) != {v}: E.append(({path}, 'too many decimals'))")
                body.append(f"{i2}    if abs({v}) >= {lim}: E.append(({path}, 'too many integer digits'))")
        if s["type"] == "object":
            body += self.obj(s, v, path, i2)
        if s["type"] == "array":
            if "minItems" in s:
                body.append(f"{i2}if len({v}) < {s['minItems']}: E.append(({path}, 'too few items'))")
            if "items" in s:
                iv = f"x{self.n}"
                self.n += 1
                body.append(f"{i2}for j, {iv} in enumerate({v}):")
                body += self.value(s["items"], iv, f"{path} + '.' + str(j)", i2 + "    ")
        return out + (body or [f"{i2}pass"])

    def obj(self, s: dict[str, Any], v: str, path: str, ind: str) -> list[str]:
        props = s.get("properties", {})
        pre = "" if path == "''" else f"{path} + '.' + "
        out: list[str] = []
        if s.get("additionalProperties") is False:
            allowed = self.const(frozenset(props))
            out.append(f"{ind}for k in {v}:")
            out.append(f"{ind}    if k not in {allowed}: E.append(({pre}k, 'unknown field'))")
        for req in s.get("required", []):
            out.append(f"{ind}if {req!r} not in {v}: "
                       f"E.append(({pre}{req!r}, 'required field missing'))")
        if "minProperties" in s:
            out.append(f"{ind}if len({v}) < {s['minProperties']}: E.append(({path}, 'too few attributes'))")
        if "maxProperties" in s:
            out.append(f"{ind}if len({v}) > {s['maxProperties']}: E.append(({path}, 'too many attributes'))")
        for name, sub in props.items():
            var = f"v{self.n}"
            self.n += 1
            out.append(f"{ind}{var} = {v}.get({name!r}, MISSING)")
            out.append(f"{ind}if {var} is not MISSING:")
            out += self.value(sub, var, f"{pre}{name!r}", ind + "    ")
        for rule in s.get("allOf", []):
            out += self.rule(rule, v, ind)
        return out

    def rule(self, rule: dict[str, Any], v: str, ind: str) -> list[str]:
        if "dependentRequired" in rule:
            out = []
            for a, needs in rule["dependentRequired"].items():
                for b in needs:
                    msg = "required with " + a
                    out.append(f"{ind}if {a!r} in {v} and {b!r} not in {v}: E.append(({b!r}, {msg!r}))")
            return out
        (field,) = rule["if"]["required"]
        cond = rule["if"]["properties"][field]
        x = f"{v}.get({field!r}, MISSING)"
        if "const" in cond and isinstance(cond["const"], bool):
            test = f"{x} is {cond['const']!r}"
        elif "const" in cond:
            test = f"{x} == {cond['const']!r}"
        else:
            test = f"type({x}) is str and {x} in {self.const(frozenset(cond['enum']))}"
        out = [f"{ind}if {test}:"]
        then = rule["then"]
        for req in then.get("required", []):
            msg = f"required when {field} is {cond}"
            out.append(f"{ind}    if {req!r} not in {v}: E.append(({req!r}, {msg!r}))")
        if "not" in then:
            for f in then["not"]["required"]:
                msg = f"must be absent when {field} is {cond}"
                out.append(f"{ind}    if {f!r} in {v}: E.append(({f!r}, {msg!r}))")
        for name, sub in then.get("properties", {}).items():
            msg = f"not allowed when {field} is {cond}"
            allowed = self.const(frozenset(sub["enum"]))
            out.append(f"{ind}    if {name!r} in {v} and (type({v}[{name!r}]) is not str or {v}[{name!r}] not in "
                       f"{allowed}): E.append(({name!r}, {msg!r}))")
        if len(out) == 1:
            out.append(f"{ind}    pass")
        return out


def _no_trailing_zero_fields(s: Any, acc: set[str]) -> None:
    if not isinstance(s, dict):
        return
    for name, sub in s.get("properties", {}).items():
        if isinstance(sub, dict):
            d = sub.get("catDecimal")
            if d and not d["trailingZeros"] and d["scale"] > 0:
                acc.add(name)
            _no_trailing_zero_fields(sub, acc)
            _no_trailing_zero_fields(sub.get("items"), acc)


MISSING = object()
Check = Any  # Callable[[dict, bytes | None], list[tuple[str, str]]]


@functools.cache
def compiled_checks(version: str = SCHEMA_VERSION) -> dict[str, Check]:
    """One compiled function per event type: f(record, raw_line | None) -> [(field, message)]."""
    gen = _Gen()
    src: list[str] = []
    names: dict[str, str] = {}
    tz: dict[str, Any] = {}
    for ev, sch in event_schemas(version).items():
        fn = f"check_{ev}"
        names[ev] = fn
        acc: set[str] = set()
        _no_trailing_zero_fields(sch, acc)
        if acc:
            keys = "|".join(sorted(re.escape(a) for a in acc))
            tz[ev] = re.compile(rb'"(' + keys.encode() + rb')":-?[0-9]+\.[0-9]*0(?=[,}\]])')
        src.append(f"def {fn}(r, line):")
        src.append("    E = []")
        src += gen.obj(sch, "r", "''", "    ")
        if acc:
            src.append("    if line is not None:")
            src.append(f"        for m in TZ_{ev}.finditer(line):")
            src.append("            E.append((m.group(1).decode(), 'trailing decimal zeros'))")
        src.append("    return E")
        src.append("")
    ns: dict[str, Any] = {"MISSING": MISSING, **gen.consts, **{f"TZ_{k}": v for k, v in tz.items()}}
    code = compile("\n".join(src), f"<cat fastcheck {version}>", "exec")
    exec(code, ns)  # noqa: S102 - our own generated source, from our own schema tables
    return {ev: ns[fn] for ev, fn in names.items()}


def check_record(record: Any, line: bytes | None = None, version: str = SCHEMA_VERSION) -> list[tuple[str, str]]:
    """(field, message) per violation; empty when the record is valid."""
    if type(record) is not dict:
        return [("", "record is not a JSON object")]
    etype = record.get("type")
    fn = compiled_checks(version).get(etype) if type(etype) is str else None
    if fn is None:
        return [("type", f"unknown event type {record.get('type')!r}")]
    return fn(record, line)  # type: ignore[no-any-return]


def check_line(line: bytes, version: str = SCHEMA_VERSION) -> list[tuple[str, str]]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return [("", f"invalid JSON: {exc}")]
    return check_record(record, line, version)
