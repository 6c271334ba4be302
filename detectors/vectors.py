"""Array helpers the validators share: candidate spans as byte matrices, compaction, char classes.

Validators see all candidates of an object at once, as a matrix with one row per candidate and one
column per byte (shorter candidates are padded with zeros). Everything here is numpy over that
matrix, so validating a thousand candidates costs a handful of array operations, not a thousand
Python calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sensor.native import optional_extension

BoolArray = npt.NDArray[np.bool_]
ByteArray = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int64]


def native_kernels() -> ModuleType | None:
    """The C validator kernels (``detectors._kernels``), unless they were not built or
    ``EGRESS_NATIVE_KERNELS=0``; the validators then run their numpy kernels, which compute the
    same (tests/test_detectors_kernels.py)."""
    return optional_extension("detectors._kernels", "EGRESS_NATIVE_KERNELS")


def byte_table(chars: bytes) -> BoolArray:
    """A 256-entry lookup: True for the listed byte values."""
    table = np.zeros(256, dtype=bool)
    table[list(chars)] = True
    return table


DIGIT = byte_table(b"0123456789")
UPPER = byte_table(bytes(range(ord("A"), ord("Z") + 1)))
LOWER = byte_table(bytes(range(ord("a"), ord("z") + 1)))
LETTER = UPPER | LOWER
ALNUM = LETTER | DIGIT
HEX_LETTER = byte_table(b"abcdefABCDEF")
HEX = DIGIT | HEX_LETTER
_UPPERCASE = np.arange(256, dtype=np.uint8)
_UPPERCASE[ord("a") : ord("z") + 1] -= 32
_LOWERCASE = np.arange(256, dtype=np.uint8)
_LOWERCASE[ord("A") : ord("Z") + 1] += 32


def span_matrix(
    buf: ByteArray, starts: IntArray, ends: IntArray, width: int | None = None
) -> tuple[ByteArray, BoolArray]:
    """Bytes of each span [start, end) as rows of a zero-padded matrix, and the in-span mask."""
    lengths = ends - starts
    if width is None:
        width = int(lengths.max()) if lengths.size else 0
    cols = np.arange(width, dtype=np.int64)
    inside = cols[None, :] < lengths[:, None]
    if not len(buf):
        return np.zeros(inside.shape, dtype=np.uint8), inside
    if width and len(buf) >= width and bool(np.all(starts <= len(buf) - width)):
        mat = _rows_at(buf, starts, width)
    else:  # spans near the end of the buffer read clipped indices (zeroed below)
        mat = buf.take(starts[:, None] + cols[None, :], mode="clip")
    mat[~inside] = 0
    return mat, inside


def _rows_at(buf: ByteArray, starts: IntArray, width: int) -> ByteArray:
    """``width`` bytes from each start, as a new matrix: rows of a strided window view, which
    copies the bytes without building an (n, width) index matrix first (a third of the time)."""
    result: ByteArray = np.lib.stride_tricks.sliding_window_view(buf, width)[starts]
    return result


def fixed_matrix(buf: ByteArray, starts: IntArray, width: int) -> ByteArray:
    """Bytes of fixed-width spans; callers guarantee ``start + width <= len(buf)``."""
    if width and len(buf) >= width:
        return _rows_at(buf, starts, width)
    result: ByteArray = buf[starts[:, None] + np.arange(width, dtype=np.int64)]
    return result


def compact(mat: ByteArray, keep: BoolArray) -> tuple[ByteArray, IntArray]:
    """Move the kept bytes of each row to its left, zero the rest; returns (matrix, kept counts).

    Used to strip separators: "138 1234-5678" becomes "13812345678" in the same row.
    """
    counts = keep.sum(axis=1).astype(np.int64)
    cols = np.arange(mat.shape[1])
    if mat.shape[1] < 2 or bool(np.all(keep[:, :-1] | ~keep[:, 1:])):
        # every row's kept bytes already lead it (a separator-free span): nothing to move
        moved = mat
    else:
        order = np.argsort(~keep, axis=1, kind="stable")
        moved = np.take_along_axis(mat, order, axis=1)
    out: ByteArray = np.where(cols[None, :] < counts[:, None], moved, 0).astype(np.uint8)
    return out, counts


def right_align(mat: ByteArray, counts: IntArray, width: int) -> ByteArray:
    """Left-aligned rows of ``counts`` bytes moved to the right of a ``width``-wide zero matrix."""
    n = mat.shape[0]
    out = np.zeros((n, width), dtype=np.uint8)
    if n == 0 or mat.shape[1] == 0:
        return out
    cols = np.arange(width, dtype=np.int64)
    src = cols[None, :] - (width - counts[:, None])
    ok = (src >= 0) & (src < np.minimum(counts, mat.shape[1])[:, None])
    taken = np.take_along_axis(mat, np.clip(src, 0, mat.shape[1] - 1), axis=1)
    out[ok] = taken[ok]
    return out


def _shift_case(mat: ByteArray, first: int, add: bool) -> ByteArray:
    """ASCII letters from ``first`` to ``first + 25`` moved by 32, other bytes unchanged.

    Arithmetic instead of a 256-entry table: numpy's fancy indexing widens every uint8 index to
    intp first (8 ms for a 125,000 x 30 matrix), a wrapping subtraction and a comparison do not
    (3 ms)."""
    result = np.subtract(mat, np.uint8(first))
    flag = np.less_equal(result, np.uint8(25)).view(np.uint8)
    np.left_shift(flag, np.uint8(5), out=flag)
    if add:
        np.add(mat, flag, out=result)
    else:
        np.subtract(mat, flag, out=result)
    return result


def upper(mat: ByteArray) -> ByteArray:
    """ASCII upper case (a new matrix)."""
    if mat.dtype != np.uint8:
        looked_up: ByteArray = _UPPERCASE[mat]
        return looked_up
    return _shift_case(mat, ord("a"), add=False)


def lower(mat: ByteArray) -> ByteArray:
    """ASCII lower case (a new matrix)."""
    if mat.dtype != np.uint8:
        looked_up: ByteArray = _LOWERCASE[mat]
        return looked_up
    return _shift_case(mat, ord("A"), add=True)


def digit_values(mat: ByteArray) -> IntArray:
    """'0'..'9' as 0..9; anything else becomes a value outside 0..9 (callers check DIGIT first)."""
    return mat.astype(np.int64) - ord("0")


def as_strings(mat: ByteArray) -> npt.NDArray[np.bytes_]:
    """Rows as fixed-width byte strings (trailing zeros dropped), for np.unique and np.isin."""
    width = max(mat.shape[1], 1)
    contiguous = np.ascontiguousarray(
        mat if mat.shape[1] else np.zeros((mat.shape[0], 1), np.uint8)
    )
    return contiguous.view(f"S{width}").ravel()


def trailing_run(mat: ByteArray, table: BoolArray) -> IntArray:
    """Per row, how many bytes at the right end all belong to ``table``."""
    outside = ~table[mat[:, ::-1]]
    first = np.argmax(outside, axis=1)
    result: IntArray = np.where(outside.any(axis=1), first, mat.shape[1]).astype(np.int64)
    return result


def leading_run(mat: ByteArray, table: BoolArray) -> IntArray:
    """Per row, how many bytes at the left end all belong to ``table``."""
    outside = ~table[mat]
    first = np.argmax(outside, axis=1)
    result: IntArray = np.where(outside.any(axis=1), first, mat.shape[1]).astype(np.int64)
    return result


def windows(
    buf: ByteArray, starts: IntArray, ends: IntArray, before: int, after: int
) -> tuple[ByteArray, ByteArray]:
    """The ``before`` bytes preceding and ``after`` bytes following each span (zero outside buf)."""
    n = len(buf)
    if n and before and starts.size and bool(starts.min() >= before):
        # no window reaches past the buffer (the usual case): read rows of a window view
        if not after:
            return _rows_at(buf, starts - before, before), np.zeros((len(ends), 0), np.uint8)
        if bool(ends.max() + after <= n):
            return _rows_at(buf, starts - before, before), _rows_at(buf, ends, after)
    left_idx = starts[:, None] + np.arange(-before, 0, dtype=np.int64)[None, :]
    right_idx = ends[:, None] + np.arange(after, dtype=np.int64)[None, :]
    if not n:
        return np.zeros(left_idx.shape, np.uint8), np.zeros(right_idx.shape, np.uint8)
    left: ByteArray = buf.take(left_idx, mode="clip")
    right: ByteArray = buf.take(right_idx, mode="clip")
    edge = starts < before
    if edge.any():
        left[edge] = np.where(left_idx[edge] < 0, 0, left[edge])
    edge = ends + after > n
    if edge.any():
        right[edge] = np.where(right_idx[edge] >= n, 0, right[edge])
    return left, right


def byte_before(buf: ByteArray, starts: IntArray) -> ByteArray:
    """The byte just before each offset (0 at the start of the buffer)."""
    out: ByteArray = np.where(starts > 0, buf.take(starts - 1, mode="clip"), 0).astype(np.uint8)
    return out


def run_before(buf: ByteArray, ends: IntArray, table: BoolArray, limit: int) -> IntArray:
    """How many bytes before each offset belong to ``table``, counting at most ``limit + 1``.

    Looks 32 bytes back first and only widens the window for the rows that filled it, so the
    common short run costs a 32-column matrix, not a ``limit``-column one. With
    ``detectors._kernels`` built, one loop per offset in C instead (the same counts).
    """
    native = native_kernels()
    if native is not None and ends.size:
        counted = np.empty(ends.size, dtype=np.int64)
        native.run_before(
            np.ascontiguousarray(buf, dtype=np.uint8),
            np.ascontiguousarray(ends, dtype=np.int64),
            np.ascontiguousarray(table, dtype=bool),
            limit,
            counted,
        )
        return counted.reshape(ends.shape)
    run = np.zeros(ends.shape, dtype=np.int64)
    todo = np.arange(len(ends))
    width = 32
    while todo.size:
        width = min(width, limit + 1)
        left, _ = windows(buf, ends[todo], ends[todo], width, 0)
        found = trailing_run(left, table)
        run[todo] = found
        if width >= limit + 1:
            break
        todo = todo[found == width]
        width *= 4
    return run


@dataclass(frozen=True, slots=True)
class Checked:
    """A validator's answer: which candidates are valid and their normalised values."""

    valid: BoolArray
    values: npt.NDArray[np.bytes_]


def empty(n: int = 0) -> Checked:
    return Checked(np.zeros(n, dtype=bool), np.zeros(n, dtype="S1"))


def kernel_check(
    kernel: Any, buf: ByteArray, spans: tuple[IntArray, ...], width: int, *tables: object
) -> Checked:
    """Run a C validator kernel of ``detectors._kernels``: it is called as
    ``kernel(buf, *spans, *tables, valid, values)`` and fills ``valid`` (one flag per candidate)
    and ``values`` (``width`` bytes per candidate, the normalised value, zero-padded)."""
    n = spans[0].size
    valid = np.empty(n, dtype=bool)
    values = np.empty((n, width), dtype=np.uint8)
    kernel(
        np.ascontiguousarray(buf, dtype=np.uint8),
        *(np.ascontiguousarray(span, dtype=np.int64) for span in spans),
        *tables,
        valid,
        values,
    )
    return Checked(valid, as_strings(values))


_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def calendar_dates(year: IntArray, month: IntArray, day: IntArray) -> BoolArray:
    """Real calendar dates (Gregorian leap years), any year."""
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    max_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] - ((month == 2) & ~leap)
    result: BoolArray = month_ok & (day >= 1) & (day <= max_day)
    return result


def number(digits: IntArray) -> IntArray:
    """Columns of digit values read as one decimal number per row."""
    powers = 10 ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    result: IntArray = digits @ powers
    return result


def digits_of(mat: ByteArray) -> IntArray:
    """Digit values of a byte matrix, 0 where the byte is not a digit (check DIGIT separately)."""
    result: IntArray = np.where(DIGIT[mat], mat.astype(np.int64) - ord("0"), 0)
    return result


def search_sorted(
    haystack: IntArray, needles: IntArray, side: Literal["left", "right"] = "left"
) -> IntArray:
    """``np.searchsorted`` of int64 offsets. With ``detectors._kernels`` built, ascending needles
    (a value's offsets looked up among line ends or delimiters) gallop from the previous answer
    instead of starting a binary search each: a sixth of the time for 125,000 offsets among
    625,000 delimiters."""
    native = native_kernels()
    if (
        native is None
        or haystack.dtype != np.int64
        or needles.dtype != np.int64
        or needles.ndim != 1
        or haystack.ndim != 1
    ):
        found: IntArray = np.searchsorted(haystack, needles, side=side).astype(np.int64)
        return found
    out = np.empty(needles.size, dtype=np.int64)
    native.search_sorted(
        np.ascontiguousarray(haystack), np.ascontiguousarray(needles), side == "right", out
    )
    return out


def offsets_of(buf: ByteArray, byte: int) -> IntArray:
    """``np.flatnonzero(buf == byte)`` as int64: with ``detectors._kernels`` built, two memchr
    passes (count, then fill) instead of a comparison array and a scan of it."""
    native = native_kernels()
    if native is None or buf.dtype != np.uint8 or buf.ndim != 1:
        found: IntArray = np.flatnonzero(buf == byte).astype(np.int64)
        return found
    contiguous = np.ascontiguousarray(buf)
    out = np.empty(native.positions(contiguous, byte, None), dtype=np.int64)
    native.positions(contiguous, byte, out)
    return out


MAX_PROBES = 128  # slots one value may probe before sorting takes over (natural data: 36 at 10^6)


def unique_ints(values: IntArray) -> IntArray:
    """``np.unique`` of an integer array, by sorting.

    numpy 2's ``np.unique`` goes through a hash table first; on the 10^5-10^6 offsets and node
    numbers of a dense object that is twenty to thirty times slower than the (SIMD) sort alone.
    """
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    result: IntArray = ordered[keep]
    return result


def unique_int_counts(values: IntArray) -> tuple[IntArray, IntArray]:
    """``np.unique(values, return_counts=True)`` of an integer array, by sorting."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    first = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    counts: IntArray = np.diff(np.append(first, ordered.size)).astype(np.int64)
    result: IntArray = ordered[first]
    return result, counts


def unique_strings(
    values: npt.NDArray[np.bytes_],
) -> tuple[npt.NDArray[np.bytes_], IntArray]:
    """``np.unique(values, return_inverse=True)`` of fixed-width byte strings, by an LSD radix sort.

    Two bytes per pass, right to left, each a stable argsort of uint16 keys (numpy's radix sort):
    nine passes for an 18-byte resident ID, 40% less time than the comparison sort behind
    ``np.unique``. The order is numpy's: byte-wise with the zero padding, shorter first. With
    ``detectors._kernels`` built, the same stable order comes from its byte-wise radix sort in C
    (``sort_strings``, which skips the columns all values share and sorts neighbouring columns
    with few distinct bytes together), and the numbering from comparing neighbours in place
    (``group_sorted``).
    """
    n = len(values)
    width = values.dtype.itemsize
    if n == 0 or width == 0:
        return values[:0], np.zeros(n, dtype=np.int64)
    native = native_kernels()
    if native is not None:  # the same stable order, one byte per pass, constant columns skipped
        contiguous = np.ascontiguousarray(values)
        order = np.empty(n, dtype=np.int64)
        native.sort_strings(contiguous.view(np.uint8), n, width, order)
        inverse = np.empty(n, dtype=np.int64)
        firsts = np.empty(n, dtype=np.int64)
        count = native.group_sorted(contiguous.view(np.uint8), n, width, order, inverse, firsts)
        return values[firsts[:count]], inverse
    padded = np.zeros((n, width + (width & 1)), dtype=np.uint8)
    padded[:, :width] = np.ascontiguousarray(values).view(np.uint8).reshape(n, width)
    digits = padded.view(">u2").astype(np.uint16)
    order = np.arange(n, dtype=np.int64)
    for column in range(digits.shape[1] - 1, -1, -1):
        order = order[np.argsort(digits[order, column], kind="stable")]
    return _unique_from_order(values, order)


def distinct_strings(
    values: npt.NDArray[np.bytes_], max_probes: int = MAX_PROBES
) -> tuple[npt.NDArray[np.bytes_], IntArray]:
    """The distinct values of a fixed-width bytes array in order of first appearance, and the
    number of each value (``values == distinct[inverse]``).

    What ``unique_strings`` gives when nothing needs the sorted order (a distinct count, the first
    values met, person nodes whose keys are sorted later), without the sort: with
    ``detectors._kernels`` built, one pass through a hash table that compares the bytes of any two
    strings it takes for the same (``distinct_strings`` in C: 2.7 ms for 120,000 resident IDs
    against 5.7 for the radix sort and numbering); otherwise a dict, the reference. The hash is
    not keyed: when one value needs more than ``max_probes`` slots (values crafted to collide),
    ``distinct_strings_sorted`` gives the same answer by sorting."""
    n = len(values)
    width = values.dtype.itemsize
    if n == 0 or width == 0:
        return values[:0], np.zeros(n, dtype=np.int64)
    native = native_kernels()
    if native is None:
        return distinct_strings_python(values)
    contiguous = np.ascontiguousarray(values)
    inverse = np.empty(n, dtype=np.int64)
    firsts = np.empty(n, dtype=np.int64)
    view = contiguous.view(np.uint8)
    count = native.distinct_strings(view, n, width, inverse, firsts, max_probes)
    if count < 0:  # values crafted to collide in the (unkeyed) hash: sort instead
        return distinct_strings_sorted(values)
    return values[firsts[:count]], inverse


def distinct_strings_sorted(
    values: npt.NDArray[np.bytes_],
) -> tuple[npt.NDArray[np.bytes_], IntArray]:
    """``distinct_strings`` from ``unique_strings``: the sorted distinct values renumbered by
    where each first appears. The same cost for any input, so a hash flood cannot slow it."""
    n = len(values)
    uniq, inverse = unique_strings(values)
    first = np.full(len(uniq), n, dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(n, dtype=np.int64))
    by_appearance = np.argsort(first, kind="stable")
    renumber = np.empty(len(uniq), dtype=np.int64)
    renumber[by_appearance] = np.arange(len(uniq), dtype=np.int64)
    result: IntArray = renumber[inverse]
    return uniq[by_appearance], result


def distinct_strings_python(
    values: npt.NDArray[np.bytes_],
) -> tuple[npt.NDArray[np.bytes_], IntArray]:
    """``distinct_strings`` with a dict (numpy's bytes items drop the trailing NUL padding, so
    two items are equal exactly when their padded rows are)."""
    numbers: dict[bytes, int] = {}
    firsts: list[int] = []
    inverse = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values.tolist()):
        code = numbers.setdefault(value, len(numbers))
        if code == len(firsts):
            firsts.append(i)
        inverse[i] = code
    return values[np.array(firsts, dtype=np.int64)], inverse


def _unique_from_order(
    values: npt.NDArray[np.bytes_], order: IntArray
) -> tuple[npt.NDArray[np.bytes_], IntArray]:
    n = len(values)
    ordered = values[order]
    new = np.ones(n, dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse
