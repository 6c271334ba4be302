"""Identifiers written in Chinese characters: personal names and postal addresses.

Chinese text has no spaces, so a surname followed by one or two characters is a name only when
it stands apart: at the start of a field, after punctuation or a keyword's colon. A candidate
glued to another ideograph on its left (``客户张三``) is rejected here; the right side is the
signature's boundary. Both identifiers also need context (a 姓名 / 地址 keyword or column).
"""

from __future__ import annotations

import numpy as np

from detectors.vectors import (
    BoolArray,
    ByteArray,
    Checked,
    IntArray,
    as_strings,
    empty,
    kernel_check,
    native_kernels,
    span_matrix,
)

_HAN_LEAD = np.zeros(256, dtype=bool)
_HAN_LEAD[0xE4:0xEA] = True  # lead bytes of U+4000..U+9FFF
_CONTINUATION = np.zeros(256, dtype=bool)
_CONTINUATION[0x80:0xC0] = True


def _han_before(buf: ByteArray, starts: IntArray) -> BoolArray:
    """Whether the three bytes before each start are one ideograph (U+4000..U+9FFF)."""
    ok = starts >= 3
    at = np.where(ok, starts, 3)
    result: BoolArray = (
        ok & _HAN_LEAD[buf[at - 3]] & _CONTINUATION[buf[at - 2]] & _CONTINUATION[buf[at - 1]]
    )
    return result


def _unified_ideographs(mat: ByteArray, lengths: IntArray) -> BoolArray:
    """Every 3-byte character of each span is in U+4E00..U+9FFF (not Extension A or Yijing)."""
    leads = mat[:, 0::3]
    seconds = mat[:, 1::3]
    n_chars = (lengths // 3)[:, None]
    col = np.arange(leads.shape[1])[None, :]
    ok_char = (leads >= 0xE5) | ((leads == 0xE4) & (seconds >= 0xB8))
    ok_char &= (leads <= 0xE9) & (lengths % 3 == 0)[:, None]
    result: BoolArray = np.asarray(np.where(col < n_chars, ok_char, True).all(axis=1), dtype=bool)
    return result


def check_cn_person_name(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """Surname + 1-2 ideographs (compound surname + 1-2), not glued to an ideograph on the left.
    The loop of ``detectors._kernels.person_name`` when built, else ``check_cn_person_name_numpy``."""
    if starts.size == 0:
        return empty()
    native = native_kernels()
    if native is None:
        return check_cn_person_name_numpy(buf, starts, ends)
    return kernel_check(native.person_name, buf, (starts, ends), 12)


def check_cn_person_name_numpy(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """``check_cn_person_name`` in numpy."""
    if starts.size == 0:
        return empty()
    # In prose most candidates are glued to the ideograph before them: that test is three
    # gathers, so it runs first and only the others are read and checked character by character.
    # (Values of invalid candidates are never read; theirs stay zero.)
    rows = np.flatnonzero(~_han_before(buf, starts))
    sub, _ = span_matrix(buf, starts[rows], ends[rows], width=12)
    ok = np.zeros(starts.shape, dtype=bool)
    ok[rows] = _unified_ideographs(sub, (ends - starts)[rows])
    mat = np.zeros((starts.size, 12), dtype=np.uint8)
    mat[rows] = sub
    return Checked(ok, as_strings(mat))


def check_cn_address(buf: ByteArray, starts: IntArray, ends: IntArray) -> Checked:
    """A province- or district-anchored address ending in a house number, as matched; the value
    drops nothing (distinct addresses are distinct strings)."""
    if starts.size == 0:
        return empty()
    mat, _ = span_matrix(buf, starts, ends)
    return Checked(~_han_before(buf, starts), as_strings(mat))


KERNELS = {"cn_person_name": check_cn_person_name, "cn_address": check_cn_address}
