"""Contact and location identifiers: mainland mobile and landline numbers, e-mail, GPS coordinates.

None of these carries a check digit, so validation is structural: allocated number segments and
area codes, mailbox syntax, coordinate ranges. Context keywords (see ``detectors.context``) do the
rest. Plain-Python twins: ``detectors.reference``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from detectors.tables import (
    CN_AREA_CODES_2,
    CN_AREA_CODES_3,
    CN_MOBILE_PREFIXES,
    FILE_EXTENSION_TLDS,
)
from detectors.vectors import (
    DIGIT,
    LETTER,
    BoolArray,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    byte_table,
    compact,
    digits_of,
    empty,
    kernel_check,
    lower,
    native_kernels,
    number,
    span_matrix,
    trailing_run,
    windows,
)

_MOBILE_TABLE = np.zeros(1000, dtype=bool)
_MOBILE_TABLE[list(CN_MOBILE_PREFIXES)] = True
_AREA2 = np.zeros(100, dtype=bool)
_AREA2[list(CN_AREA_CODES_2)] = True
_AREA3 = np.zeros(1000, dtype=bool)
_AREA3[list(CN_AREA_CODES_3)] = True


def _pad(mat: ByteArray, width: int) -> ByteArray:
    if mat.shape[1] >= width:
        return mat
    return np.pad(mat, ((0, 0), (0, width - mat.shape[1])))


def _starts_with(mat: ByteArray, prefix: bytes) -> BoolArray:
    result: BoolArray = (mat[:, : len(prefix)] == np.frombuffer(prefix, dtype=np.uint8)).all(axis=1)
    return result


def _digits_only(
    buf: ByteArray, starts: IntArray, ends: IntArray, width: int
) -> tuple[ByteArray, IntArray]:
    mat, inside = span_matrix(buf, starts, ends)
    digits, counts = compact(mat, DIGIT[mat] & inside)
    return _pad(digits, width), counts


def _shift_left(mat: ByteArray, shift: IntArray, width: int) -> ByteArray:
    if width <= mat.shape[1] and not shift.any():  # no country code anywhere: the first columns
        head: ByteArray = mat[:, :width].copy()
        return head
    cols = np.minimum(shift[:, None] + np.arange(width, dtype=np.int64), mat.shape[1] - 1)
    result: ByteArray = np.take_along_axis(mat, cols, axis=1)
    return result


def check_cn_mobile(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """11-digit national number in an allocated segment; +86 / 0086 and separators removed.
    The loop of ``detectors._kernels.mobile`` when built, else ``check_cn_mobile_numpy``."""
    if starts.size == 0:
        return empty()
    native = native_kernels()
    if native is None:
        return check_cn_mobile_numpy(buf, starts, ends)
    return kernel_check(native.mobile, buf, (starts, ends), 11, _MOBILE_TABLE)


def check_cn_mobile_numpy(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """``check_cn_mobile`` in numpy."""
    if starts.size == 0:
        return empty()
    digits, counts = _digits_only(buf, starts, ends, 16)
    shift = np.where(
        (counts == 15) & _starts_with(digits, b"0086"),
        4,
        np.where((counts == 13) & _starts_with(digits, b"86"), 2, 0),
    )
    national = _shift_left(digits, shift, 11)
    ok = (counts - shift == 11) & _MOBILE_TABLE[number(digits_of(national[:, :3]))]
    return Checked(ok, as_strings(national))


def check_cn_landline(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Trunk 0 + known area code + subscriber number (2-8 first; 8 digits, or 7-8 after 3-digit codes)."""
    if starts.size == 0:
        return empty()
    digits, counts = _digits_only(buf, starts, ends, 20)
    shift = np.where(_starts_with(digits, b"0086"), 3, np.where(_starts_with(digits, b"86"), 1, 0))
    national = _shift_left(digits, shift, 16)
    national[:, 0] = np.where(shift > 0, ord("0"), national[:, 0])
    length = counts - shift
    national = np.where(np.arange(16)[None, :] < length[:, None], national, 0).astype(np.uint8)
    values = digits_of(national)
    two = _AREA2[number(values[:, 1:3])]
    three = _AREA3[number(values[:, 1:4])]
    sub_len = np.where(two, length - 3, length - 4)
    sub_first = np.where(two, values[:, 3], values[:, 4])
    ok = (length >= 10) & (national[:, 0] == ord("0")) & (two | three)
    ok &= np.where(two, sub_len == 8, (sub_len == 7) | (sub_len == 8))
    ok &= (sub_first >= 2) & (sub_first <= 8)
    return Checked(ok, as_strings(national))


_EMAIL_LOCAL = byte_table(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = byte_table(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_TLD_WIDTH = max(len(t) for t in FILE_EXTENSION_TLDS)
_DENIED_TLDS = np.array(sorted(t.encode() for t in FILE_EXTENSION_TLDS), dtype=f"S{_TLD_WIDTH}")
assert _TLD_WIDTH <= 8, "TLDs are compared as one big-endian 64-bit word each"


def _tld_words(tld: ByteArray) -> npt.NDArray[np.uint64]:
    """Each zero-padded row of up to 8 bytes as one integer: equal rows, equal integers, and a
    sorted lookup instead of ``np.isin`` on byte strings (a tenth of the time)."""
    padded = np.zeros((tld.shape[0], 8), dtype=np.uint8)
    padded[:, : tld.shape[1]] = tld
    result: npt.NDArray[np.uint64] = padded.view(">u8").ravel().astype(np.uint64)
    return result


_DENIED_WORDS = np.sort(
    _tld_words(np.frombuffer(_DENIED_TLDS.tobytes(), np.uint8).reshape(-1, _TLD_WIDTH))
)


def _file_tld(buf: ByteArray, ends: IntArray) -> BoolArray:
    """True where the TLD (the trailing letters) is a file extension such as png or json."""
    tail, _ = windows(buf, ends, ends, _TLD_WIDTH + 1, 0)  # one more byte: longer TLDs are fine
    tld_len = trailing_run(tail, LETTER)
    cols = np.arange(_TLD_WIDTH, dtype=np.int64)[None, :]
    shift = (_TLD_WIDTH + 1 - np.minimum(tld_len, _TLD_WIDTH))[:, None]
    picked = np.take_along_axis(lower(tail), np.minimum(shift + cols, _TLD_WIDTH), axis=1)
    tld = np.where(cols < tld_len[:, None], picked, 0).astype(np.uint8)
    words = _tld_words(tld)
    at = np.minimum(np.searchsorted(_DENIED_WORDS, words), _DENIED_WORDS.size - 1)
    result: BoolArray = (tld_len <= _TLD_WIDTH) & (_DENIED_WORDS[at] == words)
    return result


def check_email(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """One '@', local part 1-64 without edge or doubled dots, TLD not a file extension.

    The domain's label syntax is already guaranteed by the hyperscan pattern, which matches from the
    '@' to the end; the local part is found by walking back, so it is checked here. The loop of
    ``detectors._kernels.email`` when it is built (one pass over each candidate's bytes, a tenth
    of the time on a dense export), else ``check_email_numpy``; both give the same answer.
    """
    if starts.size == 0:
        return empty()
    native = native_kernels()
    width = int((ends - starts).max())
    if native is None or width <= 0 or width > 1 << 12:
        return check_email_numpy(buf, starts, ends)
    tables = (width, _EMAIL_LOCAL, _EMAIL_DOMAIN, _DENIED_WORDS)  # the kernel takes width first
    return kernel_check(native.email, buf, (starts, ends), width, *tables)


def check_email_numpy(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """``check_email`` in numpy, over the (candidates x width) byte matrix."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)  # zero outside each span
    n, width = mat.shape
    rows = np.arange(n)
    at = mat == ord("@")
    at_pos = np.argmax(at, axis=1).astype(np.int64)
    ok = (at.sum(axis=1) == 1) & (at_pos >= 1) & (at_pos <= 64) & (ends - starts <= 254)
    # '@' is neither a local nor a domain byte, so with exactly one '@': the local part is clean
    # when the first non-local byte is the '@', the domain when the last non-domain byte of the
    # span is the '@'
    ok &= np.argmax(~_EMAIL_LOCAL[mat], axis=1) == at_pos
    not_domain = ~_EMAIL_DOMAIN[mat] & inside
    ok &= width - 1 - np.argmax(not_domain[:, ::-1], axis=1) == at_pos
    dot = mat == ord(".")
    ok &= ~dot[:, 0]
    ok &= ~dot[rows, np.maximum(at_pos - 1, 0)]
    doubled = dot[:, :-1] & dot[:, 1:] & (np.arange(1, width)[None, :] < at_pos[:, None])
    ok &= ~doubled.any(axis=1)
    ok &= ~_file_tld(buf, ends)
    return Checked(ok, as_strings(lower(mat)))


def _parse_number(mat: ByteArray, begin: IntArray, stop: IntArray) -> tuple[IntArray, BoolArray]:
    """Integer part and "fraction is all zeros" of the decimal number in [begin, stop) per row."""
    n = len(begin)
    rows = np.arange(n)
    signed = np.isin(mat[rows, begin], np.frombuffer(b"+-", dtype=np.uint8))
    first = begin + signed
    cols = np.arange(mat.shape[1], dtype=np.int64)[None, :]
    dots = (mat == ord(".")) & (cols >= first[:, None]) & (cols < stop[:, None])
    dot = np.argmax(dots, axis=1).astype(np.int64)
    digits = digits_of(mat)
    in_int = (cols >= first[:, None]) & (cols < dot[:, None])
    place = np.clip(dot[:, None] - 1 - cols, 0, 18)
    integer = np.where(in_int, digits * (10**place), 0).sum(axis=1)
    in_frac = (cols > dot[:, None]) & (cols < stop[:, None])
    frac_zero = ~np.any(in_frac & (digits != 0), axis=1)
    return integer.astype(np.int64), frac_zero


def check_gps_coordinates(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """A latitude/longitude pair in either order, each within range; not (0, 0)."""
    if starts.size == 0:
        return empty()
    mat, inside = span_matrix(buf, starts, ends)
    n = len(starts)
    rows = np.arange(n)
    lengths = ends - starts
    sep_mask = ((mat == ord(",")) | (mat == ord(" "))) & inside
    sep = np.argmax(sep_mask, axis=1).astype(np.int64)
    after = np.minimum(sep + 1, mat.shape[1] - 1)
    second = sep + 1 + ((mat[rows, sep] == ord(",")) & (mat[rows, after] == ord(" ")))
    int_a, zero_a = _parse_number(mat, np.zeros(n, dtype=np.int64), sep)
    int_b, zero_b = _parse_number(mat, second, lengths)

    def within(value: IntArray, zero: BoolArray, limit: int) -> BoolArray:
        result: BoolArray = (value < limit) | ((value == limit) & zero)
        return result

    ok = sep_mask.any(axis=1) & ~((int_a == 0) & (int_b == 0))
    ok &= (within(int_a, zero_a, 90) & within(int_b, zero_b, 180)) | (
        within(int_a, zero_a, 180) & within(int_b, zero_b, 90)
    )
    cols = np.arange(mat.shape[1])[None, :]
    unified = np.where(cols == sep[:, None], ord(","), mat).astype(np.uint8)
    values, _ = compact(unified, inside & (unified != ord(" ")))
    return Checked(ok, as_strings(values))


KERNELS = {
    "cn_mobile": check_cn_mobile,
    "cn_landline": check_cn_landline,
    "email": check_email,
    "gps_coordinates": check_gps_coordinates,
}
