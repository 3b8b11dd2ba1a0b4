"""The vectorised CUSIP/ISIN check digits agree with the scalar functions, value for value."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core_bridge.identifiers import (
    cusip_check_digit,
    cusip_check_digits,
    is_valid_cusip,
    is_valid_isin,
    isin_check_digit,
    isin_check_digits,
    isin_from_cusip,
    isins_from_cusips,
    valid_cusips,
    valid_isins,
)
from hw.refdata import SECURITIES

REAL_CUSIPS = sorted({s.cusip for s in SECURITIES} | {"037833100", "594918104", "38259P508", "023135106",
                                                      "88160R101", "30303M102", "G0176J109", "H1467J104"})
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*@#"
NOISE = ALPHABET + "abcz -_.!/é٣"  # lower case (accepted), blanks, punctuation and non-ASCII (rejected)


def _scalar_check(fn, base: str) -> int:  # type: ignore[no-untyped-def]
    try:
        return fn(base) if base.isascii() else -1
    except (KeyError, ValueError):
        return -1


def _random_codes(rng: random.Random, n: int, width: int, valid_share: float, make_valid) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        w = width if rng.random() < 0.9 else rng.choice([0, width - 1, width + 1])
        if rng.random() < valid_share and w == width:
            out.append(make_valid(rng))
        else:
            pool = ALPHABET if rng.random() < 0.7 else NOISE
            out.append("".join(rng.choice(pool) for _ in range(w)))
    return out


def _valid_cusip(rng: random.Random) -> str:
    base = "".join(rng.choice(ALPHABET) for _ in range(8))
    return base + str(cusip_check_digit(base))


def _valid_isin(rng: random.Random) -> str:
    return isin_from_cusip(_valid_cusip(rng), rng.choice(["US", "CA", "GB", "KY", "XS"]))


def _real_isins() -> list[str]:
    return [isin_from_cusip(c) for c in REAL_CUSIPS] + ["US0378331005", "AU0000XVGZA3", "GB0002634946",
                                                       "US0378331006", "us0378331005"]


def test_valid_cusips_when_random_and_real_codes_then_same_verdicts_as_scalar() -> None:
    rng = random.Random(4)
    codes = REAL_CUSIPS + _random_codes(rng, 20_000, 9, 0.5, _valid_cusip)
    codes += [c[:8] + str((int(c[8]) + 1) % 10) for c in REAL_CUSIPS]  # one-off check digits
    expected = [is_valid_cusip(c) for c in codes]
    assert 0.2 < sum(expected) / len(codes) < 0.8  # both verdicts well represented
    assert valid_cusips(np.array(codes)).tolist() == expected  # U array
    ascii_codes = [c for c in codes if c.isascii() and "\x00" not in c]
    assert valid_cusips(np.array([c.encode() for c in ascii_codes], dtype="S10")).tolist() == \
        [is_valid_cusip(c) for c in ascii_codes]  # S array, wider than a CUSIP
    assert valid_cusips(codes).tolist() == expected  # plain list


def test_cusip_check_digits_when_random_bases_then_same_digits_as_scalar() -> None:
    rng = random.Random(5)
    bases = [c[:8] for c in REAL_CUSIPS] + _random_codes(rng, 20_000, 8, 0.0, _valid_cusip)
    assert cusip_check_digits(np.array(bases)).tolist() == [_scalar_check(cusip_check_digit, b) if len(b) == 8
                                                            else -1 for b in bases]


def test_valid_isins_when_random_and_real_codes_then_same_verdicts_as_scalar() -> None:
    rng = random.Random(6)
    codes = _real_isins() + _random_codes(rng, 20_000, 12, 0.5, _valid_isin)
    codes += [c[:11] + str((int(c[11]) + 3) % 10) for c in _real_isins()]
    expected = [is_valid_isin(c) for c in codes]
    assert 0.2 < sum(expected) / len(codes) < 0.8
    assert valid_isins(np.array(codes)).tolist() == expected


def test_isin_check_digits_when_random_bases_then_same_digits_as_scalar() -> None:
    rng = random.Random(7)
    bases = [i[:11] for i in _real_isins()] + _random_codes(rng, 20_000, 11, 0.0, _valid_isin)
    assert isin_check_digits(np.array(bases)).tolist() == [_scalar_check(isin_check_digit, b) if len(b) == 11
                                                           else -1 for b in bases]


def test_isins_from_cusips_when_valid_cusips_then_same_isins_as_scalar() -> None:
    rng = random.Random(8)
    cusips = REAL_CUSIPS + [_valid_cusip(rng) for _ in range(5_000)]
    got = isins_from_cusips(np.array(cusips, dtype="S9"))
    assert [g.decode() for g in got.tolist()] == [isin_from_cusip(c) for c in cusips]
    assert isins_from_cusips(np.array(["03783310!", "0378331"])).tolist() == [b"", b""]


@pytest.mark.parametrize("code", ["03783310٣", "٣37833100", "US037833100٥"])
def test_scalar_checks_when_non_ascii_digit_then_invalid(code: str) -> None:
    assert not is_valid_cusip(code) and not is_valid_isin(code)
