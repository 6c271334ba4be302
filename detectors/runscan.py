"""Patterns scanned over the runs of their own bytes only, not over the whole buffer.

A mobile number (``1[3-9][0-9]{9}``, boundary ``[0-9]``) gives hyperscan no literal to anchor on:
in its wrapped form ``[^0-9](?:...)[^0-9]`` an automaton stays busy on every digit of the buffer.
On the dense CSV (a resident ID and a mobile number every 85 bytes, 10.2 MB) the eight digit
patterns marked ``scan_runs`` cost 0.070 s of a 0.141 s scan. Two shapes let the matcher skip that:

* **whole runs**: every byte the pattern can match is in its boundary class, and the wrappers
  forbid that class on both sides, so a match is always one whole maximal run of the class. The
  runs whose length the patterns allow are cut out into a compact newline-separated buffer and
  scanned with the patterns anchored as ``^(?:P)$`` in multi-line mode: hyperscan then starts them
  only at the newlines. Each match is reported as the byte before and after its run.
  A whole-run pattern that is a fixed sequence of byte classes around at most one repeated class
  (``LinearShape``: the mobile, card and 15-digit ID patterns) is not given to hyperscan at all:
  the C run scan checks each run's bytes against the classes of its position as it finds the run
  (dense CSV: 120,000 mobile numbers, the whole-run pass 17 -> 4.3 ms). Only the others (the landline
  pattern, with its alternatives) need the runs copied out.
* **separated runs**: the pattern's bytes are its boundary class plus separators (``[ -]``), and
  every match holds at least one separator (``1[3-9][0-9][ -][0-9]{4}[ -][0-9]{4}``). Only the
  maximal runs of class-and-separator bytes that hold a separator can contain a match; they are
  copied out the same way and scanned with the wrapped pattern, offsets moved back run by run.
  The byte before a run is outside the class (it is not even a run byte), as the newline is.

Measured on the dense CSV: main scan 0.141 -> 0.071 s, plus 0.024 s for the whole-run pass and
0.007 s for the separated one; on 10 MB of sparse text the two passes cost 0.006 s. The rows are
the wrapped form's rows exactly (``tests/test_runscan.py``).

Whether a pattern qualifies is decided from the pattern itself, so operator patterns can use it:
it parses (Python's regular-expression parser reads the PCRE subset hyperscan and the catalogue
share; POSIX classes are refused), the boundary class is the same on both sides, its width equals
the declared ``length`` for whole runs, and it is not an ``extend_left`` pattern. A pattern marked
``scan_runs: true`` that does not qualify is refused at load with the reason.
``EGRESS_RUN_SCAN=0`` keeps every pattern in the main database, for comparison.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
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


def first_bytes(regex: str) -> BoolArray | None:
    """The bytes a match of ``regex`` can start with, or None when that is not known."""
    try:
        return _first(list(sre_parse.parse(regex.encode("latin-1"))))
    except (re.error, UnicodeEncodeError, _Unknown, RecursionError):
        return None


def _first(items: list[tuple[Any, Any]]) -> BoolArray:
    if not items:
        raise _Unknown  # an empty alternative: the match starts with what follows
    op, arg = items[0]
    if op is sre.SUBPATTERN:
        if arg[1] or arg[2]:
            raise _Unknown
        return _first(list(arg[3]) + items[1:])
    if op is sre.BRANCH:
        found = np.zeros(256, dtype=bool)
        for alternative in arg[1]:
            found |= _first(list(alternative) + items[1:])
        return found
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        if int(arg[0]) < 1:
            raise _Unknown  # optional: the match may start with what follows
        return _first(list(arg[2]))
    return _item(op, arg)


def starts_without_literal(regex: str) -> bool:
    """Whether some match of ``regex`` can begin with two bytes that each have more than one
    possible value: the pattern gives hyperscan no literal to anchor on there
    (``[0-9]{17}[0-9Xx]``, ``[A-Z]{2}[0-9]{2}...``), as opposed to a keyword, a surname list or
    ``E[0-9]{8}``. False when that is not known."""
    try:
        paths = _leading(list(sre_parse.parse(regex.encode())), 2)  # the bytes hyperscan reads
    except (re.error, _Unknown, RecursionError):
        return False
    return any(len(path) == 2 and all(int(s.sum()) > 1 for s in path) for path in paths)


def _leading(items: list[tuple[Any, Any]], depth: int) -> list[tuple[BoolArray, ...]]:
    """The byte sets of the first ``depth`` positions, one tuple per way a match can begin
    (shorter when a match can end sooner), duplicates dropped."""
    if depth == 0 or not items:
        return [()]
    op, arg = items[0]
    rest = items[1:]
    if op is sre.SUBPATTERN:
        if arg[1] or arg[2]:
            raise _Unknown
        return _leading(list(arg[3]) + rest, depth)
    if op is sre.BRANCH:
        expansions = [list(alternative) + rest for alternative in arg[1]]
    elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, sub = int(arg[0]), int(arg[1]), list(arg[2])
        expansions = [sub * count + rest for count in range(min(low, depth), min(high, depth) + 1)]
    else:
        atom = _item(op, arg)
        return [(atom, *path) for path in _leading(rest, depth - 1)]
    seen: dict[bytes, tuple[BoolArray, ...]] = {}
    for expansion in expansions:
        for path in _leading(expansion, depth):
            seen.setdefault(b"".join(s.tobytes() for s in path), path)
    return list(seen.values())


@dataclass(frozen=True)
class LinearShape:
    """A pattern that is a fixed sequence of byte classes around at most one repeated class
    (``1[3-9][0-9]{9}``, ``[2-6][0-9]{12,16}``): a whole run of length L matches when each byte is
    in its position's class, checked in C without hyperscan (``_hsscan.scan_runs``: 0.045 us a
    run against 0.08 for hyperscan's multi-line anchored scan of the copied runs)."""

    prefix: list[BoolArray]
    repeated: BoolArray | None  # None: no repeated part, shortest == longest
    suffix: list[BoolArray]
    shortest: int
    longest: int

    def tables(self) -> bytes:
        """Prefix, repeated and suffix classes as consecutive 256-byte tables (the repeated one
        all zero when there is none)."""
        repeated = np.zeros(256, dtype=bool) if self.repeated is None else self.repeated
        return b"".join(t.tobytes() for t in [*self.prefix, repeated, *self.suffix])


def linear_shape(regex: str) -> LinearShape | None:
    """The pattern as a ``LinearShape``, or None when it is not one (alternatives of different
    lengths, two variable repeats, anything unparsed): those stay with hyperscan."""
    try:
        parts = _flatten(list(sre_parse.parse(regex.encode("latin-1"))))
    except (re.error, UnicodeEncodeError, _Unknown, RecursionError):
        return None
    variable = [k for k, (_atom, low, high) in enumerate(parts) if low != high]
    if len(variable) > 1 or any(high >= sre.MAXREPEAT for _a, _l, high in parts):
        return None
    at = variable[0] if variable else len(parts)
    prefix = [atom for atom, low, _h in parts[:at] for _ in range(low)]
    suffix = [atom for atom, low, _h in parts[at + 1 :] for _ in range(low)]
    fixed = len(prefix) + len(suffix)
    if not variable:
        return LinearShape(prefix, None, [], fixed, fixed)
    atom, low, high = parts[at]
    return LinearShape(prefix, atom, suffix, fixed + low, fixed + high)


def _flatten(items: list[tuple[Any, Any]]) -> list[tuple[BoolArray, int, int]]:
    """(class, least, most) per atom of a sequence, groups opened, fixed repeats of sequences
    unrolled; _Unknown when it is not a sequence of classes."""
    out: list[tuple[BoolArray, int, int]] = []
    for op, arg in items:
        if op is sre.SUBPATTERN:
            if arg[1] or arg[2]:
                raise _Unknown
            out += _flatten(list(arg[3]))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = int(arg[0]), int(arg[1]), _flatten(list(arg[2]))
            if len(sub) == 1 and sub[0][1] == sub[0][2] == 1:
                out.append((sub[0][0], low, high))
            elif low == high and all(a_low == a_high for _a, a_low, a_high in sub):
                out += sub * low
            else:
                raise _Unknown
        elif op is sre.BRANCH:
            raise _Unknown
        else:
            out.append((_item(op, arg), 1, 1))
    return out


def width(regex: str) -> tuple[int, int] | None:
    """The shortest and longest match of ``regex`` in bytes, or None when it does not parse."""
    try:
        low, high = sre_parse.parse(regex.encode("latin-1")).getwidth()
    except (re.error, UnicodeEncodeError, RecursionError):
        return None
    return int(low), int(high)


def required(regex: str, chars: BoolArray) -> int:
    """The fewest bytes from ``chars`` any match of ``regex`` contains (0 when unknown)."""
    try:
        return _needed(list(sre_parse.parse(regex.encode("latin-1"))), chars)
    except (re.error, UnicodeEncodeError, _Unknown, RecursionError):
        return 0


def _needed(items: list[tuple[Any, Any]], chars: BoolArray) -> int:
    total = 0
    for op, arg in items:
        if op is sre.SUBPATTERN:
            total += _needed(list(arg[3]), chars)
        elif op is sre.BRANCH:
            total += min(_needed(list(alternative), chars) for alternative in arg[1])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            total += int(arg[0]) * _needed(list(arg[2]), chars)
        else:
            atom = _item(op, arg)
            total += int(bool(atom.any()) and not bool(np.any(atom & ~chars)))
    return total


@dataclass(frozen=True)
class RunPlan:
    """How a ``scan_runs`` pattern is scanned: over maximal runs of ``run_class`` (holding a byte
    of ``required`` when that is set), anchored to whole runs or in its wrapped form."""

    anchored: bool
    run_class: BoolArray
    required: BoolArray | None

    @property
    def key(self) -> bytes:
        """Patterns with the same plan share one compact buffer and one database."""
        extra = b"" if self.required is None else self.required.tobytes()
        return bytes([self.anchored]) + self.run_class.tobytes() + extra


def plan(pattern: PatternSpec, left: BoolArray, right: BoolArray) -> RunPlan | None:
    """How ``pattern`` can be scanned over runs (see the module docstring), or None if it cannot.

    * whole runs: every byte it can match is in its boundary class, so a match is one whole run;
    * separated runs: its bytes are the class plus separators, and every match holds a
      separator, so only the runs of digits-and-separators that hold one need scanning."""
    if pattern.start_mode == "extend_left" or not np.array_equal(left, right):
        return None
    chars = byte_set(pattern.byte_regex)
    if chars is None or not chars.any() or chars[ord("\n")]:
        return None
    if not np.any(chars & ~left):
        if width(pattern.byte_regex) != (pattern.min_length, pattern.max_length):
            return None  # the run's start would not be the start block mode computes
        return RunPlan(True, left.copy(), None)
    separators = chars & ~left
    if required(pattern.byte_regex, separators) < 1:
        return None
    return RunPlan(False, chars | left, separators)


def anchored(pattern: PatternSpec) -> bytes:
    """A whole-run pattern as scanned over the compact buffer (one run per line)."""
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
