from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core_bridge import protocol as p
from core_bridge.reasons import ReasonCode, render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reason_codes.md"


def test_reason_code_docs_table_is_in_step_with_the_enum() -> None:
    assert DOCS.read_text() == render_markdown(), "run: python -m core_bridge.reasons > docs/reason_codes.md"


def test_every_reason_code_has_a_category_condition_name_and_description() -> None:
    for rc in ReasonCode:
        assert rc.name == "OK" or "_" in rc.name
        assert rc.description


def test_event_record_is_128_bytes_little_endian() -> None:
    assert p.EVENT_DTYPE.itemsize == 128
    assert p.EVENT_DTYPE["seq"].byteorder in ("<", "=")


def test_batch_roundtrip_when_contiguous_then_decodes_with_one_frombuffer() -> None:
    recs = p.new_events(5)
    recs["seq"] = np.arange(10, 15)
    recs["epoch"] = 3
    hdr, payload = p.encode_batch(recs)
    h, out = p.decode_batch(hdr, payload)
    assert h.first_seq == 10 and h.count == 5 and h.epoch == 3
    assert np.array_equal(out, recs)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, b: (h[:-1], b),
        lambda h, b: (h, b[:-1]),
        lambda h, b: (h, b + b"x" * 128),
        lambda h, b: (b"\x02\x00" + h[2:], b),
    ],
)
def test_decode_batch_when_malformed_then_value_error(mutate) -> None:
    recs = p.new_events(2)
    recs["seq"] = [1, 2]
    h, b = p.encode_batch(recs)
    h2, b2 = mutate(h, b)
    with pytest.raises(ValueError):
        p.decode_batch(h2, b2)


def test_request_decode_when_garbage_then_value_error() -> None:
    for frame in (b"", b"\xff", b"[]", b'{"v":1}', b'{"v":1,"cmd":"nope","id":"a","operator":"x","reason":"",'
                  b'"expires_ns":1}'):
        with pytest.raises(ValueError):
            p.Request.decode(frame)


def test_fixed_point_prices_are_exact() -> None:
    assert p.to_fixed("12.3456") == 123456
    assert p.from_fixed(123450) == "12.345"
    assert p.from_fixed(100000) == "10"
    assert p.from_fixed(1) == "0.0001"
