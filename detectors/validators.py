"""Candidate validators, vectorised over all candidates of an object at once.

A validator takes the object's bytes as a uint8 array and the candidates' [start, end) offsets and
returns ``Checked``: a boolean mask of valid candidates and each candidate's normalised value as a
fixed-width byte string (meaningless where invalid). Normalised values are what distinct counts,
allowlists and the keyed person hashes use: "+86 138-1234-5678" and "13812345678" are one number.

Resident ID numbers live here; the other families are in ``validators_*`` modules and are merged
into ``VALIDATORS`` below. Each kernel's plain-Python twin is in ``detectors.reference`` under the
same name, and the tests check both agree on everything the identifier's pattern can match.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np

from detectors import reference
from detectors.tables import CN_PROVINCE_CODES, GB11643_CHECK, GB11643_WEIGHTS, MIN_BIRTH_YEAR
from detectors.vectors import (
    DIGIT,
    BoolArray,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    calendar_dates,
    empty,
    fixed_matrix,
    kernel_check,
    native_kernels,
    number,
    span_matrix,
    upper,
)

Kernel = Callable[[ByteArray, IntArray, IntArray], Checked]

_WEIGHTS = np.array(GB11643_WEIGHTS, dtype=np.int64)
_CHECK_TABLE = np.frombuffer(GB11643_CHECK.encode(), dtype=np.uint8)
_PROVINCE_TABLE = np.zeros(100, dtype=bool)
_PROVINCE_TABLE[list(CN_PROVINCE_CODES)] = True


def birth_dates(year: IntArray, month: IntArray, day: IntArray) -> BoolArray:
    """Calendar dates from ``MIN_BIRTH_YEAR`` up to this year."""
    this_year = datetime.date.today().year
    in_range = (year >= MIN_BIRTH_YEAR) & (year <= this_year)
    result: BoolArray = calendar_dates(year, month, day) & in_range
    return result


def gb11643_check_chars(digits17: IntArray) -> ByteArray:
    result: ByteArray = _CHECK_TABLE[(digits17 @ _WEIGHTS) % 11]
    return result


def gb11643(buf: ByteArray, starts: IntArray, chars: ByteArray | None = None) -> BoolArray:
    """Valid 18-character resident ID numbers at ``starts``: check character, date, province.
    ``chars``: their upper-cased bytes, when the caller has them already."""
    if starts.size == 0:
        return np.zeros(0, dtype=bool)
    if chars is None:
        chars = upper(fixed_matrix(buf, starts, 18))
    body_ok = DIGIT[chars[:, :17]].all(axis=1)
    digits = np.where(DIGIT[chars[:, :17]], chars[:, :17].astype(np.int64) - ord("0"), 0)
    check_ok = chars[:, 17] == gb11643_check_chars(digits)
    province_ok = _PROVINCE_TABLE[digits[:, 0] * 10 + digits[:, 1]]
    date_ok = birth_dates(
        number(digits[:, 6:10]), number(digits[:, 10:12]), number(digits[:, 12:14])
    )
    result: BoolArray = body_ok & check_ok & province_ok & date_ok
    return result


def gb11643_reference(text: str) -> bool:
    """Plain-Python definition of a valid resident ID number, for tests."""
    return reference.cn_resident_id(text) is not None


def check_gb11643(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """18-digit resident ID; normalised to upper case (a trailing x becomes X). The loop of
    ``detectors._kernels.gb11643`` when it is built, else ``check_gb11643_numpy`` (the same)."""
    if starts.size == 0:
        return empty()
    native = native_kernels()
    if native is None:
        return check_gb11643_numpy(buf, starts, ends)
    year = datetime.date.today().year
    tables = (_CHECK_TABLE, _PROVINCE_TABLE, _WEIGHTS, MIN_BIRTH_YEAR, year)
    return kernel_check(native.gb11643, buf, (starts,), 18, *tables)


def check_gb11643_numpy(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """``check_gb11643`` in numpy."""
    if starts.size == 0:
        return empty()
    chars = upper(fixed_matrix(buf, starts, 18))
    return Checked(gb11643(buf, starts, chars), as_strings(chars))


def check_gb11643_15(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Legacy 15-digit ID; normalised to the 18-digit form (century 19 inserted, check computed)."""
    if starts.size == 0:
        return empty()
    chars = fixed_matrix(buf, starts, 15)
    ok = DIGIT[chars].all(axis=1)
    digits = np.where(DIGIT[chars], chars.astype(np.int64) - ord("0"), 0)
    ok &= _PROVINCE_TABLE[digits[:, 0] * 10 + digits[:, 1]]
    ok &= birth_dates(
        1900 + number(digits[:, 6:8]), number(digits[:, 8:10]), number(digits[:, 10:12])
    )
    century = np.broadcast_to(np.array([1, 9], dtype=np.int64), (len(starts), 2))
    body = np.concatenate([digits[:, :6], century, digits[:, 6:]], axis=1)
    full = np.concatenate(
        [(body + ord("0")).astype(np.uint8), gb11643_check_chars(body)[:, None]], axis=1
    )
    return Checked(ok, as_strings(full))


def check_none(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Accept every candidate; the value is the matched bytes as written."""
    mat, _ = span_matrix(buf, starts, ends)
    return Checked(np.ones(starts.shape, dtype=bool), as_strings(mat))


def _registry() -> dict[str, Kernel]:
    from detectors import (
        validators_contact,
        validators_documents,
        validators_finance,
        validators_health,
        validators_text,
    )

    return {
        "gb11643": check_gb11643,
        "gb11643_15": check_gb11643_15,
        "none": check_none,
        **validators_contact.KERNELS,
        **validators_documents.KERNELS,
        **validators_finance.KERNELS,
        **validators_health.KERNELS,
        **validators_text.KERNELS,
    }


VALIDATORS: dict[str, Kernel] = _registry()
