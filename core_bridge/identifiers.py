"""CUSIP and ISIN check digits (pure; used by the clearing twin, the loaders' validation and recon).

Codes are ASCII: a non-ASCII character (even one Python calls a digit or a letter) makes a code invalid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def _char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - ord("A") + 10
    return {"*": 36, "@": 37, "#": 38}[c]


def cusip_check_digit(base8: str) -> int:
    """Modulus-10 'double add double' over the first 8 characters (CUSIP Global Services)."""
    if len(base8) != 8:
        raise ValueError("CUSIP base must be 8 characters")
    total = 0
    for i, c in enumerate(base8.upper()):
        v = _char_value(c)
        if i % 2 == 1:
            v *= 2
        total += v // 10 + v % 10
    return (10 - total % 10) % 10


def is_valid_cusip(cusip: str) -> bool:
    if not cusip.isascii() or len(cusip) != 9 or not cusip[8].isdigit():
        return False
    try:
        return cusip_check_digit(cusip[:8]) == int(cusip[8])
    except (KeyError, ValueError):
        return False


def isin_check_digit(base11: str) -> int:
    """Luhn over the digits obtained by expanding letters to two-digit numbers (ISO 6166)."""
    digits = "".join(str(_char_value(c)) for c in base11.upper())
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d)
        if i % 2 == 0:
            v *= 2
        total += v // 10 + v % 10
    return (10 - total % 10) % 10


def isin_from_cusip(cusip: str, country: str = "US") -> str:
    base = country + cusip
    return base + str(isin_check_digit(base))


def is_valid_isin(isin: str) -> bool:
    if not isin.isascii() or len(isin) != 12 or not isin[:2].isalpha() or not isin[11].isdigit():
        return False
    try:
        return isin_check_digit(isin[:11]) == int(isin[11])
    except (KeyError, ValueError):
        return False


# --- vectorised (numpy) ----------------------------------------------------------------------------------
# The same rules over whole columns: a 1,000,000-row clearing file holds ~250k distinct CUSIPs, and the
# scalar functions cost ~10 us each. Codes are read as a (n, width) integer matrix (bytes for `S` arrays,
# code points for `U` arrays) and every rule becomes a table lookup. numpy is imported lazily so that
# importing this module stays as cheap as before.

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*@#"  # value = index (the scalar _char_value)


def _tables() -> dict[str, Any]:
    import numpy as np

    if _TABLES:
        return _TABLES
    value = np.full(256, -1, dtype=np.int16)  # -1: not allowed in a code
    for i, c in enumerate(_ALPHABET):
        value[ord(c)] = i
        value[ord(c.lower())] = i  # the scalar functions upper-case first
    known = value >= 0
    v = np.where(known, value, 0).astype(np.int64)
    digit_sum = (v // 10 + v % 10).astype(np.uint8)
    doubled = (2 * v // 10 + 2 * v % 10).astype(np.uint8)
    tens, units = v // 10, v % 10
    dsum = 2 * np.arange(10) // 10 + 2 * np.arange(10) % 10  # digit sum of 2d, d = 0..9
    # Luhn contribution of one character when the right-most digit it expands to is at an even (doubled)
    # or odd position from the right. A letter expands to two digits (tens, units); a digit to one.
    luhn_even = np.where(v < 10, dsum[units], dsum[units] + tens).astype(np.uint8)
    luhn_odd = np.where(v < 10, units, units + dsum[tens]).astype(np.uint8)
    is_digit = np.zeros(256, dtype=bool)
    is_digit[ord("0"):ord("9") + 1] = True
    is_alpha = np.zeros(256, dtype=bool)
    is_alpha[ord("A"):ord("Z") + 1] = True
    is_alpha[ord("a"):ord("z") + 1] = True
    _TABLES.update(known=known, digit_sum=digit_sum, doubled=doubled, luhn_even=luhn_even, luhn_odd=luhn_odd,
                   two_digits=(v >= 10), is_digit=is_digit, is_alpha=is_alpha)
    return _TABLES


_TABLES: dict[str, Any] = {}


def _code_matrix(codes: Any, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, width) uint8 matrix of `codes` (S or U array, or a sequence of str) and a mask of rows that are
    exactly `width` ASCII characters long (others can never be valid)."""
    import numpy as np

    arr = np.asarray(codes)
    if arr.dtype.kind not in "SU":
        arr = arr.astype(str)
    arr = np.ascontiguousarray(arr).ravel()
    n = len(arr)
    chars = arr.dtype.itemsize // (4 if arr.dtype.kind == "U" else 1)
    unit = np.uint32 if arr.dtype.kind == "U" else np.uint8
    if chars < width:
        return np.zeros((n, width), dtype=np.uint8), np.zeros(n, dtype=bool)
    m: Any = arr.view(unit).reshape(n, chars)
    ok = (m[:, :width] != 0).all(axis=1) & (m[:, :width] < 128).all(axis=1)
    if chars > width:
        ok &= (m[:, width:] == 0).all(axis=1)
    return np.where(m[:, :width] < 128, m[:, :width], 0).astype(np.uint8), ok


def cusip_check_digits(base8: Any) -> np.ndarray:
    """Vectorised `cusip_check_digit` over an array of 8-character bases: int8 digits, -1 where a base is not
    8 known characters (where the scalar function raises)."""
    import numpy as np

    t = _tables()
    m, ok = _code_matrix(base8, 8)
    ok = ok & t["known"][m].all(axis=1)
    total = t["digit_sum"][m[:, 0::2]].sum(axis=1, dtype=np.int64) \
        + t["doubled"][m[:, 1::2]].sum(axis=1, dtype=np.int64)
    return np.where(ok, (10 - total % 10) % 10, -1).astype(np.int8)


def valid_cusips(cusips: Any) -> np.ndarray:
    """Vectorised `is_valid_cusip`: a bool array, True where the 9-character CUSIP's check digit is right."""
    import numpy as np

    t = _tables()
    m, ok = _code_matrix(cusips, 9)
    last = m[:, 8]
    ok = ok & t["is_digit"][last]
    check = cusip_check_digits(np.ascontiguousarray(m[:, :8]).view("S8").ravel())
    return ok & (check == last.astype(np.int16) - 48)


def isin_check_digits(base11: Any) -> np.ndarray:
    """Vectorised `isin_check_digit` over an array of 11-character bases: int8 digits, -1 where a base holds
    a character the scalar function rejects."""
    import numpy as np

    t = _tables()
    m, ok = _code_matrix(base11, 11)
    ok = ok & t["known"][m].all(axis=1)
    # Parity of the number of expanded digits to the right of each character decides which of its digits
    # are doubled: count digits from the right with a reversed cumulative sum.
    width = t["two_digits"][m].astype(np.int8) + 1
    right = np.zeros_like(width)
    right[:, :-1] = np.cumsum(width[:, ::-1], axis=1)[:, ::-1][:, 1:]
    even = (right % 2) == 0
    total = np.where(even, t["luhn_even"][m], t["luhn_odd"][m]).sum(axis=1, dtype=np.int64)
    return np.where(ok, (10 - total % 10) % 10, -1).astype(np.int8)


def valid_isins(isins: Any) -> np.ndarray:
    """Vectorised `is_valid_isin`: a bool array, True where the 12-character ISIN is well formed (two letters,
    known characters, digit last) and its Luhn check digit is right."""
    import numpy as np

    t = _tables()
    m, ok = _code_matrix(isins, 12)
    last = m[:, 11]
    ok = ok & t["is_alpha"][m[:, 0]] & t["is_alpha"][m[:, 1]] & t["is_digit"][last]
    check = isin_check_digits(np.ascontiguousarray(m[:, :11]).view("S11").ravel())
    return ok & (check == last.astype(np.int16) - 48)


def isins_from_cusips(cusips: Any, country: str = "US") -> np.ndarray:
    """Vectorised `isin_from_cusip`: an S12 array; rows whose CUSIP cannot be expanded are empty (b"")."""
    import numpy as np

    m, ok = _code_matrix(cusips, 9)
    n = len(m)
    out = np.zeros((n, 12), dtype=np.uint8)
    out[:, :2] = np.frombuffer(country.encode("ascii"), dtype=np.uint8)
    out[:, 2:11] = m
    check = isin_check_digits(np.ascontiguousarray(out[:, :11]).view("S11").ravel())
    ok = ok & (check >= 0)
    out[:, 11] = (check + 48).astype(np.uint8)
    out[~ok] = 0
    return out.view("S12").ravel()
