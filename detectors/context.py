"""Context around a valid value: keywords that raise or lower confidence, and exclusions.

A valid check digit says the digits *could* be an identity number; the bytes around them say
whether they are one. Each identifier lists keywords (身份证号, ID no) that raise its confidence,
negative keywords (订单号, order no) that lower it, and reverse keywords that suppress it. Before a
value, the *nearest* of these within ``window_before`` bytes decides (in JSON the key right before
a value names it; the previous field's key does not). After a value, only positive and reverse
keywords count, within ``window_after`` bytes: the word after a value in JSON or CSV is usually the
next field's name. In a table, windows stop at the line ends and the column header counts as
context for every value below it.

Structural exclusions catch values that are parts of something else:

* ``hex_token``: the value sits in a run of hexadecimal characters and hyphens of at least
  ``HEX_TOKEN_MIN`` bytes that contains a hex letter: a hash, a UUID, a key.
* ``decimal_fragment``: glued to ``.`` or ``:`` and another digit: a decimal number, an IP
  address, a version, a time.
* ``letter_glued``: an ASCII letter touches the value: product and order codes (SN13812345678).
* ``url_userinfo``: the ``password@host`` of ``https://user:password@host/``, not a mailbox.

All checks are vectorised over every candidate of an identifier; keyword hits come from the same
hyperscan pass as the identifiers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.catalogue import IdentifierSpec
from detectors.layout import Layout
from detectors.vectors import (
    ALNUM,
    DIGIT,
    HEX,
    HEX_LETTER,
    LETTER,
    BoolArray,
    ByteArray,
    IntArray,
    byte_before,
    byte_table,
    leading_run,
    span_matrix,
    trailing_run,
    windows,
)

HEX_TOKEN_MIN = 24  # shorter than any hash or UUID, longer than an ID with a few letters glued on
HEX_WINDOW = 48  # how far a hex run is followed on each side; a UUID is 36 bytes
_HEX_DASH = HEX | byte_table(b"-")
_DOT_COLON = byte_table(b".:")


def normalise_keyword(keyword: str) -> bytes:
    """Keywords are matched case-insensitively for ASCII; stored lower-case, UTF-8."""
    return keyword.strip().lower().encode("utf-8")


@dataclass(frozen=True, slots=True)
class KeywordSets:
    """Keyword numbers (into the matcher's keyword tuple) an identifier reacts to."""

    positive: tuple[int, ...]
    negative: tuple[int, ...]
    reverse: tuple[int, ...]
    positive_words: tuple[str, ...]  # for column headers
    negative_words: tuple[str, ...]
    reverse_words: tuple[str, ...]


def keyword_table(
    specs: tuple[IdentifierSpec, ...], extra: list[bytes] | None = None
) -> tuple[dict[bytes, int], list[KeywordSets]]:
    """All distinct keywords of the catalogue (plus ``extra`` ones, such as important-data terms)
    numbered, and each identifier's three sets of them."""
    index: dict[bytes, int] = {}

    def ids(words: tuple[str, ...]) -> tuple[int, ...]:
        out = []
        for word in words:
            key = normalise_keyword(word)
            if key:
                out.append(index.setdefault(key, len(index)))
        return tuple(sorted(set(out)))

    sets = []
    for spec in specs:
        ctx, exc = spec.context, spec.exclusions

        def lowered(words: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(w.strip().lower() for w in words if w.strip())

        sets.append(
            KeywordSets(
                ids(ctx.keywords),
                ids(ctx.negative_keywords),
                ids(exc.keywords),
                lowered(ctx.keywords),
                lowered(ctx.negative_keywords),
                lowered(exc.keywords),
            )
        )
    for word in extra or ():
        if word:
            index.setdefault(word, len(index))
    return index, sets


def _hits(
    keyword_starts: dict[int, IntArray], lengths: IntArray, wanted: tuple[int, ...]
) -> tuple[IntArray, IntArray]:
    present = [k for k in wanted if k in keyword_starts]
    if not present:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    hit_starts = np.concatenate([keyword_starts[k] for k in present])
    hit_ends = np.concatenate([keyword_starts[k] + lengths[k] for k in present])
    return np.sort(hit_starts), np.sort(hit_ends)


def nearest_before(
    keyword_starts: dict[int, IntArray],
    lengths: IntArray,
    groups: tuple[tuple[int, ...], ...],
    starts: IntArray,
    floor: IntArray,
) -> IntArray:
    """Which group's keyword ends closest before each span (at or after ``floor``), or -1.

    The nearest keyword governs: in ``"银行账号":"6228…","order_id":"6282…"`` the second number
    belongs to ``order_id``, even though 银行账号 is also within the window.
    """
    best = np.full(starts.shape, -1, dtype=np.int64)
    best_distance = np.full(starts.shape, np.iinfo(np.int64).max, dtype=np.int64)
    for group, wanted in enumerate(groups):
        _, ends = _hits(keyword_starts, lengths, wanted)
        if ends.size == 0:
            continue
        i = np.searchsorted(ends, starts, "right") - 1
        found = i >= 0
        nearest = ends[np.maximum(i, 0)]
        distance = np.where(found & (nearest >= floor), starts - nearest, np.iinfo(np.int64).max)
        closer = distance < best_distance  # on a tie the earlier group (reverse, negative) wins
        best = np.where(closer, group, best)
        best_distance = np.minimum(distance, best_distance)
    return best


def keyword_after(
    keyword_starts: dict[int, IntArray],
    lengths: IntArray,
    wanted: tuple[int, ...],
    ends: IntArray,
    ceiling: IntArray,
) -> BoolArray:
    """Whether one of ``wanted`` starts in [end, ceiling] after each span ("13812345678（手机）")."""
    hit_starts, _ = _hits(keyword_starts, lengths, wanted)
    if hit_starts.size == 0:
        return np.zeros(ends.shape, dtype=bool)
    count = np.searchsorted(hit_starts, ceiling, "right") - np.searchsorted(
        hit_starts, ends, "left"
    )
    result: BoolArray = count > 0
    return result


def header_columns(layout: Layout, words: tuple[str, ...]) -> IntArray:
    """Column numbers whose header contains one of ``words``."""
    if not words or not layout.header:
        return np.zeros(0, dtype=np.int64)
    cols = [i for i, name in enumerate(layout.header) if any(w in name for w in words)]
    return np.array(cols, dtype=np.int64)


def in_columns(layout: Layout, starts: IntArray, columns: IntArray) -> BoolArray:
    """Values below the header (not in the first line) whose column is one of ``columns``."""
    if columns.size == 0 or starts.size == 0:
        return np.zeros(starts.shape, dtype=bool)
    below_header = layout.row_of(starts) > 0
    result: BoolArray = below_header & np.isin(layout.column_of(starts), columns)
    return result


def hex_token(buf: ByteArray, starts: IntArray, ends: IntArray) -> BoolArray:
    """The span lies inside a long hexadecimal token (hash, UUID) with letters around it."""
    result = np.zeros(starts.shape, dtype=bool)
    left1, right1 = windows(buf, starts, ends, 1, 1)
    touching = np.flatnonzero(_HEX_DASH[left1[:, 0]] | _HEX_DASH[right1[:, 0]])
    if touching.size:  # only values with a hex neighbour can be inside a token: usually none
        result[touching] = _inside_hex_token(buf, starts[touching], ends[touching])
    return result


def _inside_hex_token(buf: ByteArray, starts: IntArray, ends: IntArray) -> BoolArray:
    mat, inside = span_matrix(buf, starts, ends)
    all_hex = np.all(_HEX_DASH[mat] | ~inside, axis=1)
    left, right = windows(buf, starts, ends, HEX_WINDOW, HEX_WINDOW)
    left_run = trailing_run(left, _HEX_DASH)
    right_run = leading_run(right, _HEX_DASH)
    cols = np.arange(HEX_WINDOW)[None, :]
    left_letters = np.any(HEX_LETTER[left] & (cols >= HEX_WINDOW - left_run[:, None]), axis=1)
    right_letters = np.any(HEX_LETTER[right] & (cols < right_run[:, None]), axis=1)
    total = left_run + (ends - starts) + right_run
    result: BoolArray = all_hex & (total >= HEX_TOKEN_MIN) & (left_letters | right_letters)
    return result


def decimal_fragment(buf: ByteArray, starts: IntArray, ends: IntArray) -> BoolArray:
    """``.``/``:`` plus a digit glued to either side: 3.13812345678, 10.0.13812345678, 12:30:45."""
    left, right = windows(buf, starts, ends, 2, 2)
    result: BoolArray = (_DOT_COLON[left[:, 1]] & DIGIT[left[:, 0]]) | (
        _DOT_COLON[right[:, 0]] & DIGIT[right[:, 1]]
    )
    return result


def letter_glued(buf: ByteArray, starts: IntArray, ends: IntArray) -> BoolArray:
    """An ASCII letter directly before or after the span."""
    left, right = windows(buf, starts, ends, 1, 1)
    result: BoolArray = LETTER[left[:, 0]] | LETTER[right[:, 0]]
    return result


_URL_SCHEME = np.frombuffer(b"://", dtype=np.uint8)
_TOKEN_END = byte_table(b" \t\r\n\"'<>(),;")
URL_WINDOW = 96


def url_userinfo(buf: ByteArray, starts: IntArray, ends: IntArray) -> BoolArray:
    """The value is the password@host part of ``scheme://user:password@host`` (credentials in a
    URL, not a mailbox)."""
    result = np.zeros(starts.shape, dtype=bool)
    after_colon = np.flatnonzero(byte_before(buf, starts) == ord(":"))
    if after_colon.size == 0:
        return result
    rows, _ = windows(buf, starts[after_colon], ends[after_colon], URL_WINDOW, 0)
    token = URL_WINDOW - trailing_run(rows, ~_TOKEN_END)  # first column of the token
    cols = np.arange(URL_WINDOW - 2)[None, :]
    scheme = (
        (rows[:, :-2] == _URL_SCHEME[0])
        & (rows[:, 1:-1] == _URL_SCHEME[1])
        & (rows[:, 2:] == _URL_SCHEME[2])
    )
    result[after_colon] = np.any(scheme & (cols >= token[:, None]), axis=1)
    return result


_FULL_STOP = "。".encode()
_FULL_SEMICOLON = "；".encode()


def _break_mask(win: ByteArray, text: bool) -> BoolArray:
    """Bytes that end a keyword's reach: newline; in text also ';' and the last byte of 。 ；."""
    mask: BoolArray = win == ord("\n")
    if text:
        mask = mask | (win == ord(";"))
        for seq in (_FULL_STOP, _FULL_SEMICOLON):
            tail = (win[:, 2:] == seq[2]) & (win[:, 1:-1] == seq[1]) & (win[:, :-2] == seq[0])
            mask[:, 2:] |= tail
    return mask


VALUE_TOKEN_MIN = 8  # an ASCII run this long with a digit in it is a value, not a word


def _value_tokens(win: ByteArray) -> BoolArray:
    """The last byte of every complete value-like token (``HWN8SK0SW6KPXYZ55``) in the windows.

    In ``serial HWN8SK0SW6KPXYZ55 status ok XZ362030(7)`` the keyword ``serial`` names the token
    right after it; a value further on is out of its reach. A run that touches the window's end
    is not complete (it may be glued to the value) and does not count.
    """
    alnum = ALNUM[win]
    digit = DIGIT[win]
    run = np.zeros(win.shape[0], dtype=np.int64)
    has_digit = np.zeros(win.shape[0], dtype=bool)
    marks = np.zeros(win.shape, dtype=bool)
    for col in range(win.shape[1]):
        ended = ~alnum[:, col] & (run >= VALUE_TOKEN_MIN) & has_digit
        if col:
            marks[:, col - 1] |= ended
        run = np.where(alnum[:, col], run + 1, 0)
        has_digit = np.where(alnum[:, col], has_digit | digit[:, col], False)
    return marks


def clause_bounds(
    buf: ByteArray, starts: IntArray, ends: IntArray, before: int, after: int, text: bool
) -> tuple[IntArray, IntArray]:
    """How far a keyword may be from each span: ``before`` bytes back and ``after`` forward, but
    not past a line end (in a table the header speaks through its column instead) or, in text,
    the end of a clause. Looks only at the windows, never at the whole object."""
    left, right = windows(buf, starts, ends, before, after)
    floor = starts - before
    if before:
        marks = _break_mask(left, text)
        if text:
            marks |= _value_tokens(left)
        last = before - 1 - np.argmax(marks[:, ::-1], axis=1)
        floor = np.where(marks.any(axis=1), starts - before + last + 1, floor)
    ceiling = ends + after
    if after:
        marks = _break_mask(right, text)
        ceiling = np.where(marks.any(axis=1), ends + np.argmax(marks, axis=1), ceiling)
    return floor, ceiling


def keyword_context(
    keyword_starts: dict[int, IntArray],
    lengths: IntArray,
    sets: KeywordSets,
    buf: ByteArray,
    starts: IntArray,
    ends: IntArray,
    before: int,
    after: int,
    rows: bool,
) -> tuple[IntArray, BoolArray, BoolArray]:
    """Per value: which keyword group governs it from before (0 reverse, 1 negative, 2 positive,
    -1 none), and whether a reverse or a positive keyword follows it.

    Clause limits are computed only for values that have some keyword of theirs within the plain
    windows: in a dense table that is the first row under the header, not every value.
    """
    n = starts.size
    governing = np.full(n, -1, dtype=np.int64)
    after_reverse = np.zeros(n, dtype=bool)
    after_positive = np.zeros(n, dtype=bool)
    groups = (sets.reverse, sets.negative, sets.positive)
    hit_starts, hit_ends = _hits(
        keyword_starts, lengths, sets.reverse + sets.negative + sets.positive
    )
    if hit_starts.size == 0:
        return governing, after_reverse, after_positive
    near = np.searchsorted(hit_ends, starts, "right") > np.searchsorted(
        hit_ends, starts - before, "left"
    )
    near |= np.searchsorted(hit_starts, ends + after, "right") > np.searchsorted(
        hit_starts, ends, "left"
    )
    idx = np.flatnonzero(near)
    if idx.size == 0:
        return governing, after_reverse, after_positive
    s, e = starts[idx], ends[idx]
    floor, ceiling = clause_bounds(buf, s, e, before, after, text=not rows)
    governing[idx] = nearest_before(keyword_starts, lengths, groups, s, floor)
    after_reverse[idx] = keyword_after(keyword_starts, lengths, sets.reverse, e, ceiling)
    after_positive[idx] = keyword_after(keyword_starts, lengths, sets.positive, e, ceiling)
    return governing, after_reverse, after_positive


STRUCTURES = {
    "url_userinfo": url_userinfo,
    "hex_token": hex_token,
    "decimal_fragment": decimal_fragment,
    "letter_glued": letter_glued,
}
