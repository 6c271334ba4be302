"""Financial account identifiers: payment cards (issuer range + length + Luhn) and IBANs (mod 97).

Card numbers are compacted (separators dropped) and right-aligned in a 19-column matrix so that
Luhn's "double every second digit from the right" is one fixed column mask for every card length;
leading zero padding adds nothing to the sum. IBANs are rearranged row by row and reduced mod 97
column by column, 34 small array steps for any number of candidates.
"""

from __future__ import annotations

import numpy as np

from detectors.tables import IBAN_LENGTHS, INTERNATIONAL_CARD_RANGES, UNIONPAY_RANGES
from detectors.vectors import (
    ALNUM,
    DIGIT,
    UPPER,
    BoolArray,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    compact,
    digits_of,
    empty,
    kernel_check,
    native_kernels,
    number,
    right_align,
    span_matrix,
    upper,
)

CARD_WIDTH = 19
_DOUBLE = (CARD_WIDTH - 1 - np.arange(CARD_WIDTH)) % 2 == 1  # every second digit from the right
_LUHN_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)

IBAN_WIDTH = 34
_IBAN_LENGTH_TABLE = np.zeros((26, 26), dtype=np.int64)
for _code, _length in IBAN_LENGTHS.items():
    _IBAN_LENGTH_TABLE[ord(_code[0]) - 65, ord(_code[1]) - 65] = _length


def luhn(aligned: ByteArray) -> BoolArray:
    """Luhn over right-aligned digit rows (zero bytes on the left count as 0)."""
    digits = digits_of(aligned)
    contributions = np.where(_DOUBLE[None, :], _LUHN_DOUBLED[digits], digits)
    result: BoolArray = contributions.sum(axis=1) % 10 == 0
    return result


def _issuer_ok(
    prefix6: IntArray, lengths: IntArray, ranges: tuple[tuple[int, int, frozenset[int]], ...]
) -> BoolArray:
    ok = np.zeros(prefix6.shape, dtype=bool)
    for low, high, allowed in ranges:
        ok |= (prefix6 >= low) & (prefix6 <= high) & np.isin(lengths, sorted(allowed))
    return ok


def _range_table(ranges: tuple[tuple[int, int, frozenset[int]], ...]) -> IntArray:
    """Issuer ranges as int64 rows (low, high, bit mask of the allowed digit counts)."""
    rows = [(low, high, sum(1 << length for length in allowed)) for low, high, allowed in ranges]
    return np.array(rows or [(1, 0, 0)], dtype=np.int64)


_RANGE_TABLES = {
    ranges: _range_table(ranges) for ranges in (UNIONPAY_RANGES, INTERNATIONAL_CARD_RANGES)
}


def _cards(
    buf: ByteArray,
    starts: IntArray,
    ends: IntArray,
    ranges: tuple[tuple[int, int, frozenset[int]], ...],
) -> Checked:
    """Issuer range and length, Luhn. With ``detectors._kernels`` built, one C loop per
    candidate (``card``: on the dense CSV every resident ID is a card candidate); else
    ``_cards_numpy``, which computes the same."""
    if starts.size == 0:
        return empty()
    native = native_kernels()
    if native is None:
        return _cards_numpy(buf, starts, ends, ranges)
    table = _RANGE_TABLES.get(ranges)
    if table is None:
        table = _range_table(ranges)
    return kernel_check(native.card, buf, (starts, ends), CARD_WIDTH, table)


def _cards_numpy(
    buf: ByteArray,
    starts: IntArray,
    ends: IntArray,
    ranges: tuple[tuple[int, int, frozenset[int]], ...],
) -> Checked:
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)
    digits, counts = compact(mat, DIGIT[mat] & inside)
    if digits.shape[1] < CARD_WIDTH:
        digits = np.pad(digits, ((0, 0), (0, CARD_WIDTH - digits.shape[1])))
    digits = digits[:, :CARD_WIDTH]
    ok = (counts >= 13) & (counts <= CARD_WIDTH)
    ok &= luhn(right_align(digits, np.minimum(counts, CARD_WIDTH), CARD_WIDTH))
    ok &= _issuer_ok(number(digits_of(digits[:, :6])), counts, ranges)
    return Checked(ok, as_strings(digits))


def check_unionpay_card(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    return _cards(buf, starts, ends, UNIONPAY_RANGES)


def check_payment_card(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    return _cards(buf, starts, ends, INTERNATIONAL_CARD_RANGES)


def _char_values(mat: ByteArray) -> IntArray:
    """0-9 for digits, 10-35 for A-Z (base 36), as ISO 13616 reads IBAN characters."""
    as_int = mat.astype(np.int64)
    result: IntArray = np.where(UPPER[mat], as_int - 55, as_int - ord("0"))
    return result


def check_iban(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Known country, that country's length, alphanumeric, (BBAN + country + check) mod 97 == 1."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)
    chars, counts = compact(upper(mat), inside & (mat != ord(" ")))
    if chars.shape[1] < IBAN_WIDTH:
        chars = np.pad(chars, ((0, 0), (0, IBAN_WIDTH - chars.shape[1])))
    chars = chars[:, :IBAN_WIDTH]
    n = len(starts)
    cols = np.arange(IBAN_WIDTH, dtype=np.int64)[None, :]
    active = cols < counts[:, None]
    ok = (counts >= 5) & (counts <= IBAN_WIDTH)
    ok &= UPPER[chars[:, 0]] & UPPER[chars[:, 1]] & DIGIT[chars[:, 2]] & DIGIT[chars[:, 3]]
    ok &= np.all(ALNUM[chars] | ~active, axis=1)
    country = _IBAN_LENGTH_TABLE[
        np.clip(chars[:, 0].astype(np.int64) - 65, 0, 25),
        np.clip(chars[:, 1].astype(np.int64) - 65, 0, 25),
    ]
    ok &= country == counts
    source = (cols + 4) % np.clip(counts, 1, IBAN_WIDTH)[:, None]
    rearranged = np.take_along_axis(chars, source, axis=1)
    values = _char_values(rearranged)
    letters = UPPER[rearranged]
    remainder = np.zeros(n, dtype=np.int64)
    for j in range(IBAN_WIDTH):
        step = np.where(letters[:, j], remainder * 100, remainder * 10) + values[:, j]
        remainder = np.where(active[:, j], step % 97, remainder)
    ok &= remainder == 1
    return Checked(ok, as_strings(chars))


KERNELS = {
    "unionpay_card": check_unionpay_card,
    "payment_card": check_payment_card,
    "iban": check_iban,
}
