"""Column helpers of the positions path: dictionary encoding and the binary COPY stream layout."""

from __future__ import annotations

import struct

import numpy as np

from flows.clearing.loaders import COPY_SIGNATURE, COPY_TRAILER, binary_copy_chunks
from flows.sources.positions_format import dictionary_encode


def test_dictionary_encode_when_values_wider_than_a_word_then_exact_codes_in_first_seen_order() -> None:
    rng = np.random.default_rng(3)
    pool = np.array([b"037833100", b"037833109", b"03783310", b"ABCDEFGHIJKLMNOPQ", b"ABCDEFGHIJKLMNOPR", b""],
                    dtype="S17")
    values = pool[rng.integers(0, len(pool), 5_000)]
    uniques, codes = dictionary_encode(values)
    assert (uniques[codes] == values).all()
    assert len(set(uniques.tolist())) == len(uniques)
    _u, first = np.unique(codes, return_index=True)
    assert (np.diff(first) > 0).all()  # code k is first seen before code k + 1


def _decode(stream: bytes, kinds: list[str]) -> list[tuple]:
    assert stream.startswith(COPY_SIGNATURE) and stream.endswith(COPY_TRAILER)
    pos, rows = len(COPY_SIGNATURE), []
    while stream[pos:pos + 2] != COPY_TRAILER:
        (nf,) = struct.unpack_from(">h", stream, pos)
        pos += 2
        assert nf == len(kinds)
        row: list[object] = []
        for kind in kinds:
            (ln,) = struct.unpack_from(">i", stream, pos)
            pos += 4
            raw = stream[pos:pos + ln]
            pos += ln
            row.append(raw.decode() if kind == "text" else int.from_bytes(raw, "big", signed=True))
        rows.append(tuple(row))
    assert pos + 2 == len(stream)
    return rows


def test_binary_copy_chunks_when_text_lengths_vary_then_each_field_has_its_own_length() -> None:
    text = np.array([b"A", b"", b"ABCDEFGH", b"XY", b"ABCDEFGH"], dtype="S8")
    same = np.array([b"123456789"] * 5, dtype="S9")
    ints = np.array([-1, 0, 2**40, -(2**40), 7], dtype=np.int64)
    days = np.arange(5, dtype=np.int32)
    stream = b"".join(binary_copy_chunks([("date", days), ("text", text), ("text", same), ("int8", ints),
                                          ("int4", days)], chunk_rows=2))
    assert _decode(stream, ["date", "text", "text", "int8", "int4"]) == [
        (int(d), t.decode(), "123456789", int(i), int(d)) for d, t, i in zip(days, text, ints, strict=True)]


def test_column_verdict_when_categorical_or_plain_column_then_same_per_row_verdicts() -> None:
    import pandas as pd

    from core_bridge.identifiers import valid_cusips
    from flows.sources.expectations import column_verdict

    values = ["037833100", "037833109", "037833100", None, "594918104"]
    plain = pd.Series([v or "" for v in values], index=[5, 6, 7, 8, 9])
    categorical = pd.Series(pd.Categorical(values), index=plain.index)  # None -> code -1
    want = [True, False, True, False, True]
    assert column_verdict(plain, valid_cusips).tolist() == want
    got = column_verdict(categorical, valid_cusips)
    assert got.tolist() == want and got.index.tolist() == [5, 6, 7, 8, 9]
