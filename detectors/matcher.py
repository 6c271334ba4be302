"""One compiled hyperscan database for every identifier pattern and every context keyword.

hyperscan has no look-around, so each pattern is wrapped as ``[^L](?:PATTERN)[^R]`` where ``L`` and
``R`` are the identifier's left and right boundary classes: a match can only start and end where no
boundary character touches it, and a run of 25 digits yields no resident-ID candidate at all instead
of eight overlapping ones. The buffer is scanned as ``"\\n" + data + "\\n"`` (boundary classes may not
contain the newline), so the wrappers always consume exactly one byte on each side and there is no
start- or end-of-buffer case: in original coordinates a match ending at ``to`` ends its identifier at
``to - 2``.

Where the identifier starts depends on the pattern (see ``PatternSpec``):

* ``fixed`` length: ``end - length``. No start-of-match tracking, which hyperscan charges for.
* ``som``: bounded variable-length patterns (separated phone numbers, grouped card numbers) are
  compiled with ``HS_FLAG_SOM_LEFTMOST``; the left wrapper byte is at ``from``, the identifier at
  ``from + 1`` in the padded buffer, so at ``from`` in the original.
* ``extend_left``: patterns with an unbounded head (an e-mail's local part) would make leftmost
  start tracking slow for the whole database (measured: 40 MB/s instead of several GB/s on text), so
  the pattern matches from an anchor (the '@') and the start is found afterwards, in numpy, by walking
  back over a character class. The left boundary class must be part of that class, which makes the
  walk stop exactly where the boundary rule wants.

Variable-length patterns report every end a value can have ("a@b.com" and "a@b.com.cn"); the
engine keeps the longest *valid* span per start after validation.

Matches are collected in C by ``detectors._hsscan`` (built against the system libhs when a compiler
and libhyperscan-dev are there), per expression, and handed over as int64 arrays: no Python runs
per match and nothing is regrouped. Without it, the python-hyperscan binding calls back into Python
for every match (three ints appended to one list), which costs most of the time on dense personal
data; ``EGRESS_NATIVE_SCAN=0`` forces that path. Everything after the scan is numpy over the whole
object. Compiled databases of the binding are cached by the hash of their expressions (serialised,
so every matcher gets its own scratch).

With the C collector the catalogue is compiled into several databases, each expression in exactly
one: the main one; the *unanchored* one, patterns that give hyperscan no literal to anchor on
(``runscan.starts_without_literal``: ``[0-9]{17}[0-9Xx]``, VINs, IBANs), which together with the
literal-anchored patterns cost more than apart (dense CSV: 71 ms in one database, 60 ms in two;
sparse text unchanged); and the run groups of ``detectors.runscan``. ``EGRESS_SPLIT_SCAN=0`` keeps
the unanchored patterns in the main database, for comparison.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import hyperscan
import numpy as np
import numpy.typing as npt

from detectors import runscan
from detectors.catalogue import IdentifierSpec, PatternSpec
from detectors.vectors import BoolArray, ByteArray, IntArray, run_before
from sensor.cachefiles import cache_dir, write_atomic
from sensor.errors import SignatureError
from sensor.native import optional_extension

if TYPE_CHECKING:  # the extension may not be built; see _native_module
    from detectors import _hsscan

FloatArray = npt.NDArray[np.float64]
Column = tuple[int, IntArray, IntArray]  # (expression id, froms, tos) of one expression's matches
PAD = b"\n"
MAX_RUN = 1 << 30


def _native_module() -> ModuleType | None:
    """The C match collector, unless it was not built or ``EGRESS_NATIVE_SCAN=0``."""
    return optional_extension("detectors._hsscan", "EGRESS_NATIVE_SCAN")


def _negate_class(boundary: str) -> str:
    return "[^" + boundary[1:]


@functools.lru_cache(maxsize=256)
def class_table(char_class: str) -> BoolArray:
    """A 256-entry lookup of which byte values a hyperscan character class matches."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[char_class.encode()], ids=[0], elements=1, flags=[0])
    except hyperscan.error as exc:
        raise SignatureError(f"character class {char_class!r} does not compile: {exc}") from None
    hits: list[int] = []
    db.scan(bytes(range(256)), match_event_handler=lambda _i, _f, to, _fl, _c: hits.append(to - 1))
    table = np.zeros(256, dtype=bool)
    table[hits] = True
    table.setflags(write=False)
    return table


def _keyword_expression(keyword: bytes) -> tuple[bytes, int, int]:
    """(expression, left wrapped, right wrapped): ASCII-letter keywords may not touch letters, so
    "tel" does not fire inside "hotel"."""
    body = b"".join(
        bytes([b]) if (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) else b"\\x%02x" % b
        for b in keyword
    )
    left = int(chr(keyword[0]).isascii() and chr(keyword[0]).isalpha())
    right = int(chr(keyword[-1]).isascii() and chr(keyword[-1]).isalpha())
    return (b"[^A-Za-z]" if left else b"") + body + (b"[^A-Za-z]" if right else b""), left, right


_SERIALIZED: dict[str, bytes] = {}  # cache name -> serialized database, for this process
_SERIALIZED_MAX = 8


def _split_enabled() -> bool:
    """``EGRESS_SPLIT_SCAN=0`` keeps the unanchored patterns in the main database, for comparison."""
    return os.environ.get("EGRESS_SPLIT_SCAN", "1") != "0"


def _native_database(
    native: ModuleType, expressions: list[bytes], flags: list[int], fingerprint: str
) -> _hsscan.Database:
    """The compiled database, from this process's memo or the per-user cache when it was compiled
    before (the full catalogue takes 0.25 s to compile, a load a few milliseconds).

    Cache files are named by the signatures' fingerprint, the libhs version and the machine, and
    checked by hyperscan when loaded; one that does not load or scan is replaced by a fresh
    compile. ``EGRESS_HS_CACHE=0`` turns the file cache off."""
    name = hashlib.sha256(
        f"{fingerprint} {native.version()} {platform.machine()}".encode()
    ).hexdigest()[:32]
    target = _cache_file(name)
    for source in (_SERIALIZED.get(name), _read(target)):
        if source is None:
            continue
        try:
            database: _hsscan.Database = native.load(source)
            database.scan(PAD + PAD)  # a database for another CPU fails here, not mid-audit
        except (ValueError, RuntimeError):
            continue
        _remember(name, source)
        return database
    try:
        database = native.compile(list(expressions), list(flags))
    except ValueError as exc:
        raise SignatureError(f"a signature pattern does not compile in hyperscan: {exc}") from None
    serialized = database.serialize()
    _remember(name, serialized)
    if target is not None:
        with contextlib.suppress(OSError):
            write_atomic(target, serialized)
    return database


def _remember(name: str, serialized: bytes) -> None:
    _SERIALIZED[name] = serialized
    while len(_SERIALIZED) > _SERIALIZED_MAX:
        del _SERIALIZED[next(iter(_SERIALIZED))]  # the oldest


def _cache_file(name: str) -> Path | None:
    if os.environ.get("EGRESS_HS_CACHE", "1") == "0":
        return None
    try:
        return cache_dir() / "hyperscan" / f"{name}.hsdb"
    except RuntimeError:  # no home directory
        return None


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _fingerprint(key: tuple[tuple[bytes, ...], tuple[int, ...]]) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _binding_database(key: tuple[tuple[bytes, ...], tuple[int, ...]]) -> hyperscan.Database:
    db = hyperscan.loadb(_compiled(*key), hyperscan.HS_MODE_BLOCK)
    db.scratch = hyperscan.Scratch(db)
    return db


@functools.lru_cache(maxsize=16)
def _compiled(expressions: tuple[bytes, ...], flags: tuple[int, ...]) -> bytes:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=list(expressions),
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=list(flags),
        )
    except hyperscan.error as exc:
        raise SignatureError(f"a signature pattern does not compile in hyperscan: {exc}") from None
    blob: bytes = hyperscan.dumpb(db)
    return blob


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate spans of one identifier, sorted by start then end, identical spans merged."""

    starts: IntArray
    ends: IntArray
    confidence: FloatArray  # base confidence of the best pattern that produced the span


@dataclass(frozen=True, slots=True)
class ScanResult:
    buf: ByteArray  # the object's bytes
    candidates: dict[int, Candidates]  # identifier index -> candidates
    keyword_starts: dict[int, IntArray] = field(default_factory=dict)  # keyword index -> hits
    matches: int = 0  # callbacks hyperscan made (identifier and keyword matches)


@dataclass(frozen=True, slots=True)
class _Expr:
    identifier: int  # -1 for keywords
    mode: str  # fixed | som | extend_left | keyword
    min_length: int
    max_length: int
    confidence: float
    extend: BoolArray | None
    keyword: int = -1
    right_wrapped: int = 1


@dataclass
class _RunGroup:
    """``scan_runs`` patterns with one run plan, scanned over those runs only
    (``detectors.runscan``); their expression ids are ``base`` onwards, the ones hyperscan scans
    first, then the linear ones the C run scan checks itself."""

    plan: runscan.RunPlan
    base: int
    shortest: int = MAX_RUN
    longest: int = 0
    expressions: list[bytes] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    # whole runs hyperscan scans: (length, first byte) pairs some pattern allows
    starts: list[tuple[int, int, BoolArray]] = field(default_factory=list)
    openers: bytes = b""
    # whole-run patterns checked byte by byte: (id in the group, lengths, prefix, suffix, tables)
    linear: list[tuple[int, int, int, int, int, bytes]] = field(default_factory=list)
    native: _hsscan.Database | None = None
    module: ModuleType | None = None  # detectors._hsscan: groups exist only when it is built
    patterns: list[PatternSpec] = field(default_factory=list)  # in the group's id order

    @staticmethod
    def shape(plan: runscan.RunPlan, pattern: PatternSpec) -> runscan.LinearShape | None:
        """How a whole-run pattern is checked without hyperscan, if it can be."""
        return runscan.linear_shape(pattern.byte_regex) if plan.anchored else None

    def add(self, pattern: PatternSpec, wrapped: bytes, flag: int) -> None:
        """Add the next pattern (the ones with a ``shape`` last)."""
        self.patterns.append(pattern)
        self.shortest = min(self.shortest, pattern.min_length)
        shape = self.shape(self.plan, pattern)
        if shape is not None:
            self.longest = max(self.longest, pattern.max_length)
            ident = len(self.expressions) + len(self.linear)
            tables = shape.tables()
            self.linear.append(
                (ident, shape.shortest, shape.longest, len(shape.prefix), len(shape.suffix), tables)
            )
        elif self.plan.anchored:
            assert not self.linear, "hyperscan patterns come first"
            self.expressions.append(runscan.anchored(pattern))
            self.flags.append(runscan.MULTILINE)
            self.longest = max(self.longest, pattern.max_length)
            first = runscan.first_bytes(pattern.byte_regex)
            first = self.plan.run_class if first is None else first
            self.starts.append((pattern.min_length, pattern.max_length, first))
        else:  # the match may be any part of a run
            self.expressions.append(wrapped)
            self.flags.append(flag)
            self.longest = MAX_RUN

    def seal(self) -> None:
        """Fix the run filter once every pattern is in: a whole run is copied out for hyperscan
        only if one of its patterns allows its length and first byte (18-digit resident IDs never
        reach the landline pattern)."""
        if not self.plan.anchored:
            return
        openers = np.zeros((self.longest + 1, 256), dtype=bool)
        for low, high, first in self.starts:
            openers[low : high + 1] |= first
        self.openers = openers.tobytes()

    def columns(self, padded: bytes) -> list[Column]:
        """The wrapped form's matches of this group's patterns in ``padded``, per expression."""
        plan = self.plan
        required = b"" if plan.required is None else plan.required.tobytes()
        assert self.module is not None
        found = self.module.scan_runs(
            self.native,
            padded,
            plan.run_class.tobytes(),
            required,
            self.shortest,
            self.longest,
            plan.anchored,
            self.openers,
            self.linear,
        )
        return _columns(found, self.base)


class Matcher:
    """Scans buffers with every identifier pattern and keyword at once."""

    def __init__(self, specs: tuple[IdentifierSpec, ...], keywords: tuple[bytes, ...] = ()) -> None:
        self.specs = specs
        self.keywords = keywords
        self._exprs: list[_Expr] = []
        expressions: list[bytes] = []
        flags: list[int] = []
        native = _native_module()
        # Run groups need the system libhs: the python-hyperscan wheel's bundled build misses some
        # multi-line anchored matches (docs/signatures.md, scan_runs), so its path keeps every
        # pattern wrapped in the main database.
        route = native is not None and runscan.enabled()
        split = native is not None and _split_enabled()
        unanchored: list[tuple[_Expr, bytes, int]] = []
        grouped: dict[bytes, list[tuple[_Expr, PatternSpec, bytes, int, runscan.RunPlan]]] = {}
        for index, spec in enumerate(specs):
            left = _negate_class(spec.boundary.left)
            right = _negate_class(spec.boundary.right)
            left_table = class_table(spec.boundary.left)  # compile-check both classes now
            right_table = class_table(spec.boundary.right)
            for pattern in spec.patterns:
                mode = pattern.start_mode
                extend = None
                if mode == "extend_left":
                    assert pattern.extend_left is not None
                    extend = class_table(pattern.extend_left)
                    if np.any(left_table & ~extend):
                        raise SignatureError(
                            f"{spec.source or spec.id}: the left boundary class must be part of "
                            "extend_left, or the walk back would cross a boundary"
                        )
                expr = _Expr(
                    index, mode, pattern.min_length, pattern.max_length, pattern.confidence, extend
                )
                if mode == "extend_left":
                    wrapped = f"(?:{pattern.byte_regex})[{right[1:]}".encode()
                else:
                    wrapped = f"{left}(?:{pattern.byte_regex}){right}".encode()
                flag = hyperscan.HS_FLAG_SOM_LEFTMOST if mode == "som" else 0
                run_plan = (
                    runscan.plan(pattern, left_table, right_table) if pattern.scan_runs else None
                )
                if pattern.scan_runs and run_plan is None:
                    raise SignatureError(
                        f"{spec.source or spec.id}: scan_runs needs a pattern made of its boundary "
                        f"class {spec.boundary.left} (the same on both sides) and, if any, "
                        "separators every match contains, with the declared length and no "
                        f"extend_left: {pattern.regex}"
                    )
                if route and pattern.scan_runs and run_plan is not None:
                    grouped.setdefault(run_plan.key, []).append(
                        (expr, pattern, wrapped, flag, run_plan)
                    )
                    continue
                if split and runscan.starts_without_literal(pattern.byte_regex):
                    unanchored.append((expr, wrapped, flag))
                    continue
                expressions.append(wrapped)
                flags.append(flag)
                self._exprs.append(expr)
        for k, keyword in enumerate(keywords):
            expression, _left, right_wrapped = _keyword_expression(keyword)
            expressions.append(expression)
            flags.append(hyperscan.HS_FLAG_CASELESS)
            self._exprs.append(
                _Expr(-1, "keyword", len(keyword), len(keyword), 0.0, None, k, right_wrapped)
            )
        self._unanchored_base = len(self._exprs)
        unanchored_key = tuple(w for _e, w, _f in unanchored), tuple(f for _e, _w, f in unanchored)
        self._exprs.extend(expr for expr, _w, _f in unanchored)
        self._runs: list[_RunGroup] = []
        for members in grouped.values():
            plan = members[0][4]
            group = _RunGroup(plan, len(self._exprs), module=native)
            # hyperscan's patterns first: its database numbers them from 0
            for expr, pattern, wrapped, flag, _plan in sorted(
                members, key=lambda m: _RunGroup.shape(plan, m[1]) is not None
            ):
                group.add(pattern, wrapped, flag)
                self._exprs.append(expr)
            group.seal()
            self._runs.append(group)
        key = tuple(expressions), tuple(flags)
        run_keys = [(tuple(g.expressions), g.plan.key, g.linear) for g in self._runs]
        # The fingerprint keys compiled databases by signature content (``_native_database``).
        self.fingerprint = hashlib.sha256(
            repr((key, unanchored_key, run_keys)).encode()
        ).hexdigest()
        self._db: hyperscan.Database | None = None
        self._native: _hsscan.Database | None = None
        self._unanchored: _hsscan.Database | None = None
        if expressions and native is not None:
            self._native = _native_database(native, expressions, flags, _fingerprint(key))
        elif expressions:
            self._db = _binding_database(key)
        if unanchored:
            assert native is not None  # split only when the C collector is there
            self._unanchored = _native_database(
                native,
                list(unanchored_key[0]),
                list(unanchored_key[1]),
                _fingerprint(unanchored_key),
            )
        for group in self._runs:
            assert native is not None  # routed only when the C collector is there
            if not group.expressions:
                continue  # every pattern of the group is linear
            group_key = tuple(group.expressions), tuple(group.flags)
            group.native = _native_database(
                native, list(group_key[0]), list(group_key[1]), _fingerprint(group_key)
            )

    @property
    def native(self) -> bool:
        """Whether matches are collected in C (see the module docstring)."""
        return self._native is not None

    def matches(self, data: bytes) -> IntArray:
        """(expression id, from, to) rows of every match in the padded buffer, by expression id,
        each expression's in match order (for tests and tools: ``scan`` reads the columns)."""
        columns = self._columns(data)
        if not columns:
            return np.zeros((0, 3), dtype=np.int64)
        ids = np.concatenate([np.full(len(froms), ident) for ident, froms, _tos in columns])
        froms = np.concatenate([froms for _ident, froms, _tos in columns])
        tos = np.concatenate([tos for _ident, _froms, tos in columns])
        table: IntArray = np.column_stack([ids, froms, tos]).astype(np.int64)
        return table

    def _columns(self, data: bytes) -> list[Column]:
        """Every match in the padded buffer as (expression id, froms, tos), ids ascending: each
        database collects its matches per expression in C, so nothing is regrouped or copied
        (the main database's ids come first, then the unanchored one's, then the run groups')."""
        padded = b"".join((PAD, data, PAD))
        columns = self._main_columns(padded)
        if self._unanchored is not None:
            columns += _columns(self._unanchored.scan(padded), self._unanchored_base)
        for group in self._runs:
            if len(data) >= group.shortest:  # a shorter buffer holds no run long enough
                columns += group.columns(padded)
        return columns

    def _main_columns(self, padded: bytes) -> list[Column]:
        if self._native is not None:
            return _columns(self._native.scan(padded), 0)
        if self._db is None:
            return []
        hits: list[int] = []
        collect = hits.extend

        def on_match(ident: int, start: int, end: int, _flags: int, _ctx: object) -> None:
            collect((ident, start, end))

        self._db.scan(padded, match_event_handler=on_match)
        return _grouped(np.array(hits, dtype=np.int64).reshape(-1, 3))

    def scan(self, data: bytes) -> ScanResult:
        """Candidate spans per identifier and keyword hit offsets, in ``data`` coordinates."""
        buf = np.frombuffer(data, dtype=np.uint8)
        if not self._exprs or not data:
            return ScanResult(buf, {})
        columns = self._columns(data)
        if not columns:
            return ScanResult(buf, {})
        per_identifier: dict[int, list[tuple[IntArray, IntArray, float]]] = {}
        keyword_starts: dict[int, IntArray] = {}
        found = 0
        for expr_id, froms, tos in columns:
            found += len(tos)
            expr = self._exprs[expr_id]
            if expr.mode == "keyword":
                ends = tos - 1 - expr.right_wrapped
                keyword_starts[expr.keyword] = ends - expr.min_length
                continue
            starts, ends = self._spans(buf, expr, froms, tos - 2)
            per_identifier.setdefault(expr.identifier, []).append((starts, ends, expr.confidence))
        candidates = {ident: _merge(parts) for ident, parts in per_identifier.items()}
        return ScanResult(buf, candidates, keyword_starts, found)

    @staticmethod
    def _spans(
        buf: ByteArray, expr: _Expr, froms: IntArray, ends: IntArray
    ) -> tuple[IntArray, IntArray]:
        if expr.mode == "fixed":
            return ends - expr.min_length, ends
        if expr.mode == "som":
            return froms, ends
        assert expr.extend is not None
        run = run_before(buf, ends, expr.extend, expr.max_length)
        keep = (run >= expr.min_length) & (run <= expr.max_length)  # too long: not this identifier
        return (ends - run)[keep], ends[keep]


def _columns(found: _hsscan.Columns, base: int) -> list[Column]:
    """A C scan's matches as arrays, expression ids moved to the matcher's numbering (a database
    holds the expressions from ``base`` on). The arrays view the scan's memory: no copy."""
    return [(base + ident, _int64(froms), _int64(tos)) for ident, froms, tos in found]


def _int64(offsets: _hsscan.Offsets) -> IntArray:
    return np.frombuffer(memoryview(offsets), dtype=np.int64)


def _grouped(table: IntArray) -> list[Column]:
    """The (id, from, to) rows of the python-hyperscan callback path as the C collector gives
    them: per expression id, ascending, each in the rows' order. A stable argsort of the ids as
    uint16 is a radix sort (a tenth of the int64 sort); only the two offset columns are gathered."""
    if not table.size:
        return []
    ids = table[:, 0]
    order = np.argsort(
        ids.astype(np.uint16 if int(ids.max()) <= 0xFFFF else np.int64), kind="stable"
    )
    ids, froms, tos = ids[order], table[order, 1], table[order, 2]
    bounds = np.flatnonzero(np.diff(ids)) + 1
    return [
        (int(ids[lo]), froms[lo:hi], tos[lo:hi])
        for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(ids)], strict=True)
    ]


def _merge(parts: list[tuple[IntArray, IntArray, float]]) -> Candidates:
    if len(parts) == 1:
        starts, ends, confidence = parts[0]
        if starts.size < 2 or bool(np.all(starts[1:] > starts[:-1])):
            # one pattern, spans already in start order without shared starts (a fixed-length
            # pattern reports in end order): nothing to sort or merge
            return Candidates(starts, ends, np.full(len(starts), confidence))
    starts = np.concatenate([p[0] for p in parts])
    ends = np.concatenate([p[1] for p in parts])
    conf = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    order = np.lexsort((-conf, ends, starts))
    starts, ends, conf = starts[order], ends[order], conf[order]
    first = np.ones(len(starts), dtype=bool)
    first[1:] = (starts[1:] != starts[:-1]) | (ends[1:] != ends[:-1])
    return Candidates(starts[first], ends[first], conf[first])
