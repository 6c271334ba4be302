"""Candidate validators, vectorised over all candidates of an object at once.

Each validator takes the object's bytes as a uint8 array and the candidates' start offsets, and
returns a boolean mask. ``*_reference`` functions are the plain-Python definitions the vectorised
versions are tested against.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

# GB 11643-1999: weights W_i = 2^(17-i) mod 11 for positions 1..17, check = (12 - S mod 11) mod 11,
# written as the character table below indexed by S mod 11 ("X" stands for 10).
GB11643_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
GB11643_CHECK = b"10X98765432"
# First two digits: province-level divisions of GB/T 2260, plus 71 Taiwan, 81 Hong Kong, 82 Macao
# (used on residence permits), and 83 for the Taiwan residence permit range.
CN_PROVINCE_CODES = frozenset(
    (
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
    )
)
MIN_BIRTH_YEAR = 1900

BoolArray = npt.NDArray[np.bool_]
ByteArray = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]
Validator = Callable[[ByteArray, IntArray], BoolArray]

_PROVINCE_TABLE = np.zeros(100, dtype=bool)
_PROVINCE_TABLE[list(CN_PROVINCE_CODES)] = True
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def gb11643(buf: ByteArray, starts: IntArray) -> BoolArray:
    """Valid 18-character resident ID numbers: check character, birth date, province code."""
    if starts.size == 0:
        return np.zeros(0, dtype=bool)
    chars = buf[starts[:, None] + np.arange(18)].astype(np.int64)
    digits = chars[:, :17] - ord("0")
    if np.any((digits < 0) | (digits > 9)):
        body_ok = np.all((digits >= 0) & (digits <= 9), axis=1)
        digits = np.where(body_ok[:, None], digits, 0)
    else:
        body_ok = np.ones(len(starts), dtype=bool)
    expected = np.frombuffer(GB11643_CHECK, dtype=np.uint8)[(digits @ GB11643_WEIGHTS) % 11]
    last = chars[:, 17]
    last = np.where(last == ord("x"), ord("X"), last)
    check_ok = last == expected
    province_ok = _PROVINCE_TABLE[digits[:, 0] * 10 + digits[:, 1]]
    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    max_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] - ((month == 2) & ~leap)
    date_ok = month_ok & (day >= 1) & (day <= max_day)
    year_ok = (year >= MIN_BIRTH_YEAR) & (year <= datetime.date.today().year)
    result: BoolArray = body_ok & check_ok & province_ok & date_ok & year_ok
    return result


def gb11643_reference(text: str) -> bool:
    """Plain-Python definition of a valid resident ID number, for tests."""
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(c) * (2 ** (18 - i) % 11) for i, c in enumerate(text[:17], start=1))
    check = (12 - total % 11) % 11
    if text[17].upper() != ("X" if check == 10 else str(check)):
        return False
    if int(text[:2]) not in CN_PROVINCE_CODES:
        return False
    try:
        born = datetime.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return MIN_BIRTH_YEAR <= born.year <= datetime.date.today().year


def accept_all(buf: ByteArray, starts: IntArray) -> BoolArray:
    return np.ones(starts.shape, dtype=bool)


VALIDATORS: dict[str, Validator] = {"gb11643": gb11643, "none": accept_all}
