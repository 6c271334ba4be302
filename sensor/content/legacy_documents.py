"""Text out of legacy Word (``.doc``) and PowerPoint (``.ppt``) files, Office 97 to 2003.

Both are OLE2 compound files (read with ``olefile``) whose text the detectors cannot see in the
raw bytes: Word keeps it in pieces, some 8-bit and some UTF-16, in an order only its piece table
gives; PowerPoint keeps each text box as a UTF-16 or 8-bit atom inside a tree of records.

Word ([MS-DOC] 2.4.1 "Retrieving Text"): the FIB at the start of the ``WordDocument`` stream says
which table stream holds the piece table (``fWhichTblStm``) and where (``fcClx``/``lcbClx``); each
piece descriptor gives the file offset of its characters and whether they are compressed (one
cp1252 byte each) or UTF-16LE. Control characters become layout: a paragraph mark or line break a
newline, a table cell mark a tab, and a cell mark right after another one (Word's end-of-row mark
after a row's last cell) a newline, so the rows of a Word table stay one line each for the table
layout of the detectors; an empty cell right before the end of its row reads as an end of row (the
cell and row marks are the same character; telling them apart needs the paragraph properties,
which are not read). Field codes are kept as text between spaces (a ``mailto:`` link's address is
data). Word 6/95 files (an older FIB) are flagged ``unsupported:doc95``.

PowerPoint ([MS-PPT] 2.3.1 RecordHeader): the ``PowerPoint Document`` stream is walked as a tree
of records (containers have ``recVer`` 0xF); every ``TextCharsAtom`` (UTF-16LE) and
``TextBytesAtom`` (8-bit) becomes one line, slides, notes and masters alike, including text of
earlier saves still in the stream (it leaves with the file too).

Bounded: the text is cut at ``max_bytes`` (the caller's budget, ``truncated``), the record walk at
``MAX_DEPTH`` levels and ``MAX_RECORDS`` records (``limited``); damaged files raise
``DamagedDocument``, encrypted ones ``EncryptedDocument``, so the caller flags them.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import olefile

WORD_MAGIC = 0xA5EC
WORD97_NFIB = 0x00C1  # nFib of Word 97; lower values are Word 6/95 with another FIB
FIB_FLAGS = 0x0A
F_ENCRYPTED = 0x0100
F_WHICH_TABLE = 0x0200
F_OBFUSCATED = 0x8000
FC_CLX = 0x01A2  # fcClx, then lcbClx, in a Word 97 FIB (FibRgFcLcb97 pair 33)

PPT_STREAM = "PowerPoint Document"
TEXT_CHARS_ATOM = 0x0FA0
TEXT_BYTES_ATOM = 0x0FA8
CRYPT_SESSION = 0x2F14  # CryptSession10Container: the document is encrypted
MAX_DEPTH = 32
MAX_RECORDS = 1_000_000

# Word's control characters as layout (the cell mark is handled apart: tab, or newline for a row)
_WORD_LAYOUT = str.maketrans(
    {
        "\r": "\n",
        "\x0b": "\n",
        "\x0c": "\n",
        "\x0e": "\n",
        "\x13": " ",
        "\x14": " ",
        "\x15": " ",
        "\x1e": "-",
        "\x1f": None,
        "\x01": None,
        "\x08": None,
        "\x00": None,
    }
)


class DocumentError(Exception):
    """Why a document's text was not read; ``flag`` is what the caller puts on the object."""

    template = "error:{kind}"

    def __init__(self, message: str, kind: str = "ole") -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def flag(self) -> str:
        return self.template.format(kind=self.kind)


class NotADocument(DocumentError):
    """Neither a Word 97+ nor a PowerPoint document: a .msg (``unsupported:ole``), a Word 6/95
    file (``unsupported:doc95``)."""

    template = "unsupported:{kind}"


class DamagedDocument(DocumentError):
    """A document whose structures point outside their streams or do not parse."""


class EncryptedDocument(DocumentError):
    """A password-protected document: its text is not readable without the key."""

    template = "encrypted:{kind}"


@dataclass
class DocumentText:
    kind: str  # "doc" or "ppt"
    text: bytes  # UTF-8
    truncated: bool = False  # cut at the byte budget
    limited: bool = False  # the record walk stopped at MAX_DEPTH or MAX_RECORDS


def ole_kind(data: bytes) -> str:
    """Which legacy Office file the OLE2 container in ``data`` holds: ``xls``, ``doc``, ``ppt``
    or ``ole`` (anything else, a .msg say); ``DamagedDocument`` when the container is unreadable."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("Workbook") or ole.exists("Book"):
                return "xls"
            if ole.exists("WordDocument"):
                return "doc"
            return "ppt" if ole.exists(PPT_STREAM) else "ole"
    except Exception as exc:  # olefile raises OSError and assorted errors on damage
        raise DamagedDocument(f"not a readable OLE2 file: {exc}") from None


def document_text(data: bytes, max_bytes: int) -> DocumentText:
    """The text of the Word or PowerPoint document in ``data`` (an OLE2 file), at most
    ``max_bytes`` of UTF-8."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:  # olefile raises OSError and assorted errors on damage
        raise DamagedDocument(f"not a readable OLE2 file: {exc}") from None
    kind = "ole"
    try:
        if ole.exists("WordDocument"):
            kind = "doc"
            return _budget(DocumentText(kind, b""), _word_text(ole), max_bytes)
        if ole.exists(PPT_STREAM):
            kind = "ppt"
            text, limited = _powerpoint_text(_stream(ole, PPT_STREAM))
            return _budget(DocumentText(kind, b"", limited=limited), text, max_bytes)
        raise NotADocument("no WordDocument or PowerPoint Document stream")
    except DocumentError as exc:
        if exc.kind == "ole" and not isinstance(exc, NotADocument):
            exc.kind = kind
        raise
    except (struct.error, ValueError, IndexError, MemoryError, RecursionError) as exc:
        raise DamagedDocument(f"{type(exc).__name__}: {exc}", kind) from None
    finally:
        ole.close()


def _budget(result: DocumentText, text: str, max_bytes: int) -> DocumentText:
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) > max_bytes:
        cut = encoded.rfind(b"\n", 0, max_bytes + 1)
        encoded = encoded[: cut + 1 if cut >= 0 else 0]
        result.truncated = True
    result.text = encoded
    return result


def _stream(ole: olefile.OleFileIO, name: str) -> bytes:
    try:
        data: bytes = ole.openstream(name).read()
    except Exception as exc:
        raise DamagedDocument(f"stream {name!r} cannot be read: {exc}") from None
    return data


def _word_text(ole: olefile.OleFileIO) -> str:
    word = _stream(ole, "WordDocument")
    if len(word) < FC_CLX + 8:
        raise DamagedDocument("WordDocument stream shorter than its FIB")
    ident, nfib = struct.unpack_from("<HH", word, 0)
    if ident != WORD_MAGIC:
        raise DamagedDocument(f"WordDocument does not start with the FIB (0x{ident:04x})")
    (flags,) = struct.unpack_from("<H", word, FIB_FLAGS)
    if flags & (F_ENCRYPTED | F_OBFUSCATED):
        raise EncryptedDocument("encrypted Word document")
    if nfib < WORD97_NFIB:
        raise NotADocument(f"Word 6/95 document (nFib 0x{nfib:04x})", "doc95")
    table_name = "1Table" if flags & F_WHICH_TABLE else "0Table"
    if not ole.exists(table_name):
        raise DamagedDocument(f"the FIB names a {table_name} stream that is not there")
    table = _stream(ole, table_name)
    fc_clx, lcb_clx = struct.unpack_from("<II", word, FC_CLX)
    if lcb_clx == 0 or fc_clx + lcb_clx > len(table):
        raise DamagedDocument("the piece table lies outside the table stream")
    pieces = _pieces(table[fc_clx : fc_clx + lcb_clx])
    parts: list[str] = []
    for start_cp, end_cp, fc, compressed in pieces:
        count = end_cp - start_cp
        if compressed:
            raw = word[fc // 2 : fc // 2 + count]
            parts.append(raw.decode("cp1252", errors="replace"))
        else:
            raw = word[fc : fc + 2 * count]
            parts.append(raw.decode("utf-16-le", errors="replace"))
        if len(raw) < (count if compressed else 2 * count):
            raise DamagedDocument("a text piece runs past the end of WordDocument")
    return _word_layout("".join(parts))


def _pieces(clx: bytes) -> list[tuple[int, int, int, bool]]:
    """(first CP, end CP, file offset, compressed) of every piece in the CLX's PlcPcd."""
    at = 0
    while at < len(clx) and clx[at] == 0x01:  # Prc: property modifiers, skipped
        if at + 3 > len(clx):
            raise DamagedDocument("a Prc runs past the CLX")
        (size,) = struct.unpack_from("<h", clx, at + 1)
        if size < 0:
            raise DamagedDocument("a Prc with a negative size")
        at += 3 + size
    if at + 5 > len(clx) or clx[at] != 0x02:
        raise DamagedDocument("no piece table (Pcdt) in the CLX")
    (lcb,) = struct.unpack_from("<I", clx, at + 1)
    plc = clx[at + 5 : at + 5 + lcb]
    if len(plc) != lcb or lcb < 4 or (lcb - 4) % 12:
        raise DamagedDocument("the piece table's size is not that of a PlcPcd")
    count = (lcb - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
    pieces = []
    for i in range(count):
        _flags, fc_compressed, _prm = struct.unpack_from("<HIH", plc, 4 * (count + 1) + 8 * i)
        if cps[i + 1] < cps[i]:
            raise DamagedDocument("piece table character positions go backwards")
        compressed = bool(fc_compressed & 0x40000000)
        pieces.append((cps[i], cps[i + 1], fc_compressed & 0x3FFFFFFF, compressed))
    return pieces


def _word_layout(text: str) -> str:
    """Control characters as newlines, tabs and spaces (see the module docstring)."""
    lines = text.translate(_WORD_LAYOUT).replace("\x07\x07", "\x07\n").replace("\x07", "\t")
    return lines.replace("\t\n", "\n")


def _powerpoint_text(stream: bytes) -> tuple[str, bool]:
    """Every text atom of the record tree, one per line, and whether a walk limit was hit."""
    lines: list[str] = []
    records = 0
    limited = False
    stack: list[tuple[int, int, int]] = [(0, len(stream), 0)]  # (offset, end, depth)
    while stack:
        at, end, depth = stack.pop()
        while at + 8 <= end:
            ver_instance, rec_type, length = struct.unpack_from("<HHI", stream, at)
            body, after = at + 8, at + 8 + length
            if after > end:
                raise DamagedDocument(f"record 0x{rec_type:04x} runs past its container")
            records += 1
            if records > MAX_RECORDS:
                return "".join(lines), True
            if rec_type == CRYPT_SESSION:
                raise EncryptedDocument("encrypted PowerPoint document")
            if ver_instance & 0x000F == 0x000F:  # a container: walk its children after this one
                if depth + 1 >= MAX_DEPTH:
                    limited = True
                else:
                    stack.append((after, end, depth))
                    at, end, depth = body, after, depth + 1
                    continue
            elif rec_type == TEXT_CHARS_ATOM:
                lines.append(stream[body:after].decode("utf-16-le", errors="replace") + "\n")
            elif rec_type == TEXT_BYTES_ATOM:
                lines.append(stream[body:after].decode("cp1252", errors="replace") + "\n")
            at = after
    text = "".join(lines).replace("\r", "\n").replace("\x0b", "\n")
    return text, limited
