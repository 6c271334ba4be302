"""Identity documents, organisations and vehicles: passports, travel permits, Hong Kong identity
cards, US social security numbers, unified social credit codes, VINs and vehicle plates.

Where the standard defines a check character (HKID, GB 32100, ISO 3779) it is verified; the PRC
passport and travel-permit numbers have none, so they are checked for shape only and rely on
context keywords for confidence. Plain-Python twins: ``detectors.reference``.
"""

from __future__ import annotations

import numpy as np

from detectors.tables import (
    CN_PLATE_PROVINCES,
    CN_PROVINCE_CODES,
    USCC_AUTHORITIES,
    USCC_CHARSET,
    USCC_WEIGHTS,
    VIN_VALUES,
    VIN_WEIGHTS,
    VIN_YEAR_CODES,
)
from detectors.vectors import (
    ALNUM,
    DIGIT,
    LETTER,
    UPPER,
    BoolArray,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    byte_table,
    calendar_dates,
    compact,
    digits_of,
    empty,
    fixed_matrix,
    kernel_check,
    native_kernels,
    number,
    span_matrix,
    upper,
)

_PROVINCE_TABLE = np.zeros(100, dtype=bool)
_PROVINCE_TABLE[list(CN_PROVINCE_CODES)] = True


def _digits_between(mat: ByteArray, begin: IntArray, stop: IntArray) -> BoolArray:
    """All bytes in [begin, stop) of each row are ASCII digits (and the range is not empty)."""
    cols = np.arange(mat.shape[1], dtype=np.int64)[None, :]
    inside = (cols >= begin[:, None]) & (cols < stop[:, None])
    result: BoolArray = np.all(DIGIT[mat] | ~inside, axis=1) & (stop > begin)
    return result


def _any_nonzero_digit(mat: ByteArray, begin: IntArray, stop: IntArray) -> BoolArray:
    cols = np.arange(mat.shape[1], dtype=np.int64)[None, :]
    inside = (cols >= begin[:, None]) & (cols < stop[:, None])
    result: BoolArray = np.any(inside & DIGIT[mat] & (mat != ord("0")), axis=1)
    return result


def check_cn_passport(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """E/G + 8 digits, E + letter (not I/O) + 7 digits, P/S/D (+E) + 7 digits; serial not zero."""
    if starts.size == 0:
        return empty()
    mat, _ = span_matrix(buf, starts, ends, width=9)
    v = upper(mat)
    length = ends - starts
    c0, c1 = v[:, 0], v[:, 1]
    in_eg = (c0 == ord("E")) | (c0 == ord("G"))
    in_psd = (c0 == ord("P")) | (c0 == ord("S")) | (c0 == ord("D"))
    tail_digits = _digits_between(v, np.ones_like(length), length)
    form_a = (length == 9) & in_eg & tail_digits
    form_b = (
        ~form_a & (length == 9) & (c0 == ord("E")) & UPPER[c1] & (c1 != ord("I")) & (c1 != ord("O"))
    )
    form_c = ~form_a & ~form_b & (length == 8) & in_psd
    form_d = ~form_a & ~form_b & ~form_c & (length == 9) & in_psd & (c1 == ord("E"))
    serial_start = np.where(form_b | form_d, 2, 1)
    ok = (form_a | form_b | form_c | form_d) & _digits_between(v, serial_start, length)
    ok &= _any_nonzero_digit(v, length - 7, length)
    return Checked(ok, as_strings(v))


def check_cn_hkmo_permit(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """H/M + 8 digits (+ 2 renewal digits, dropped from the value)."""
    if starts.size == 0:
        return empty()
    mat, _ = span_matrix(buf, starts, ends, width=11)
    v = upper(mat)
    length = ends - starts
    ok = ((v[:, 0] == ord("H")) | (v[:, 0] == ord("M"))) & ((length == 9) | (length == 11))
    ok &= _digits_between(v, np.ones_like(length), length)
    ok &= _any_nonzero_digit(v, np.ones_like(length), np.full_like(length, 9))
    return Checked(ok, as_strings(np.ascontiguousarray(v[:, :9])))


def check_cn_tw_permit(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """8 digits, not all zero, and not a YYYYMMDD date of 1900-2099 (dates are the usual decoy)."""
    if starts.size == 0:
        return empty()
    length = ends - starts
    mat, _ = span_matrix(buf, starts, ends, width=8)
    d = digits_of(mat)
    year, month, day = number(d[:, :4]), number(d[:, 4:6]), number(d[:, 6:8])
    is_date = calendar_dates(year, month, day) & (year >= 1900) & (year <= 2099)
    ok = (length == 8) & DIGIT[mat].all(axis=1) & (number(d) != 0) & ~is_date
    return Checked(ok, as_strings(mat))


def check_hk_identity_card(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """1-2 letters + 6 digits + check (0-9, A); weights 9..2, a lone letter padded with 36."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)
    v, count = compact(upper(mat), inside & ALNUM[mat])
    if v.shape[1] < 9:
        v = np.pad(v, ((0, 0), (0, 9 - v.shape[1])))
    n = len(starts)
    rows = np.arange(n)
    letters = count - 7
    one = letters == 1
    ok = (letters == 1) | (letters == 2)
    ok &= UPPER[v[:, 0]] & (one | UPPER[v[:, 1]])
    first = v[:, 0].astype(np.int64) - 55
    second = v[:, 1].astype(np.int64) - 55
    digit_cols = np.clip(letters[:, None] + np.arange(6)[None, :], 0, v.shape[1] - 1)
    body = np.take_along_axis(v, digit_cols, axis=1)
    ok &= DIGIT[body].all(axis=1)
    values = np.column_stack(
        [np.where(one, 36, first), np.where(one, first, second), digits_of(body)]
    )
    total = values @ np.arange(9, 1, -1, dtype=np.int64)
    check = (11 - total % 11) % 11
    expected = np.where(check == 10, ord("A"), check + ord("0"))
    ok &= v[rows, np.clip(count - 1, 0, v.shape[1] - 1)] == expected
    return Checked(ok, as_strings(v))


_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_CHARSET):
    _USCC_VALUE[ord(_c)] = _i
_USCC_CHARS = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
_USCC_FIRST = byte_table(USCC_AUTHORITIES.encode())
_USCC_SECOND = byte_table(b"123456789")


_USCC_WEIGHT_ARRAY = np.array(USCC_WEIGHTS, dtype=np.int64)


def check_cn_uscc(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """GB 32100-2015: charset, authority and type codes, province, mod-31 check character.
    The loop of ``detectors._kernels.uscc`` when built, else ``check_cn_uscc_numpy``."""
    if starts.size == 0:
        return empty()
    native = native_kernels()
    if native is None:
        return check_cn_uscc_numpy(buf, starts, ends)
    tables = (_USCC_FIRST, _USCC_SECOND, _PROVINCE_TABLE, _USCC_VALUE, _USCC_WEIGHT_ARRAY)
    return kernel_check(native.uscc, buf, (starts,), 18, *tables, _USCC_CHARS)


def check_cn_uscc_numpy(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """``check_cn_uscc`` in numpy."""
    if starts.size == 0:
        return empty()
    v = upper(fixed_matrix(buf, starts, 18))
    # cheap column tests first, the charset and the check sum only for the rows still in the
    # running (an 18-digit resident ID has the shape but rarely a province in columns 3-4)
    ok = _USCC_FIRST[v[:, 0]] & _USCC_SECOND[v[:, 1]] & DIGIT[v[:, 2]] & DIGIT[v[:, 3]]
    ok &= _PROVINCE_TABLE[number(digits_of(v[:, 2:4]))]
    rows = np.flatnonzero(ok)
    sub = v[rows]
    values = _USCC_VALUE[sub]
    sub_ok = (values >= 0).all(axis=1) & DIGIT[sub[:, 2:8]].all(axis=1)
    total = np.clip(values[:, :17], 0, None) @ _USCC_WEIGHT_ARRAY
    sub_ok &= sub[:, 17] == _USCC_CHARS[(31 - total % 31) % 31]
    ok[rows] = sub_ok
    return Checked(ok, as_strings(v))


def check_us_ssn(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Area 001-899 except 666, group 01-99, serial 0001-9999 (SSA's never-issued rules)."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)
    digits, count = compact(mat, inside & DIGIT[mat])
    if digits.shape[1] < 9:
        digits = np.pad(digits, ((0, 0), (0, 9 - digits.shape[1])))
    d = digits_of(digits[:, :9])
    area, group, serial = number(d[:, :3]), number(d[:, 3:5]), number(d[:, 5:9])
    ok = (count == 9) & (area > 0) & (area < 900) & (area != 666) & (group > 0) & (serial > 0)
    return Checked(ok, as_strings(np.ascontiguousarray(digits[:, :9])))


_VIN_VALUE = np.full(256, -1, dtype=np.int64)
for _c, _v in VIN_VALUES.items():
    _VIN_VALUE[ord(_c)] = _v
_VIN_YEAR = byte_table(VIN_YEAR_CODES.encode())


def check_vin(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """ISO 3779 check digit in position 9, a model-year code in 10, a letter in the WMI."""
    if starts.size == 0:
        return empty()
    v = upper(fixed_matrix(buf, starts, 17))
    values = _VIN_VALUE[v]
    ok = (values >= 0).all(axis=1) & _VIN_YEAR[v[:, 9]] & LETTER[v[:, :3]].any(axis=1)
    total = (np.clip(values, 0, None) @ np.array(VIN_WEIGHTS, dtype=np.int64)) % 11
    ok &= v[:, 8] == np.where(total == 10, ord("X"), total + ord("0"))
    return Checked(ok, as_strings(v))


def _utf8_set(chars: str) -> np.ndarray:
    return np.array(sorted(c.encode() for c in chars), dtype="S3")


_PLATE_PROVINCES = _utf8_set(CN_PLATE_PROVINCES)
_PLATE_SUFFIXES = _utf8_set("挂学警港澳领使")
_MIDDLE_DOT = np.frombuffer("·".encode(), dtype=np.uint8)
_BULLET = np.frombuffer("•".encode(), dtype=np.uint8)
_PLATE_SERIAL = byte_table(b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")


def check_cn_vehicle_plate(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Province + office letter (+ separator) + 5-6 serial characters (or 4 + a suffix such as
    学 or 挂), at most two letters in the serial; the separator is dropped from the value."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends, width=max(int((ends - starts).max()), 10))
    length = ends - starts
    cols = np.arange(mat.shape[1], dtype=np.int64)[None, :]
    ok = (length >= 9) & np.isin(as_strings(np.ascontiguousarray(mat[:, :3])), _PLATE_PROVINCES)
    ok &= UPPER[mat[:, 3]] & (mat[:, 3] != ord("I")) & (mat[:, 3] != ord("O"))
    sep = np.where(
        mat[:, 4] == ord(" "),
        1,
        np.where(
            (mat[:, 4:6] == _MIDDLE_DOT).all(axis=1),
            2,
            np.where((mat[:, 4:7] == _BULLET).all(axis=1), 3, 0),
        ),
    )
    tail_idx = np.clip(length[:, None] - 3 + np.arange(3)[None, :], 0, mat.shape[1] - 1)
    tail = np.ascontiguousarray(np.take_along_axis(mat, tail_idx, axis=1))
    suffix = np.isin(as_strings(tail), _PLATE_SUFFIXES)
    serial_begin = 4 + sep
    serial_end = length - np.where(suffix, 3, 0)
    serial_len = serial_end - serial_begin
    in_serial = (cols >= serial_begin[:, None]) & (cols < serial_end[:, None])
    ok &= np.all(_PLATE_SERIAL[mat] | ~in_serial, axis=1)
    ok &= (serial_len >= 4) & (serial_len <= 6) & ((serial_len == 4) == suffix)
    ok &= (in_serial & UPPER[mat]).sum(axis=1) <= 2
    drop = (cols >= 4) & (cols < serial_begin[:, None])
    values, _ = compact(mat, inside & ~drop)
    return Checked(ok, as_strings(values))


KERNELS = {
    "cn_passport": check_cn_passport,
    "cn_hkmo_permit": check_cn_hkmo_permit,
    "cn_tw_permit": check_cn_tw_permit,
    "hk_identity_card": check_hk_identity_card,
    "cn_uscc": check_cn_uscc,
    "us_ssn": check_us_ssn,
    "vin": check_vin,
    "cn_vehicle_plate": check_cn_vehicle_plate,
}
