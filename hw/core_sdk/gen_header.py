"""Generate `hw/core_sdk/colo_ops_protocol.h`, the C view of the wire contract, from the Python source of truth.

    python -m hw.core_sdk.gen_header            rewrite the committed header
    python -m hw.core_sdk.gen_header --check    exit 1 (with a diff) if the committed header is out of step
    python -m hw.core_sdk.gen_header --stdout   print it

What goes in, all read from `core_bridge/protocol.py` and `core_bridge/reasons.py` (nothing is typed twice):

- every module-level int / bytes / str constant of protocol.py (protocol version, price scale, record and
  header sizes, rewind limits, topic names) as `COLO_<NAME>`;
- the endpoint names and default ports (`DEFAULT_PORTS`);
- the drop-copy event record (`EVENT_DTYPE`) and the batch header (`BATCH_HEADER` + `BatchHeader`) as packed
  structs with `_Static_assert`s on their sizes and on every field's offset and size;
- every enum defined in either module: IntEnum/IntFlag members with their wire values; StrEnum members
  (which travel as text) with their wire text and a number (the protocol's own code where it has one,
  `KILL_SCOPE_CODES` for kill scopes, `Role.rank` for roles, else a local index that never travels);
  for each enum `colo_<enum>_name(int)` and `colo_<enum>_from_name(const char *)`, and an X-macro list;
- the reason codes with their names and descriptions (`colo_reason_name`, `colo_reason_description`);
- the command table: each command's least role and whether it changes state.

The output is deterministic: sorted, no timestamps, no paths; a test regenerates it and compares bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import enum
import inspect
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from core_bridge import protocol, reasons

HEADER_PATH = Path(__file__).resolve().parent / "colo_ops_protocol.h"
GUARD = "COLO_OPS_PROTOCOL_H"

# numpy dtype code -> (C type, array length or None); only the kinds the record uses.
_DTYPE_C = {"u1": "uint8_t", "u2": "uint16_t", "u4": "uint32_t", "u8": "uint64_t",
            "i1": "int8_t", "i2": "int16_t", "i4": "int32_t", "i8": "int64_t"}
# struct module format char -> C type.
_STRUCT_C = {"B": "uint8_t", "H": "uint16_t", "I": "uint32_t", "Q": "uint64_t",
             "b": "int8_t", "h": "int16_t", "i": "int32_t", "q": "int64_t"}
# Short C names for enums whose Python name would make long identifiers.
_ENUM_C_NAME = {"ReasonCode": "reason"}


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    ctype: str
    length: int | None  # char arrays
    offset: int
    size: int
    comment: str = ""

    def decl(self) -> str:
        arr = f"[{self.length}]" if self.length is not None else ""
        return f"{self.ctype} {self.name}{arr};"


@dataclasses.dataclass(frozen=True)
class Member:
    c_name: str
    wire: str  # the name (IntEnum) or text (StrEnum) that travels in JSON
    value: int


@dataclasses.dataclass(frozen=True)
class CEnum:
    py_name: str
    c_name: str  # snake: event_type
    members: tuple[Member, ...]  # sorted by value, then name; canonical members only
    note: str

    @property
    def upper(self) -> str:
        return self.c_name.upper()


# ----------------------------------------------------------------------------------------------- model
def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _c_string(value: str | bytes) -> str:
    """A C string literal; anything outside printable ASCII as a 3-digit octal escape (never greedy)."""
    raw = value.encode() if isinstance(value, str) else value
    out = []
    for b in raw:
        ch = chr(b)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F and ch != "?":  # '?' escaped so no trigraph can ever form
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _c_int(value: int) -> str:
    if -(2**31) <= value < 2**31:
        return str(value)
    return f"{value}LL" if value < 2**63 else f"{value}ULL"


def _module_enums(mod: ModuleType) -> list[type[enum.Enum]]:
    return [o for _, o in sorted(vars(mod).items())
            if inspect.isclass(o) and issubclass(o, enum.Enum) and o.__module__ == mod.__name__]


def _str_enum_codes(cls: type[enum.Enum]) -> tuple[dict[str, int], str]:
    """Numbers for a StrEnum's members: a protocol code table if protocol.py has one, else `rank`, else an index."""
    members = set(cls.__members__.values())
    for name, obj in sorted(vars(protocol).items()):
        if (name.isupper() and isinstance(obj, dict) and obj and set(obj) == members
                and all(isinstance(v, int) and not isinstance(v, bool) for v in obj.values())):
            note = f"numbers: protocol.{name} (the values that travel in event records)"
            return {m.name: int(obj[m]) for m in obj}, note
    rank = inspect.getattr_static(cls, "rank", None)
    if isinstance(rank, property):
        return ({n: int(m.rank) for n, m in cls.__members__.items()},  # type: ignore[attr-defined]
                f"numbers: {cls.__name__}.rank (higher includes lower)")
    return ({n: i for i, n in enumerate(cls.__members__)},
            "numbers: a local index in definition order, never sent on the wire (the text travels)")


def build_enum(cls: type[enum.Enum]) -> CEnum:
    c_name = _ENUM_C_NAME.get(cls.__name__, _snake(cls.__name__))
    canonical = [(n, m) for n, m in cls.__members__.items() if m.name == n]  # aliases have no case of their own
    if issubclass(cls, int):
        members = [Member(f"COLO_{c_name.upper()}_{n}", n, int(m.value)) for n, m in canonical]
        note = f"{cls.__name__}: the number is the wire value (event records); JSON carries the name"
    else:
        codes, note = _str_enum_codes(cls)
        members = [Member(f"COLO_{c_name.upper()}_{n}", str(m.value), codes[n]) for n, m in canonical]
        note = f"{cls.__name__}: the text travels in JSON; {note}"
    members.sort(key=lambda m: (m.value, m.c_name))
    return CEnum(cls.__name__, c_name, tuple(members), note)


def all_enums() -> list[CEnum]:
    out = [build_enum(c) for c in (*_module_enums(protocol), *_module_enums(reasons))]
    return sorted(out, key=lambda e: e.c_name)


def _dtype_comments() -> dict[str, str]:
    """The per-field comments of protocol._build_event_dtype (best effort: a field without one gets none)."""
    try:
        src = inspect.getsource(protocol._build_event_dtype)
    except (OSError, TypeError):
        return {}
    found = re.finditer(r'\("(\w+)",\s*"[^"]+"\),\s*#\s*(.*)', src)
    return {m.group(1): m.group(2).strip().replace("*/", "* /").encode("ascii", "replace").decode() for m in found}


def event_fields() -> list[Field]:
    dtype = protocol.event_dtype()
    comments = _dtype_comments()
    fields = []
    for name in dtype.names or ():
        ft, offset = dtype.fields[name][:2]  # type: ignore[index]
        if ft.byteorder == ">":
            raise ValueError(f"field {name} is big-endian; the C header only describes little-endian layouts")
        if ft.kind == "S":
            ctype, length = "char", ft.itemsize
        else:
            key = f"{ft.kind}{ft.itemsize}"
            if key not in _DTYPE_C:
                raise ValueError(f"field {name}: dtype {ft.str} has no C mapping in gen_header")
            ctype, length = _DTYPE_C[key], None
        fields.append(Field(name, ctype, length, int(offset), int(ft.itemsize), comments.get(name, "")))
    return fields


def batch_header_fields() -> list[Field]:
    fmt = protocol.BATCH_HEADER.format
    if not fmt.startswith("<"):
        raise ValueError(f"BATCH_HEADER format {fmt!r} is not little-endian standard size")
    names = [f.name for f in dataclasses.fields(protocol.BatchHeader)]
    codes = fmt[1:]
    if len(codes) != len(names) or any(c not in _STRUCT_C for c in codes):
        raise ValueError(f"BATCH_HEADER {fmt!r} does not match BatchHeader fields {names}")
    out, offset = [], 0
    sizes = {"B": 1, "b": 1, "H": 2, "h": 2, "I": 4, "i": 4, "Q": 8, "q": 8}
    for name, code in zip(names, codes, strict=True):
        out.append(Field(name, _STRUCT_C[code], None, offset, sizes[code]))
        offset += sizes[code]
    if offset != protocol.BATCH_HEADER_SIZE:
        raise ValueError(f"batch header sums to {offset} bytes, BATCH_HEADER_SIZE is {protocol.BATCH_HEADER_SIZE}")
    return out


def scalar_constants() -> tuple[list[tuple[str, int]], list[tuple[str, bytes | str]]]:
    """Module-level int and text constants of protocol.py (enum members, dicts and tables excluded)."""
    protocol.event_dtype()  # EVENT_SIZE is defined lazily; build it so the output never depends on import order
    ints: list[tuple[str, int]] = []
    strs: list[tuple[str, bytes | str]] = []
    for name, obj in sorted(vars(protocol).items()):
        if not name.isupper() or name.startswith("_") or isinstance(obj, enum.Enum | bool):
            continue
        if isinstance(obj, int):
            ints.append((f"COLO_{name}", obj))
        elif isinstance(obj, bytes | str):
            strs.append((f"COLO_{name}", obj))
    for name, port in sorted(protocol.DEFAULT_PORTS.items()):
        ints.append((f"COLO_DEFAULT_PORT_{name.upper()}", port))
        strs.append((f"COLO_ENDPOINT_{name.upper()}", name))
    return sorted(ints), sorted(strs)


# ----------------------------------------------------------------------------------------------- render
def _struct(c_type: str, what: str, fields: list[Field], size: int) -> list[str]:
    tag = c_type.removesuffix("_t")
    width = max(len(f.decl()) for f in fields)
    lines = [f"/* {what} */", f"typedef struct COLO_PACKED {tag} {{"]
    for f in fields:
        comment = f"  /* @{f.offset:<3} {f.comment} */" if f.comment else f"  /* @{f.offset} */"
        lines.append(f"    {f.decl():<{width}}{comment.rstrip()}")
    lines.append(f"}} {c_type};")
    lines.append("")
    lines.append(f"_Static_assert(sizeof({c_type}) == {size}, \"{c_type} must be {size} bytes\");")
    for f in fields:
        lines.append(f"_Static_assert(offsetof({c_type}, {f.name}) == {f.offset}, "
                     f"\"{c_type}.{f.name} must be at offset {f.offset}\");")
        lines.append(f"_Static_assert(sizeof((({c_type} *)0)->{f.name}) == {f.size}, "
                     f"\"{c_type}.{f.name} must be {f.size} bytes\");")
    return lines


def _field_list(macro: str, fields: list[Field]) -> list[str]:
    lines = ["/* X(field, offset, size) for every field, in wire order. */", f"#define {macro}(X) \\"]
    lines += [f"    X({f.name}, {f.offset}, {f.size}) \\" for f in fields]
    lines.append("    /* end */")
    return lines


def _enum_block(e: CEnum, descriptions: dict[str, str] | None = None) -> list[str]:
    u, n = e.upper, e.c_name
    width = max(len(m.c_name) for m in e.members)
    lines = [f"/* {e.note}. */", f"typedef enum colo_{n} {{"]
    lines += [f"    {m.c_name:<{width}} = {m.value}," for m in e.members]
    lines += [f"}} colo_{n}_t;", "", "/* X(constant, wire name) for every member, by value. */",
              f"#define COLO_{u}_MEMBERS(X) \\"]
    lines += [f"    X({m.c_name}, {_c_string(m.wire)}) \\" for m in e.members]
    lines += ["    /* end */", ""]
    lines += [f"/* The wire name for a {e.py_name} number; NULL if there is none. */",
              f"static inline const char *colo_{n}_name(int value)", "{", "    switch (value) {"]
    seen: set[int] = set()
    for m in e.members:
        if m.value in seen:  # two members with one number (a StrEnum code table): the first by name wins
            continue
        seen.add(m.value)
        lines.append(f"    case {m.c_name}: return {_c_string(m.wire)};")
    lines += ["    default: return NULL;", "    }", "}", ""]
    lines += [f"/* The {e.py_name} number for a wire name (exact, case-sensitive); -1 if it is not one. */",
              f"static inline int colo_{n}_from_name(const char *name)", "{",
              "    if (name == NULL) return -1;"]
    lines += [f"    if (strcmp(name, {_c_string(m.wire)}) == 0) return {m.c_name};" for m in e.members]
    lines += ["    return -1;", "}", ""]
    if descriptions is not None:
        lines += [f"/* One line on what a {e.py_name} means (docs/reason_codes.md); NULL if unknown. */",
                  f"static inline const char *colo_{n}_description(int value)", "{", "    switch (value) {"]
        lines += [f"    case {m.c_name}: return {_c_string(descriptions[m.wire])};" for m in e.members]
        lines += ["    default: return NULL;", "    }", "}", ""]
    return lines


def _command_block(cmd_enum: CEnum, role_enum: CEnum) -> list[str]:
    role_c = {m.wire: m.c_name for m in role_enum.members}
    lines = ["/* The least role each command needs (COMMAND_ROLE); -1 for a number that is not a command. */",
             "static inline int colo_command_role(int command)", "{", "    switch (command) {"]
    for m in cmd_enum.members:
        lines.append(f"    case {m.c_name}: return {role_c[protocol.COMMAND_ROLE[protocol.Command(m.wire)].value]};")
    lines += ["    default: return -1;", "    }", "}", "",
              "/* 1 if protocol.MUTATING lists the command (state-changing: idempotent by id), else 0. */",
              "static inline int colo_command_mutating(int command)", "{", "    switch (command) {"]
    for m in cmd_enum.members:
        if protocol.Command(m.wire) in protocol.MUTATING:
            lines.append(f"    case {m.c_name}:")
    lines += ["        return 1;", "    default:", "        return 0;", "    }", "}", ""]
    return lines


def _x_list(macro: str, doc: str, items: Iterable[str]) -> list[str]:
    return [f"/* {doc} */", f"#define {macro}(X) \\", *[f"    X({i}) \\" for i in items], "    /* end */"]


def render() -> str:
    enums = all_enums()
    by_py = {e.py_name: e for e in enums}
    ints, strs = scalar_constants()
    ev, bh = event_fields(), batch_header_fields()
    out: list[str] = [
        "/* colo_ops_protocol.h: the colo-ops <-> trading core wire contract for C, protocol version "
        f"{protocol.PROTOCOL_VERSION}.",
        " *",
        " * GENERATED by `python -m hw.core_sdk.gen_header` from core_bridge/protocol.py and core_bridge/reasons.py.",
        " * Do not edit: change the Python, regenerate, commit both (`--check` and a unit test keep them in step).",
        " * The prose contract is docs/protocol.md; how to use this header is docs/core_sdk.md.",
        " *",
        " * Everything on the wire is little-endian, and the structs below are the wire layout on a",
        " * little-endian host (the header refuses to compile elsewhere). Text fields are ASCII, NUL-padded,",
        " * not NUL-terminated when full. Prices are fixed point: COLO_PRICE_SCALE units per dollar.",
        " */",
        f"#ifndef {GUARD}",
        f"#define {GUARD}",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <string.h>",
        "",
        "#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__) \\",
        "    || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__",
        "#error \"colo_ops_protocol.h: the wire structs are little-endian and this host is not (or does not say)\"",
        "#endif",
        "#if defined(__GNUC__) || defined(__clang__)",
        "#define COLO_PACKED __attribute__((packed))",
        "#else",
        "#error \"colo_ops_protocol.h needs __attribute__((packed)) (GCC or Clang)\"",
        "#endif",
        "",
        "/* ---------------------------------------------------------------- constants (protocol.py) */",
    ]
    width = max(len(n) for n, _ in (*ints, *strs))
    out += [f"#define {n:<{width}} {_c_int(v)}" for n, v in ints]
    out += [f"#define {n:<{width}} {_c_string(v)}" for n, v in strs]
    out += [""]
    out += _x_list("COLO_INT_CONSTANTS", "X(name) for every integer constant above.", (n for n, _ in ints))
    out += _x_list("COLO_STR_CONSTANTS", "X(name) for every text constant above.", (n for n, _ in strs))
    out += ["", "/* X(NAME, name, default port) for every endpoint the core binds (primary node). */",
            "#define COLO_ENDPOINTS(X) \\"]
    out += [f"    X({n.upper()}, {_c_string(n)}, {p}) \\" for n, p in sorted(protocol.DEFAULT_PORTS.items(),
                                                                     key=lambda kv: kv[1])]
    out += ["    /* end */", ""]
    out += ["/* ---------------------------------------------------------------- drop-copy batch header */"]
    out += _struct("colo_batch_header_t", "Frame 2 of a drop-copy message and frame 1 of a rewind chunk "
                   "(protocol.BATCH_HEADER)", bh, protocol.BATCH_HEADER_SIZE)
    out += [""] + _field_list("COLO_BATCH_HEADER_FIELDS", bh) + [""]
    out += ["/* ---------------------------------------------------------------- drop-copy event record */"]
    out += _struct("colo_event_t", "One drop-copy event (protocol.EVENT_DTYPE); a records frame is count of these",
                   ev, protocol.EVENT_SIZE_BYTES)
    out += [""] + _field_list("COLO_EVENT_FIELDS", ev) + [""]
    out += ["/* ---------------------------------------------------------------- enums */", ""]
    descriptions = {rc.name: rc.description for rc in reasons.ReasonCode}
    for e in enums:
        out += _enum_block(e, descriptions if e.py_name == "ReasonCode" else None)
    out += _x_list("COLO_ENUMS", "X(UPPER, lower) for every enum above: COLO_<UPPER>_MEMBERS, colo_<lower>_name, ...",
                   (f"{e.upper}, {e.c_name}" for e in enums))
    out += ["", "/* ---------------------------------------------------------------- commands */"]
    out += _command_block(by_py["Command"], by_py["Role"])
    out += [f"#endif /* {GUARD} */", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------- cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.core_sdk.gen_header", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the header differs from what would be generated")
    ap.add_argument("--stdout", action="store_true", help="print the header instead of writing it")
    ap.add_argument("--output", type=Path, default=HEADER_PATH, help=f"header path (default {HEADER_PATH.name})")
    args = ap.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        try:
            current = args.output.read_text()
        except FileNotFoundError:
            print(f"{args.output}: missing; run: python -m hw.core_sdk.gen_header", file=sys.stderr)
            return 1
        if current == text:
            return 0
        diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(args.output), "generated")
        sys.stderr.writelines(list(diff)[:200])
        print(f"{args.output}: out of step with core_bridge/protocol.py and reasons.py; "
              "run: python -m hw.core_sdk.gen_header", file=sys.stderr)
        return 1
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
