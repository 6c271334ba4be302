"""Text out of Word 97-2003 binary documents (``.doc``), from the streams of their OLE2 container.

A ``.doc`` keeps its text in the ``WordDocument`` stream, but not in reading order and not in one
encoding: the piece table (the CLX in the ``0Table`` or ``1Table`` stream) lists pieces of the
document, each a run of characters either 8-bit (cp1252, "compressed") or UTF-16LE, at some
offset of ``WordDocument``. A reviewer's reading order is the piece table's order, so that is the
order of the text here ([MS-DOC] 2.4.1 "Retrieving Text").

Marks become what the detectors understand: a paragraph mark ``\\r`` and line/page/column breaks
end a line; a table row becomes one CSV line (its cells the fields, quoted where needed,
inner paragraph marks spaces), as ``legacy_office`` writes a sheet, so a people table keeps one
person per line and ``detectors.layout`` sees rows (tab-separated cells would lose to the
commas inside cells when the layout picks a delimiter). Which ``\\x07`` ends a row is not in the text: the paragraph properties of that mark carry
``sprmPFTtp`` (table terminating paragraph), those of a cell's inner paragraphs
``sprmPFInTable``. They are read from the PAPX FKPs (the ``PlcBtePapx`` of the table stream);
when they cannot be read, every cell mark is a tab and ``rows_unknown`` says so. Field codes (``\\x13 code \\x14 result \\x15``) keep their result and
drop their code (``HYPERLINK "..."``, ``MERGEFIELD``), as Word shows them.

Sans-IO: the caller hands in the stream bytes (``sensor.content.ole`` opens the container).
Output is bounded by ``max_bytes`` (UTF-8); ``truncated`` says the budget was reached. Damaged
structures raise ``DamagedDocument``; encrypted or obfuscated documents raise ``Encrypted``;
Word 6/95 files (an older FIB without a piece table in the table stream) raise ``Unsupported``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

W_IDENT = 0xA5EC
MIN_NFIB = 0xC0  # Word 97 writes 0xC1; some writers 0xC0. Word 6/95 are 0x65-0x68.
F_ENCRYPTED = 0x0100
F_WHICH_TBL_STM = 0x0200
F_OBFUSCATED = 0x8000
FC_CLX = 33  # index of the fcClx/lcbClx pair in FibRgFcLcb97
FC_PLCF_BTE_PAPX = 13
FKP_SIZE = 512
SPRM_PF_IN_TABLE = 0x2416
SPRM_PF_TTP = 0x2417
ROW_END = "\x04"  # stands for a row-ending cell mark between _piece_text and _lines
SPRM_T_DEF_TABLE = 0xD608
SPRM_P_CHG_TABS = 0xC615
MAX_PIECES = 1 << 20  # a PlcPcd longer than this is not a document
SPRA_SIZE = {0: 1, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2, 7: 3}

# Marks to text: paragraph end, cell end (a row end is decided separately), line break, page or
# section break, column break, non-breaking and optional hyphen. Other C0 controls are object
# anchors (pictures, footnote references, drawn objects) and go.
_MARKS = str.maketrans(
    {"\r": "\n", "\x07": "\t", "\x0b": "\n", "\x0c": "\n", "\x0e": "\n", "\x1e": "-", "\x1f": ""}
    | {
        chr(c): ""
        for c in range(0x20)
        if chr(c) not in "\t\n\r\x07\x0b\x0c\x0e\x1e\x1f\x13\x14\x15"
    }
)
_FIELD_MARK = re.compile("[\x13\x14\x15]")
_TABLE_MARK = re.compile("[\x07\r]")


class DamagedDocument(Exception):
    """The FIB or piece table is inconsistent, cut short, or built to break parsers."""


class Encrypted(Exception):
    """The document is encrypted (RC4 / CryptoAPI) or XOR-obfuscated: its text is not readable."""


class Unsupported(Exception):
    """A Word 6/95 (or older) document: its FIB has another layout."""


@dataclass(frozen=True, slots=True)
class Fib:
    table_stream: str  # "0Table" or "1Table"
    fc_clx: int
    lcb_clx: int
    fc_bte_papx: int
    lcb_bte_papx: int


@dataclass
class WordText:
    text: bytes  # UTF-8
    truncated: bool = False  # the byte budget was reached
    damaged: bool = False  # a piece pointed outside the stream; what could be read is kept
    rows_unknown: bool = False  # table row ends could not be read: cells all became tabs


def read_fib(word: bytes) -> Fib:
    """The parts of the File Information Block this reader needs ([MS-DOC] 2.5.1)."""
    if len(word) < 34:
        raise DamagedDocument("WordDocument stream shorter than a FibBase")
    ident, nfib = struct.unpack_from("<HH", word, 0)
    if ident != W_IDENT:
        raise DamagedDocument(f"wIdent {ident:#06x}")
    (flags,) = struct.unpack_from("<H", word, 0x0A)
    if flags & (F_ENCRYPTED | F_OBFUSCATED):
        raise Encrypted("fEncrypted" if flags & F_ENCRYPTED else "fObfuscated")
    if nfib < MIN_NFIB:
        raise Unsupported(f"nFib {nfib:#06x}")
    pos = 32
    (csw,) = struct.unpack_from("<H", word, pos)
    pos += 2 + 2 * csw
    if pos + 2 > len(word):
        raise DamagedDocument("FIB cut short")
    (cslw,) = struct.unpack_from("<H", word, pos)
    pos += 2 + 4 * cslw
    if pos + 2 > len(word):
        raise DamagedDocument("FIB cut short")
    (pairs,) = struct.unpack_from("<H", word, pos)
    pos += 2
    if pairs <= FC_CLX or pos + 8 * (FC_CLX + 1) > len(word):
        raise DamagedDocument(f"FibRgFcLcb of {pairs} pairs has no fcClx")
    fc_clx, lcb_clx = struct.unpack_from("<II", word, pos + 8 * FC_CLX)
    fc_bte, lcb_bte = struct.unpack_from("<II", word, pos + 8 * FC_PLCF_BTE_PAPX)
    table = "1Table" if flags & F_WHICH_TBL_STM else "0Table"
    return Fib(table, fc_clx, lcb_clx, fc_bte, lcb_bte)


@dataclass(frozen=True, slots=True)
class Piece:
    start: int  # byte offset in WordDocument
    chars: int
    compressed: bool  # 8-bit cp1252 when true, else UTF-16LE


def pieces(table: bytes, fib: Fib) -> list[Piece]:
    """The PlcPcd of the CLX ([MS-DOC] 2.9.38): skip the Prc entries, read the Pcdt."""
    pos, end = fib.fc_clx, fib.fc_clx + fib.lcb_clx
    if fib.lcb_clx == 0 or end > len(table):
        raise DamagedDocument("CLX outside the table stream")
    while pos < end and table[pos] == 0x01:  # Prc: clxt, cbGrpprl (int16), grpprl
        if pos + 3 > end:
            raise DamagedDocument("Prc cut short")
        (cb,) = struct.unpack_from("<h", table, pos + 1)
        if cb < 0:
            raise DamagedDocument("Prc with a negative size")
        pos += 3 + cb
    if pos + 5 > end or table[pos] != 0x02:
        raise DamagedDocument("no Pcdt in the CLX")
    (lcb,) = struct.unpack_from("<I", table, pos + 1)
    plc = pos + 5
    count, rest = divmod(lcb - 4, 12)
    if lcb < 16 or rest or plc + lcb > end or count > MAX_PIECES:
        raise DamagedDocument(f"PlcPcd of {lcb} bytes")
    cps = struct.unpack_from(f"<{count + 1}I", table, plc)
    out = []
    for i in range(count):
        if cps[i + 1] < cps[i]:
            raise DamagedDocument("piece table CPs go backwards")
        (fc,) = struct.unpack_from("<I", table, plc + 4 * (count + 1) + 8 * i + 2)
        compressed = bool(fc & 0x40000000)
        fc &= 0x3FFFFFFF
        out.append(Piece(fc // 2 if compressed else fc, cps[i + 1] - cps[i], compressed))
    return out


def _skip_sprm(grpprl: bytes, pos: int) -> tuple[int, int, int]:
    """(opcode, operand offset, next sprm offset) of the Sprm at ``pos`` ([MS-DOC] 2.2.5.1)."""
    (op,) = struct.unpack_from("<H", grpprl, pos)
    pos += 2
    spra = op >> 13
    if spra != 6:
        return op, pos, pos + SPRA_SIZE[spra]
    if op == SPRM_T_DEF_TABLE:  # a 2-byte size counting itself minus one
        (cb,) = struct.unpack_from("<H", grpprl, pos)
        return op, pos + 2, pos + 1 + cb
    if op == SPRM_P_CHG_TABS and grpprl[pos] == 255:  # PChgTabsOperand with a deletion list
        dels = grpprl[pos + 1]
        adds = grpprl[pos + 2 + 4 * dels]
        return op, pos + 1, pos + 3 + 4 * dels + 3 * adds
    return op, pos + 1, pos + 1 + grpprl[pos]


def _table_marks(grpprl: bytes) -> tuple[bool, bool]:
    """(in a table, ends a table row) of a paragraph, from its sprmPFInTable and sprmPFTtp."""
    in_table = ttp = False
    pos = 2  # istd
    while pos + 2 <= len(grpprl):
        op, operand, pos = _skip_sprm(grpprl, pos)
        if op in (SPRM_PF_IN_TABLE, SPRM_PF_TTP) and operand < len(grpprl) and grpprl[operand]:
            in_table |= op == SPRM_PF_IN_TABLE
            ttp |= op == SPRM_PF_TTP
    return in_table, ttp


@dataclass(frozen=True, slots=True)
class TableMarks:
    """Byte offsets (in WordDocument) just past the mark of each row-ending paragraph and of each
    other paragraph inside a table (a cell's inner paragraphs, the cells themselves)."""

    row_ends: frozenset[int] = frozenset()
    in_table: frozenset[int] = frozenset()


def table_marks(word: bytes, table: bytes, fib: Fib) -> TableMarks:
    """Where table rows end and which paragraphs are in tables, from the PAPX FKPs.

    Raises ``DamagedDocument`` (or an indexing error the caller treats as one) when the
    PlcBtePapx or an FKP is inconsistent."""
    lcb = fib.lcb_bte_papx
    count, rest = divmod(lcb - 4, 8)
    if lcb < 12 or rest or fib.fc_bte_papx + lcb > len(table):
        raise DamagedDocument(f"PlcBtePapx of {lcb} bytes")
    base = fib.fc_bte_papx + 4 * (count + 1)
    ends: set[int] = set()
    inside: set[int] = set()
    pages: set[int] = set()
    for i in range(count):
        (pn,) = struct.unpack_from("<I", table, base + 4 * i)
        page = (pn & 0x3FFFFF) * FKP_SIZE
        if page in pages:
            continue  # the same FKP again (hostile): its marks are already in
        pages.add(page)
        if page + FKP_SIZE > len(word):
            raise DamagedDocument("PAPX FKP outside WordDocument")
        fkp = word[page : page + FKP_SIZE]
        crun = fkp[511]
        if 4 * (crun + 1) + 13 * crun > 511:
            raise DamagedDocument("PAPX FKP with too many runs")
        rgfc = struct.unpack_from(f"<{crun + 1}I", fkp, 0)
        parsed: dict[int, tuple[bool, bool]] = {}  # runs share PAPXs: parse each once
        for run in range(crun):
            offset = 2 * fkp[4 * (crun + 1) + 13 * run]
            if offset == 0:
                continue  # no properties: not a table paragraph
            if offset not in parsed:
                cb = fkp[offset]
                start, size = (
                    (offset + 2, 2 * fkp[offset + 1]) if cb == 0 else (offset + 1, 2 * cb - 1)
                )
                parsed[offset] = _table_marks(fkp[start : start + size])
            in_table, ttp = parsed[offset]
            if ttp:
                ends.add(rgfc[run + 1])
            elif in_table:
                inside.add(rgfc[run + 1])
    return TableMarks(frozenset(ends), frozenset(inside))


def _strip_fields(text: str) -> str:
    """Keep field results, drop field codes; unbalanced marks are dropped, never fatal."""
    if "\x13" not in text:
        return _FIELD_MARK.sub("", text)
    out: list[str] = []
    stack: list[bool] = []  # per open field: True while in its code part
    pos = 0
    for mark in _FIELD_MARK.finditer(text):
        if not any(stack):
            out.append(text[pos : mark.start()])
        char = mark.group()
        if char == "\x13":
            stack.append(True)
        elif stack and char == "\x14":
            stack[-1] = False
        elif stack:
            stack.pop()
        pos = mark.end()
    if not any(stack):
        out.append(text[pos:])
    return "".join(out)


def _piece_text(word: bytes, piece: Piece, marks: TableMarks) -> tuple[str, bool]:
    """A piece's characters, row-end marks made ``ROW_END`` and paragraph marks inside table
    cells spaces (a cell stays one CSV field); ``True`` if the piece was cut short."""
    width = 1 if piece.compressed else 2
    raw = word[piece.start : piece.start + width * piece.chars]
    cut = len(raw) < width * piece.chars
    if not piece.compressed:
        raw = raw[: len(raw) - len(raw) % 2]
    text = raw.decode("cp1252" if piece.compressed else "utf-16-le", errors="replace")
    text = text.replace(ROW_END, "")
    if "\x07" in text and marks.row_ends:
        chars = list(text)
        for mark in _TABLE_MARK.finditer(text):  # only the marks, not every character
            i = mark.start()
            end = piece.start + width * (i + 1)
            if chars[i] == "\x07" and end in marks.row_ends:
                chars[i] = ROW_END
            elif chars[i] == "\r" and end in marks.in_table:
                chars[i] = " "
        text = "".join(chars)
    return text, cut


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _lines(text: str) -> str:
    """Paragraphs as lines; each table row as one CSV line, as a sheet of ``legacy_office``.

    A row is the text between the previous paragraph or row end and its ``ROW_END``: its cells
    end with ``\x07``. Cell marks outside known rows (row ends unreadable) become tabs."""
    if ROW_END not in text:
        return text.translate(_MARKS)
    out: list[str] = []
    segments = re.split(f"([\r{ROW_END}])", text)
    for segment, end in zip(segments[::2], [*segments[1::2], ""], strict=True):
        if end == ROW_END:
            cells = segment.split("\x07")
            if cells and not cells[-1]:
                cells.pop()  # the last cell's own mark
            clean = [cell.translate(_MARKS).replace("\n", " ").strip() for cell in cells]
            out.append(",".join(_csv_field(cell) for cell in clean) + "\n")
        else:
            out.append((segment + end).translate(_MARKS))
    return "".join(out)


def word_text(word: bytes, table: bytes, max_bytes: int) -> WordText:
    """All the text of the document (main text, footnotes, headers, comments, text boxes, in
    piece-table order) as UTF-8 lines, at most ``max_bytes``."""
    fib = read_fib(word)
    plan = pieces(table, fib)
    out = WordText(b"")
    try:
        marks = table_marks(word, table, fib) if fib.lcb_bte_papx else TableMarks()
    except (DamagedDocument, struct.error, IndexError, KeyError):
        marks = TableMarks()
        out.rows_unknown = True
    chunks: list[str] = []
    budget = max_bytes  # a character is at least one UTF-8 byte: past this the text is too long
    for piece in plan:
        if budget < 0:
            out.truncated = True  # pieces left unread
            break
        text, cut = _piece_text(word, piece, marks)
        out.damaged |= cut
        chunks.append(text)
        budget -= len(text)
    encoded = _lines(_strip_fields("".join(chunks))).encode("utf-8")
    if len(encoded) > max_bytes or out.truncated:
        encoded = encoded[:max_bytes]
        encoded = encoded[: encoded.rfind(b"\n") + 1] or encoded.decode("utf-8", "ignore").encode()
        out.truncated = True
    out.text = encoded
    return out
