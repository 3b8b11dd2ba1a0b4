"""The generated C header (hw/core_sdk/colo_ops_protocol.h) against the Python source of truth.

(a) regenerating gives exactly the committed file; (b) a C program compiled with `cc -std=c11 -Wall -Werror`
prints what the compiler makes of the structs (sizeof, offsetof, type of every field), compared with
EVENT_DTYPE and BATCH_HEADER; (c) every enum member, reason code, constant and command-table entry the
compiled header holds, compared with protocol.py and reasons.py. A missing C compiler fails these tests.
"""

from __future__ import annotations

import enum
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core_bridge import protocol, reasons
from hw.core_sdk import gen_header

SDK = Path(gen_header.__file__).resolve().parent
PROBE_SRC = SDK / "layout_probe.c"
CFLAGS = ["-std=c11", "-Wall", "-Werror"]


def c_compiler() -> str:
    cc = shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler: `cc` is not on PATH. The C header tests need one "
                    "(Debian: apt-get install gcc); they do not skip.")
    return cc


def compile_c(src: Path, out: Path, include: Path = SDK) -> subprocess.CompletedProcess[str]:
    return subprocess.run([c_compiler(), *CFLAGS, "-I", str(include), str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)


@dataclass
class ProbeFacts:
    structs: dict[str, int] = field(default_factory=dict)
    fields: dict[str, list[tuple[str, int, int, str]]] = field(default_factory=lambda: defaultdict(list))
    enums: dict[str, list[tuple[str, int, str, str, int]]] = field(default_factory=lambda: defaultdict(list))
    described: dict[str, bool] = field(default_factory=dict)
    ints: dict[str, int] = field(default_factory=dict)
    strs: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, int] = field(default_factory=dict)
    commands: dict[str, tuple[str, bool]] = field(default_factory=dict)


def parse_probe(text: str) -> ProbeFacts:
    facts = ProbeFacts()
    for line in text.splitlines():
        kind, *rest = line.split(" ")
        if kind == "struct":
            facts.structs[rest[0]] = int(rest[1])
        elif kind == "field":
            facts.fields[rest[0]].append((rest[1], int(rest[2]), int(rest[3]), rest[4]))
        elif kind == "enum":
            lower, const, value, wire, named, parsed = rest
            facts.enums[lower].append((const, int(value), wire, named, int(parsed)))
        elif kind == "reason_description":
            facts.described[rest[0]] = rest[1] == "1"
        elif kind == "int":
            facts.ints[rest[0]] = int(rest[1])
        elif kind == "str":
            facts.strs[rest[0]] = " ".join(rest[1:])
        elif kind == "endpoint":
            facts.endpoints[rest[0]] = int(rest[1])
        elif kind == "command":
            facts.commands[rest[0]] = (rest[1], rest[2] == "1")
        else:
            raise AssertionError(f"unexpected probe line {line!r}")
    return facts


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> ProbeFacts:
    exe = tmp_path_factory.mktemp("probe") / "layout_probe"
    built = compile_c(PROBE_SRC, exe)
    assert built.returncode == 0, f"layout_probe.c does not compile with {' '.join(CFLAGS)}:\n{built.stderr}"
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30, check=True)
    return parse_probe(ran.stdout)


# ----------------------------------------------------------------------------------------------- (a)
def test_committed_header_is_exactly_what_the_generator_writes() -> None:
    assert gen_header.HEADER_PATH.read_text() == gen_header.render(), "run: python -m hw.core_sdk.gen_header"


def test_generator_output_is_deterministic() -> None:
    assert gen_header.render() == gen_header.render()


def test_check_exits_0_when_in_step_and_1_with_a_diff_when_not(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.h"
    assert gen_header.main(["--output", str(good)]) == 0
    assert gen_header.main(["--check", "--output", str(good)]) == 0
    bad = tmp_path / "bad.h"
    bad.write_text(good.read_text().replace("#define COLO_REWIND_CHUNK ", "#define COLO_REWIND_CHUNK 1 + "))
    assert gen_header.main(["--check", "--output", str(bad)]) == 1
    assert gen_header.main(["--check", "--output", str(tmp_path / "missing.h")]) == 1
    err = capsys.readouterr().err
    assert "COLO_REWIND_CHUNK" in err and "python -m hw.core_sdk.gen_header" in err


def test_check_runs_as_a_module_on_the_committed_header() -> None:
    out = subprocess.run([sys.executable, "-m", "hw.core_sdk.gen_header", "--check"], capture_output=True, text=True,
                         cwd=SDK.parents[1], timeout=60)
    assert out.returncode == 0, out.stderr


# ----------------------------------------------------------------------------------------------- (b)
def _numpy_kind(dt: object) -> str:
    import numpy as np

    assert isinstance(dt, np.dtype)
    return f"S{dt.itemsize}" if dt.kind == "S" else f"{dt.kind}{dt.itemsize}"


def test_event_struct_layout_is_the_numpy_dtype(probe: ProbeFacts) -> None:
    dtype = protocol.EVENT_DTYPE
    assert probe.structs["colo_event_t"] == dtype.itemsize == protocol.EVENT_SIZE_BYTES
    assert dtype.fields is not None and dtype.names is not None
    fields = dtype.fields
    expected = [(name, fields[name][1], fields[name][0].itemsize, _numpy_kind(fields[name][0])) for name in dtype.names]
    assert probe.fields["colo_event_t"] == expected


def test_batch_header_struct_layout_is_the_struct_format(probe: ProbeFacts) -> None:
    import struct

    assert probe.structs["colo_batch_header_t"] == protocol.BATCH_HEADER_SIZE
    fmt = protocol.BATCH_HEADER.format
    assert fmt.startswith("<")
    names = ["version", "epoch", "first_seq", "count", "record_size"]
    offset, expected = 0, []
    for name, code in zip(names, fmt[1:], strict=True):
        size = struct.calcsize("<" + code)
        expected.append((name, offset, size, f"{'i' if code.islower() else 'u'}{size}"))
        offset += size
    assert probe.fields["colo_batch_header_t"] == expected


def test_a_wrong_field_in_the_header_does_not_compile(tmp_path: Path) -> None:
    text = gen_header.HEADER_PATH.read_text()
    assert "    uint32_t qty;" in text
    (tmp_path / "colo_ops_protocol.h").write_text(text.replace("    uint32_t qty;", "    uint64_t qty;", 1))
    src = tmp_path / "use.c"
    src.write_text('#include "colo_ops_protocol.h"\nint main(void) { return 0; }\n')
    built = compile_c(src, tmp_path / "use", include=tmp_path)
    assert built.returncode != 0
    assert "colo_event_t.leaves_qty must be at offset 56" in built.stderr


# ----------------------------------------------------------------------------------------------- (c)
def _expected_enums() -> dict[str, dict[str, int | None]]:
    """lower C name -> {wire name: number} from Python (None: a local number that never travels)."""
    out: dict[str, dict[str, int | None]] = {}
    for mod in (protocol, reasons):
        for cls in vars(mod).values():
            if not (isinstance(cls, type) and issubclass(cls, enum.Enum) and cls.__module__ == mod.__name__):
                continue
            lower = "reason" if cls is reasons.ReasonCode else gen_header._snake(cls.__name__)
            if cls is protocol.KillScope:
                out[lower] = {m.value: protocol.KILL_SCOPE_CODES[m] for m in protocol.KillScope}
            elif cls is protocol.Role:
                out[lower] = {m.value: m.rank for m in protocol.Role}
            elif issubclass(cls, int):
                out[lower] = {n: int(m.value) for n, m in cls.__members__.items()}
            else:
                out[lower] = {str(m.value): None for m in cls.__members__.values()}
    return out


def test_every_python_enum_is_in_the_header_with_its_values(probe: ProbeFacts) -> None:
    expected = _expected_enums()
    assert set(probe.enums) == set(expected)
    for lower, members in expected.items():
        got = probe.enums[lower]
        assert {wire for _, _, wire, _, _ in got} == set(members), lower
        for const, value, wire, named, parsed in got:
            assert const.startswith(f"COLO_{lower.upper()}_"), const
            if members[wire] is not None:
                assert value == members[wire], f"{const} is {value} in C, {members[wire]} in Python"
            assert named == wire, f"colo_{lower}_name({value}) is {named}, expected {wire}"
            assert parsed == value, f"colo_{lower}_from_name({wire!r}) is {parsed}, expected {value}"


def test_local_command_numbers_are_distinct(probe: ProbeFacts) -> None:
    values = [value for _, value, _, _, _ in probe.enums["command"]]
    assert len(set(values)) == len(values) == len(protocol.Command)


def test_every_reason_code_has_its_number_name_and_description(probe: ProbeFacts) -> None:
    got = {wire: value for _, value, wire, _, _ in probe.enums["reason"]}
    assert got == {rc.name: rc.value for rc in reasons.ReasonCode}
    assert probe.described == {rc.name: True for rc in reasons.ReasonCode}
    text = gen_header.HEADER_PATH.read_text()
    assert "static inline const char *colo_reason_name(int value)" in text


def test_constants_endpoints_and_topics_match_protocol_py(probe: ProbeFacts) -> None:
    assert probe.ints["COLO_PROTOCOL_VERSION"] == protocol.PROTOCOL_VERSION
    assert probe.ints["COLO_PRICE_SCALE"] == protocol.PRICE_SCALE
    assert probe.ints["COLO_EVENT_SIZE_BYTES"] == protocol.EVENT_SIZE_BYTES
    assert probe.ints["COLO_BATCH_HEADER_SIZE"] == protocol.BATCH_HEADER_SIZE
    assert probe.ints["COLO_REWIND_CHUNK"] == protocol.REWIND_CHUNK
    assert probe.ints["COLO_MAX_REWIND_SPAN"] == protocol.MAX_REWIND_SPAN
    assert probe.endpoints == protocol.DEFAULT_PORTS
    for name, port in protocol.DEFAULT_PORTS.items():
        assert probe.ints[f"COLO_DEFAULT_PORT_{name.upper()}"] == port
        assert probe.strs[f"COLO_ENDPOINT_{name.upper()}"] == name
    topics = {n: v.decode() for n, v in vars(protocol).items() if n.isupper() and "TOPIC" in n and isinstance(v, bytes)}
    assert topics and all(probe.strs[f"COLO_{n}"] == v for n, v in topics.items())
    # every scalar constant of protocol.py made it (new ones are picked up without touching the generator)
    for name, value in vars(protocol).items():
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool | enum.Enum):
            assert probe.ints[f"COLO_{name}"] == value, name


def test_command_table_is_command_role_and_mutating(probe: ProbeFacts) -> None:
    assert probe.commands == {cmd.value: (protocol.COMMAND_ROLE[cmd].value, cmd in protocol.MUTATING)
                              for cmd in protocol.Command}
