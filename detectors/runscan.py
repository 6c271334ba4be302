"""Patterns that can only match a whole run of their boundary class, scanned over those runs only.

A mobile number (``1[3-9][0-9]{9}``, boundary ``[0-9]``) gives hyperscan no literal to anchor on:
in its wrapped form ``[^0-9](?:...)[^0-9]`` an automaton stays busy on every digit of the buffer,
and on a dense CSV (a resident ID and a mobile number every 85 bytes) the seven pure-digit patterns
of the built-in catalogue cost 0.065 s of a 0.150 s scan of 10 MB. But every byte such a pattern can
match is in its boundary class, and the wrappers forbid that class on both sides, so a match is
always one whole maximal run of the class. So the matcher cuts the runs whose length the patterns
allow out of the buffer into a compact one, newline-separated, and scans that with the patterns
anchored as ``^(?:P)$`` in multi-line mode: hyperscan then starts them only at the newlines. The
rows that come back are the wrapped form's rows exactly: ``from`` is the byte before the run and
``to`` the byte after it, in the padded buffer (measured on that CSV: 0.065 s -> 0.018 s for those
patterns, same 237,812 matches).

Which patterns qualify is decided from the pattern itself, so operator patterns get it too: the
pattern parses (Python's regular-expression parser, which reads the hyperscan syntax the catalogue
uses), every byte it can match is in the boundary class, the class is the same on both sides, its
width equals the declared ``length`` (so the start the run gives is the start block mode computes),
and its start is found by subtraction or start-of-match tracking (not an ``extend_left`` walk).
Anything else, or anything the parser does not know, stays in the main database unchanged.
``EGRESS_RUN_SCAN=0`` turns the routing off (every pattern in the main database), for comparison.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

import numpy as np

from detectors.catalogue import PatternSpec
from detectors.vectors import BoolArray, IntArray

# The regular-expression parser of the standard library (private modules: no type stubs).
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

MULTILINE = 4  # HS_FLAG_MULTILINE: ^ and $ also match after and before a newline

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True  # \s over bytes, hyperscan and Python alike
_WORD = _DIGIT.copy()
_WORD[ord("A") : ord("Z") + 1] = True
_WORD[ord("a") : ord("z") + 1] = True
_WORD[ord("_")] = True
_CATEGORIES = {
    sre.CATEGORY_DIGIT: _DIGIT,
    sre.CATEGORY_NOT_DIGIT: ~_DIGIT,
    sre.CATEGORY_SPACE: _SPACE,
    sre.CATEGORY_NOT_SPACE: ~_SPACE,
    sre.CATEGORY_WORD: _WORD,
    sre.CATEGORY_NOT_WORD: ~_WORD,
}


_DIFFERENT_IN_PCRE = ("[:", "\\v", "\\V")


class _Unknown(Exception):
    """A construct whose byte set is not worked out here: the pattern stays in the main database."""


def enabled() -> bool:
    return os.environ.get("EGRESS_RUN_SCAN", "1") != "0"


def byte_set(regex: str) -> BoolArray | None:
    """Every byte value a match of ``regex`` can contain, or None when that is not known.

    Python's parser reads the PCRE subset hyperscan and the catalogue share; the two places where
    it would read the same text differently (POSIX classes ``[[:digit:]]``, ``\\v``) are refused."""
    if any(token in regex for token in _DIFFERENT_IN_PCRE):
        return None
    try:
        tree = sre_parse.parse(regex.encode("latin-1"))
        if tree.state.flags & (re.IGNORECASE | re.DOTALL | re.MULTILINE | re.VERBOSE):
            return None
        return _items(list(tree))
    except (re.error, UnicodeEncodeError, _Unknown, RecursionError):
        return None


def _items(items: list[tuple[Any, Any]]) -> BoolArray:
    found = np.zeros(256, dtype=bool)
    for op, arg in items:
        found |= _item(op, arg)
    return found


def _item(op: Any, arg: Any) -> BoolArray:
    if op is sre.LITERAL:
        return _single(arg)
    if op is sre.NOT_LITERAL:
        return ~_single(arg)
    if op is sre.IN:
        return _in(arg)
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = arg
        if add_flags or del_flags:
            raise _Unknown
        return _items(list(sub))
    if op is sre.BRANCH:
        _none, alternatives = arg
        found = np.zeros(256, dtype=bool)
        for alternative in alternatives:
            found |= _items(list(alternative))
        return found
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        _low, _high, sub = arg
        return _items(list(sub))
    raise _Unknown  # anchors, look-around, back references, any character


def _single(code: int) -> BoolArray:
    found = np.zeros(256, dtype=bool)
    found[code] = True
    return found


def _in(members: list[tuple[Any, Any]]) -> BoolArray:
    found = np.zeros(256, dtype=bool)
    negate = False
    for op, arg in members:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            found[arg] = True
        elif op is sre.RANGE:
            found[arg[0] : arg[1] + 1] = True
        elif op is sre.CATEGORY and arg in _CATEGORIES:
            found |= _CATEGORIES[arg]
        else:
            raise _Unknown
    return ~found if negate else found


def width(regex: str) -> tuple[int, int] | None:
    """The shortest and longest match of ``regex`` in bytes, or None when it does not parse."""
    try:
        low, high = sre_parse.parse(regex.encode("latin-1")).getwidth()
    except (re.error, UnicodeEncodeError, RecursionError):
        return None
    return int(low), int(high)


def whole_run(pattern: PatternSpec, left: BoolArray, right: BoolArray) -> bool:
    """Whether every match of ``pattern`` (between its boundary wrappers) is a whole maximal run of
    its boundary class, so it can be scanned over the runs alone (see the module docstring)."""
    if pattern.start_mode == "extend_left" or not np.array_equal(left, right):
        return False
    if width(pattern.byte_regex) != (pattern.min_length, pattern.max_length):
        return False
    chars = byte_set(pattern.byte_regex)
    return chars is not None and bool(chars.any()) and not bool(np.any(chars & ~left))


def anchored(pattern: PatternSpec) -> bytes:
    """The expression scanned over the compact buffer of runs (one run per line)."""
    return f"^(?:{pattern.byte_regex})$".encode()


def runs(padded: bytes, table: BoolArray, shortest: int, longest: int) -> tuple[IntArray, IntArray]:
    """(starts, ends) of the maximal runs of ``table`` bytes in ``padded`` whose length is within
    [shortest, longest]: the reference of the run finder in ``_hsscan.Database.scan_runs``."""
    inside = table[np.frombuffer(padded, dtype=np.uint8)].view(np.int8)
    edges = np.diff(inside, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    length = ends - starts
    keep = (length >= shortest) & (length <= longest)
    return starts[keep].astype(np.int64), ends[keep].astype(np.int64)
