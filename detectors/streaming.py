"""Inspecting the bytes of an object that arrive past the in-memory object limit, with bounded memory.

An object is kept in memory up to ``limits.max_object_bytes`` and inspected whole (block mode,
``DetectionEngine.inspect``, after content extraction). What arrives after that limit used to be
counted and dropped. ``ObjectScanner`` reads it as it arrives instead: ``feed(chunk)`` for every
piece, ``gap(n)`` for a hole in the capture, ``close()`` at the end of the object.

How the bytes are scanned (the *window*)
----------------------------------------
The scanner keeps a rolling buffer: ``margin`` bytes of history plus the bytes not yet evaluated.
When more than ``batch`` new bytes are held, the buffer is scanned with the same compiled database,
validators, context keywords, exclusions and overlap rules as block mode, and the scanner *owns*
the matches whose **end** lies in ``(owned_to, len(buffer) - margin]``; everything after that
stays for the next round, everything more than ``margin`` before the new ``owned_to`` is dropped.
``margin`` is the longest pattern of the catalogue plus the widest context reach (context windows,
the hex and URL structure checks) plus two boundary bytes, so for every owned match the scan saw

* the whole match, and any longer reading of it (``a@b.com.cn`` beyond ``a@b.com``),
* the bytes left of it up to the context window before it, and the window after it,
* any value of another identifier that contains it (overlap resolution),

exactly as a block scan over the whole object would: a match that straddles two chunks, two TCP
segments or the object limit is found once, with the same validation result. Each owned end falls
in exactly one round, so nothing is counted twice. At ``close`` everything left is owned (the end of
the object is a boundary, as in block mode).

The seam with the block part: the scanner is opened with the last ``margin`` bytes of the kept
body as history and owns matches that end *after* the limit, so a value that straddles the limit is
found here; block mode owns values that end inside the kept body.

Tables: when the kept body (the history the scanner is opened with) is a delimited table or JSON
Lines (``detectors.layout.detect_layout`` over its first 128 KiB), the stream part is read as the
rest of that table: each value's record is its line number in the whole object (newlines of the
kept body counted once at open, then of every byte dropped from the buffer), so the people past the
limit are grouped by record as in block mode (the strongest identifier of a row names its person),
and the kept body's column names raise confidence in their columns. The first, partial line of a
round's buffer has no known column (its start was dropped); a line longer than the history can
therefore lose its column context. After a hole in the capture the record numbering jumps, so rows
on the two sides never merge.

Important data: the keyword hits each round owns (by their end, like values) are added up and
scored at ``close`` over the bytes read past the limit, as block mode scores a whole object; the
alert keeps the higher score of the two parts per subclass (``detectors.combine``).

Not done in stream mode (documented in docs/signatures.md): content extraction (the bytes are read
as they were sent or as the protocol decoded them: HTTP content encodings and, for SMTP, MIME
transfer encodings (``sensor.content.mime_stream``); an archive's compressed tail is not unpacked). A
hole in the capture (``gap``) ends the round at the hole: bytes
on the two sides are never joined into one match, the history is cleared, and the hole is counted.

Memory: the buffer holds at most ``batch + 2 * margin`` bytes plus the chunk being fed; the
accepted values that name a person are kept (normalised, a few dozen bytes each) to count distinct
individuals at ``close``, at most ``max_values`` of them; past that, values are counted but not
kept (``values_dropped``), and the person count is a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detectors.catalogue import DataClass
from detectors.context import HEX_WINDOW, URL_WINDOW
from detectors.engine import (
    MAX_OFFSETS,
    Accepted,
    DetectionEngine,
    Finding,
    ObjectFindings,
    is_account_or_medical,
    is_sensitive,
)
from detectors.individuals import ClassMarks, Evidence
from detectors.layout import TEXT, Layout, detect_layout
from detectors.masking import mask_value
from detectors.matcher import ScanResult
from detectors.vectors import BoolArray, IntArray, offsets_of

DEFAULT_BATCH = 256 << 10  # new bytes per scan round: a few rounds per MiB, little rescanned
DEFAULT_MAX_VALUES = 1_000_000  # person-naming values kept per object for the distinct count
TABLE_SAMPLE = 128 << 10  # bytes of the kept body that decide whether the object is a table


class _RoundLayout(Layout):
    """A round's buffer read as the middle of a table: no header line in it (the column names are
    the kept body's), and no column for the first, partial line."""

    __slots__ = ()

    def in_header(self, offsets: IntArray) -> BoolArray:
        return np.zeros(offsets.shape, dtype=bool)

    def row_of(self, offsets: IntArray) -> IntArray:
        return super().row_of(offsets) + 1  # row 0 is the kept body's header line

    def column_of(self, offsets: IntArray, rows: IntArray | None = None) -> IntArray:
        rows = self.row_of(offsets) if rows is None else rows
        columns = super().column_of(offsets, rows - 1)
        columns[rows == 1] = -1  # the partial first line: its start was dropped
        return columns


class _RecordNumbers(Layout):
    """The stream part's evidence carries record numbers, not offsets: ``row_of`` is identity."""

    __slots__ = ()

    def row_of(self, offsets: IntArray) -> IntArray:
        return offsets.astype(np.int64, copy=False)


RECORDS = _RecordNumbers("rows", np.zeros(0, dtype=np.int64))


def stream_margin(engine: DetectionEngine) -> int:
    """Bytes of history a round needs so that owned matches are judged as in block mode."""
    longest = max((p.max_length for s in engine.specs for p in s.patterns), default=0)
    reach = max(
        (max(s.context.window_before, s.context.window_after) for s in engine.specs), default=0
    )
    return longest + max(reach, HEX_WINDOW, URL_WINDOW) + 2


@dataclass(slots=True)
class _Tally:
    """What one identifier found so far in the stream (no raw values but ``values``)."""

    count: int = 0
    rejected: int = 0
    suppressed: int = 0
    confidence_sum: float = 0.0
    samples: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    starts: list[IntArray] = field(default_factory=list)
    values: list[npt.NDArray[np.bytes_]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StreamStats:
    """How the stream part was read, for the object's flags and the tests."""

    start: int  # object offset where stream inspection began (the block limit)
    end: int  # object offset after the last byte fed
    rounds: int  # scans of the rolling buffer
    rescanned: int  # bytes scanned more than once (history of each round)
    max_buffer: int  # largest rolling buffer held, in bytes
    kept_values: int  # person-naming values kept for the distinct count
    values_dropped: int  # values past ``max_values``: counted, not kept
    gaps: int  # holes in the capture inside the stream part
    gap_bytes: int
    table: str = ""  # "csv" (any delimiter) or "jsonl" when read as the kept body's table


class ObjectScanner:
    """Inspects an object's bytes past the block limit as they arrive (see the module docstring)."""

    def __init__(
        self,
        engine: DetectionEngine,
        start: int = 0,
        history: bytes | bytearray = b"",
        batch: int = DEFAULT_BATCH,
        max_values: int = DEFAULT_MAX_VALUES,
    ) -> None:
        self.engine = engine
        self.margin = stream_margin(engine)
        self.batch = max(batch, 1)
        self.max_values = max_values
        self._buf = bytearray(history[-self.margin :] if history else b"")
        self._base = start - len(self._buf)  # object offset of _buf[0]
        self._table = _table_of(history)
        # record (line) number of _buf[0] in the whole object, when read as a table
        self._lines_before = history.count(b"\n", 0, len(history) - len(self._buf))
        self._owned_to = len(self._buf)  # ends <= this (buffer coordinates) are done
        self._start = start
        self._end = start
        self._tallies: dict[int, _Tally] = {}
        self._seam_values: list[tuple[int, IntArray, npt.NDArray[np.bytes_]]] = []
        self._seam_record = -1  # the record across the block limit, when block mode named it
        self._terms: dict[int, int] = {}  # keyword hits owned so far, by keyword number
        self._sensitive: list[IntArray] = []  # object offsets, or record numbers for a table
        self._account: list[IntArray] = []
        self._rounds = 0
        self._rescanned = 0
        self._max_buffer = len(self._buf)
        self._kept = 0
        self._dropped = 0
        self._gaps = 0
        self._gap_bytes = 0
        self._closed = False

    # --- input ----------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if not chunk or self._closed:
            return
        self._buf += chunk
        self._end += len(chunk)
        self._max_buffer = max(self._max_buffer, len(self._buf))
        if len(self._buf) - self._owned_to >= self.batch + self.margin:
            self._round(final=False)

    def gap(self, length: int) -> None:
        """``length`` bytes of the object were never captured: finish what is held, start over."""
        if self._closed or length <= 0:
            return
        self._round(final=True)
        self._gaps += 1
        self._gap_bytes += length
        self._end += length
        self._lines_before += self._buf.count(b"\n") + 1  # records across a hole never merge
        self._buf = bytearray()
        self._base = self._end
        self._owned_to = 0

    def close(self) -> ObjectFindings:
        """Findings of the stream part; the scanner takes no more bytes."""
        if not self._closed:
            self._round(final=True)
            self._closed = True
            self._buf = bytearray()
        return self._findings()

    @property
    def stats(self) -> StreamStats:
        return StreamStats(
            self._start,
            self._end,
            self._rounds,
            self._rescanned,
            self._max_buffer,
            self._kept,
            self._dropped,
            self._gaps,
            self._gap_bytes,
            "" if self._table is None else ("jsonl" if self._table.delimiter is None else "csv"),
        )

    # --- one round ------------------------------------------------------------------------------

    def _round(self, final: bool) -> None:
        limit = len(self._buf) if final else len(self._buf) - self.margin
        if limit <= self._owned_to:
            return
        data = bytes(self._buf)
        self._rounds += 1
        self._rescanned += min(self._owned_to, len(data))
        newlines = offsets_of(np.frombuffer(data, dtype=np.uint8), 10)
        seam = self._rounds == 1 and self._table is not None and self._owned_to > 0
        scan, accepted = self._detect(data, newlines)
        self._count_terms(scan, self._owned_to, limit)
        for index, acc in accepted.items():
            self._take(index, acc, self._owned_to, limit, newlines)
            if seam:
                self._seam(index, acc, self._owned_to, newlines)
        self._owned_to = limit
        drop = max(0, limit - self.margin)
        if drop:
            self._lines_before += int(np.searchsorted(newlines, drop))
            del self._buf[:drop]
            self._base += drop
            self._owned_to -= drop

    def _detect(self, data: bytes, newlines: IntArray) -> tuple[ScanResult, dict[int, Accepted]]:
        """Block-mode evaluation of one buffer: as free text, or as the middle of the kept
        body's table (its delimiter and column names)."""
        scan = self.engine.matcher.scan(data)
        table = self._table
        if table is None:
            return scan, self.engine.evaluate(scan, TEXT)
        delimiters = None
        if table.delimiter is not None:
            delimiters = offsets_of(scan.buf, table.delimiter)
        layout = _RoundLayout("rows", newlines, table.delimiter, delimiters, table.header)
        return scan, self.engine.evaluate(scan, layout)

    def _count_terms(self, scan: ScanResult, lo: int, hi: int) -> None:
        """Keyword hits whose end this round owns, for the important-data scores at ``close``."""
        keywords = self.engine.matcher.keywords
        for number, starts in scan.keyword_starts.items():
            ends = starts + len(keywords[number])
            owned = int(np.count_nonzero((ends > lo) & (ends <= hi)))
            if owned:
                self._terms[number] = self._terms.get(number, 0) + owned

    def _records(self, starts: IntArray, newlines: IntArray) -> IntArray:
        """Record (line) numbers in the whole object of buffer offsets ``starts``."""
        result: IntArray = self._lines_before + np.searchsorted(newlines, starts).astype(np.int64)
        return result

    def _take(self, index: int, acc: Accepted, lo: int, hi: int, newlines: IntArray) -> None:
        spec = acc.spec
        own = (acc.ends > lo) & (acc.ends <= hi)
        # a rejected candidate has no end; it is owned where a value starting there would end
        rej = acc.rejected
        rej_own = (rej + self._min_length(index) > lo) & (rej + self._min_length(index) <= hi)
        tally = self._tallies.setdefault(index, _Tally())
        tally.rejected += int(np.count_nonzero(rej_own))
        tally.suppressed += self._owned_suppressed(acc, lo, hi)
        if not own.any():
            return
        starts = acc.starts[own] + self._base
        values = acc.values[own]
        # what names a person's record: the object offset, or the line for a table
        places = starts if self._table is None else self._records(acc.starts[own], newlines)
        tally.count += int(starts.size)
        tally.confidence_sum += float(acc.confidence[own].sum())
        room = MAX_OFFSETS - len(tally.offsets)
        tally.offsets.extend(starts[:room].tolist())
        for value in values[: self.engine.max_samples * 4].tolist():
            if len(tally.samples) >= self.engine.max_samples:
                break
            text = bytes(value).decode("utf-8", "replace")
            masked = mask_value(text, spec.mask.style, spec.mask.keep_start, spec.mask.keep_end)
            if masked not in tally.samples:
                tally.samples.append(masked)
        if is_sensitive(spec):
            self._sensitive.append(places)
        if is_account_or_medical(spec):
            self._account.append(places)
        room = self.max_values - self._kept
        if room < places.size:
            self._dropped += int(places.size) - max(room, 0)
            places, values = places[: max(room, 0)], values[: max(room, 0)]
        if places.size:
            tally.starts.append(places)
            tally.values.append(values)
            self._kept += int(places.size)

    def _seam(self, index: int, acc: Accepted, lo: int, newlines: IntArray) -> None:
        """The record that straddles the block limit is one person, but block mode saw only its
        values before the limit and named the person by them. When there are such values, the
        stream part names that record's person by the same values (its own values there still
        count as findings, not as a person), so both parts give that person the same key and the
        alert counts them once."""
        if self.engine.specs[index].individual_rank is None or not acc.starts.size:
            return
        records = self._records(acc.starts, newlines)
        seam_record = int(self._records(np.array([lo], dtype=np.int64), newlines)[0])
        before = (acc.ends <= lo) & (records == seam_record)
        if before.any():
            self._seam_record = seam_record
            self._seam_values.append((index, records[before], acc.values[before]))

    def _min_length(self, index: int) -> int:
        return min(p.min_length for p in self.engine.specs[index].patterns)

    @staticmethod
    def _owned_suppressed(acc: Accepted, lo: int, hi: int) -> int:
        """Suppressed values are counted per round only when the round owns the whole buffer's
        candidates it judged; an approximation: share by the fraction of owned accepted ends."""
        if not acc.suppressed:
            return 0
        total = acc.starts.size + acc.suppressed
        owned = int(np.count_nonzero((acc.ends > lo) & (acc.ends <= hi)))
        return round(acc.suppressed * owned / total) if acc.starts.size else 0

    # --- output ---------------------------------------------------------------------------------

    def _findings(self) -> ObjectFindings:
        engine = self.engine
        personal: list[Finding] = []
        general: list[Finding] = []
        evidence: list[Evidence] = []
        for index, tally in sorted(self._tallies.items()):
            spec = engine.specs[index]
            if not tally.count and not tally.rejected and not tally.suppressed:
                continue
            values = np.concatenate(tally.values) if tally.values else np.zeros(0, "S1")
            starts = np.concatenate(tally.starts) if tally.starts else np.zeros(0, np.int64)
            finding = Finding.of(
                spec,
                count=tally.count,
                distinct=len(np.unique(values)) if values.size else 0,
                rejected=tally.rejected,
                masked_samples=tuple(tally.samples),
                offsets=tuple(tally.offsets),
                suppressed=tally.suppressed,
                confidence=round(tally.confidence_sum / tally.count, 2) if tally.count else 0.0,
            )
            (general if spec.data_class is DataClass.GENERAL else personal).append(finding)
            if self._seam_record >= 0:  # that person is named by the values before the limit
                keep = starts != self._seam_record
                starts, values = starts[keep], values[keep]
            if spec.individual_rank is not None and values.size:
                evidence.append(
                    Evidence(
                        spec.individual_rank,
                        spec.namespace,
                        starts,
                        values,
                        is_sensitive(spec),
                        is_account_or_medical(spec),
                    )
                )
        for index, records, values in self._seam_values:
            spec = engine.specs[index]
            assert spec.individual_rank is not None
            evidence.append(
                Evidence(
                    spec.individual_rank,
                    spec.namespace,
                    records,
                    values,
                    is_sensitive(spec),
                    is_account_or_medical(spec),
                )
            )
        none = np.zeros(0, dtype=np.int64)
        marks = ClassMarks(
            np.concatenate([none, *self._sensitive]), np.concatenate([none, *self._account])
        )
        people = engine.count_people(evidence, TEXT if self._table is None else RECORDS, marks)
        important = engine.score_terms(self._terms, self._end - self._start - self._gap_bytes)
        return ObjectFindings.of(personal, general, people, engine.key_id, "stream", important)


@dataclass(frozen=True, slots=True)
class _Table:
    delimiter: int | None  # None: JSON Lines
    header: tuple[str, ...]


def _table_of(history: bytes | bytearray) -> _Table | None:
    """The kept body's table shape, if it is one (see the module docstring)."""
    if not history:
        return None
    sample = bytes(history[:TABLE_SAMPLE])
    layout = detect_layout(np.frombuffer(sample, dtype=np.uint8))
    if not layout.rows:
        return None
    return _Table(layout.delimiter, layout.header)
