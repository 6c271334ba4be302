"""Is this object a table? Row and column of each match, and the header row's column names.

Spreadsheets and exports are where personal information leaves in bulk, and their shape carries
meaning the bytes around a value do not: every value on one row belongs to one person, and a
column headed 身份证号 says what the 18 digits below it are even when no keyword is near them. An
object counts as rows when most of its first lines split into the same number of fields (CSV, TSV,
semicolon- or pipe-separated) or are JSON objects (JSON Lines). Anything else is free text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detectors.vectors import BoolArray, ByteArray, IntArray, offsets_of, search_sorted

SAMPLE_LINES = (
    200  # lines inspected to decide the layout; enough for a stable vote, cheap on 64 MiB
)
SAMPLE_BYTES = 1 << 16  # ... and at most this many bytes of them
MIN_LINES = 3  # a header and two rows: fewer lines say nothing about structure
CONSISTENT_SHARE = 0.8  # share of sampled lines that must agree (quoted commas spoil a few)
DELIMITERS = b",\t;|"
MAX_HEADER_BYTES = 4096  # a header line longer than this is data, not column names
HEADER_MAX_DIGITS = 4  # column names hold years or short numbers ("2024年", "col12"), not 5+ digits


@dataclass(frozen=True, slots=True)
class Layout:
    kind: str  # "rows" (delimited or JSON Lines) or "text"
    newlines: IntArray  # offsets of every b"\n"
    delimiter: int | None = None
    delimiters: IntArray | None = None  # offsets of every delimiter byte, for column numbers
    header: tuple[str, ...] = ()  # lower-cased column names of the first line
    # delimiters before each line's start, computed on the first ``column_of`` (see there)
    _line_delimiters: list[IntArray] = field(default_factory=list, compare=False, repr=False)

    @property
    def rows(self) -> bool:
        return self.kind == "rows"

    def row_of(self, offsets: IntArray) -> IntArray:
        """0-based line number of each offset."""
        return search_sorted(self.newlines, offsets.astype(np.int64, copy=False))

    def in_header(self, offsets: IntArray) -> BoolArray:
        """Offsets on the header line of a delimited table (column names, not values)."""
        if not self.header or not self.newlines.size:
            return np.zeros(offsets.shape, dtype=bool)
        result: BoolArray = offsets < self.newlines[0]
        return result

    def column_of(self, offsets: IntArray, rows: IntArray | None = None) -> IntArray:
        """0-based field number of each offset within its line (-1 when not delimited).

        ``rows``: ``row_of(offsets)`` when the caller has it. The number of delimiters before each
        line's start is found once per layout, not once per offset and call: a dense table asks
        for the columns of every identifier's values."""
        if self.delimiters is None:
            return np.full(offsets.shape, -1, dtype=np.int64)
        if rows is None:
            rows = self.row_of(offsets)
        if not self._line_delimiters:
            line_starts = np.concatenate([[0], self.newlines + 1]).astype(np.int64)
            self._line_delimiters.append(search_sorted(self.delimiters, line_starts))
        before = search_sorted(self.delimiters, offsets.astype(np.int64, copy=False))
        result: IntArray = (before - self._line_delimiters[0][rows]).astype(np.int64)
        return result


TEXT = Layout("text", np.zeros(0, dtype=np.int64))


def _lines(buf: ByteArray, newlines: IntArray) -> list[tuple[int, int]]:
    bounds: list[tuple[int, int]] = []
    start = 0
    for nl in newlines[:SAMPLE_LINES].tolist():
        end = nl - 1 if nl > start and buf[nl - 1] == 13 else nl  # tolerate CRLF
        if end > start:
            bounds.append((start, end))
        start = nl + 1
    return bounds


def _unquoted(buf: ByteArray, delimiter: int, quotes: IntArray, end: int | None = None) -> IntArray:
    """Offsets of ``delimiter`` outside double quotes ("50.24,125.59" is one field)."""
    region = buf if end is None else buf[:end]
    found = offsets_of(region, delimiter)
    if quotes.size and found.size:
        found = found[np.searchsorted(quotes, found) % 2 == 0]
    return found


def _holds_data(line: ByteArray) -> bool:
    """A first line with a run of ``HEADER_MAX_DIGITS`` + 1 digits is a record, not column
    names: a headerless export, or a report whose lines each hold one delimiter ("lat, lon").
    Taking its values as column names would give every column the wrong context."""
    digits = (line >= 48) & (line <= 57)
    if not digits.any():
        return False
    edges = np.flatnonzero(np.diff(np.concatenate(([0], digits.view(np.int8), [0]))))
    return bool((edges[1::2] - edges[::2]).max() > HEADER_MAX_DIGITS)


def detect_layout(buf: ByteArray) -> Layout:
    """Classify ``buf`` as rows or text; for rows, index its lines and fields."""
    head = buf[:SAMPLE_BYTES]
    sample_newlines = np.flatnonzero(head == 10).astype(np.int64)
    if len(sample_newlines) < MIN_LINES - 1:
        return TEXT
    lines = _lines(buf, sample_newlines)
    if len(lines) < MIN_LINES:
        return TEXT
    if sum(
        buf[s] == ord("{") and buf[e - 1] == ord("}") for s, e in lines
    ) >= CONSISTENT_SHARE * len(lines):
        return Layout("rows", offsets_of(buf, 10))
    sample_end = lines[-1][1]
    quotes = np.flatnonzero(buf[:sample_end] == ord('"')).astype(np.int64)
    starts = np.array([s for s, _ in lines], dtype=np.int64)
    ends = np.array([e for _, e in lines], dtype=np.int64)
    best: int | None = None
    best_mode = 0
    for delimiter in DELIMITERS:
        positions = _unquoted(buf, delimiter, quotes, sample_end)
        counts = np.searchsorted(positions, ends) - np.searchsorted(positions, starts)
        values, freq = np.unique(counts, return_counts=True)
        mode = int(values[np.argmax(freq)])
        # the consistent delimiter that splits lines into the most fields: a tab-separated export
        # whose cells hold "lat,lon" is tab-separated, not comma-separated with one comma a line
        if mode > best_mode and freq.max() >= CONSISTENT_SHARE * len(lines):
            best, best_mode = delimiter, mode
    if best is None:
        return TEXT
    first_end = lines[0][1] if lines[0][0] == 0 else 0
    header: tuple[str, ...] = ()
    if 0 < first_end <= MAX_HEADER_BYTES and not _holds_data(buf[:first_end]):
        text = bytes(buf[:first_end]).decode("utf-8", "replace")
        header = tuple(c.strip().strip("\"'").lower() for c in text.split(chr(best)))
    all_quotes = offsets_of(buf, ord('"'))
    delimiters = _unquoted(buf, best, all_quotes)
    newlines = offsets_of(buf, 10)
    return Layout("rows", newlines, best, delimiters, header)
