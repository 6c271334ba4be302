"""Which legacy Office document an OLE2 container holds, and its text.

``.xls``, ``.doc`` and ``.ppt`` share one container format (Compound File Binary, [MS-CFB]); the
stream names tell them apart: ``Workbook``/``Book`` (read by ``legacy_office`` through xlrd),
``WordDocument`` with its ``0Table``/``1Table`` (``legacy_word``), ``PowerPoint Document``
(``legacy_ppt``). The container is opened with olefile, which checks sector chains for loops
and bounds; the format readers only see stream bytes. Anything else in OLE (an Outlook ``.msg``,
a Visio drawing, an MSI) stays unsupported.

``ole_kind``, ``read_doc`` and ``read_ppt`` never raise on hostile input: every failure is a flag
on the ``OleDocument`` (``error:doc``, ``encrypted:ppt``, ``unsupported:doc95``, ``limit:...``).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import olefile

from sensor.content import legacy_ppt, legacy_word

WORD_STREAM = "WordDocument"
PPT_STREAM = "PowerPoint Document"
WORKBOOK_STREAMS = ("Workbook", "Book")
PPT_ENCRYPTED_STREAM = "EncryptedSummary"  # present in every encrypted .ppt ([MS-PPT] 2.1.3)
MAX_STREAM_BYTES = 1 << 30  # olefile's own ceiling on a stream it will read


@dataclass
class OleDocument:
    kind: str  # "xls", "doc", "ppt", or "" when the container holds none of them
    text: bytes = b""
    flags: list[str] = field(default_factory=list)  # error:doc, encrypted:ppt, limit:size ...


def ole_kind(data: bytes) -> tuple[str, olefile.OleFileIO[str] | None]:
    """The document type of an OLE2 container (``"error"`` when the container is unreadable)."""
    try:
        # from a file object: the stubs tie stream-name types to the type of the source
        ole: olefile.OleFileIO[str] = olefile.OleFileIO(io.BytesIO(data))
    except Exception:  # olefile raises OSError, struct.error, IndexError ... on hostile input
        return "error", None
    if any(ole.exists(name) for name in WORKBOOK_STREAMS):
        return "xls", ole
    if ole.exists(WORD_STREAM):
        return "doc", ole
    if ole.exists(PPT_STREAM):
        return "ppt", ole
    return "", ole


def damaged_kind(data: bytes) -> str:
    """``doc`` or ``ppt`` when a container olefile could not open still names the stream of one
    in its directory (UTF-16 names), so the damage is reported against the right format; ``""``
    otherwise (the caller flags ``error:ole``)."""
    for kind, name in (("doc", WORD_STREAM), ("ppt", PPT_STREAM)):
        if name.encode("utf-16-le") in data:
            return kind
    return ""


def _stream(ole: olefile.OleFileIO[str], name: str) -> bytes:
    if not ole.exists(name):
        return b""
    return bytes(ole.openstream(name).read(MAX_STREAM_BYTES))


def read_doc(ole: olefile.OleFileIO[str], max_bytes: int) -> OleDocument:
    out = OleDocument("doc")
    try:
        word = _stream(ole, WORD_STREAM)
        fib = legacy_word.read_fib(word)
        table = _stream(ole, fib.table_stream)
        result = legacy_word.word_text(word, table, max_bytes)
    except legacy_word.Encrypted:
        out.flags.append("encrypted:doc")
        return out
    except legacy_word.Unsupported:
        out.flags.append("unsupported:doc95")
        return out
    except Exception:  # DamagedDocument, and olefile/struct errors on a damaged container
        out.flags.append("error:doc")
        return out
    out.text = result.text
    if result.damaged:
        out.flags.append("error:doc")
    if result.truncated:
        out.flags.append("limit:size")
    if result.rows_unknown:
        out.flags.append("error:doc-tables")
    return out


def read_ppt(ole: olefile.OleFileIO[str], max_bytes: int) -> OleDocument:
    out = OleDocument("ppt")
    if ole.exists(PPT_ENCRYPTED_STREAM):
        out.flags.append("encrypted:ppt")
        return out
    try:
        result = legacy_ppt.ppt_text(_stream(ole, PPT_STREAM), max_bytes)
    except legacy_ppt.Encrypted:
        out.flags.append("encrypted:ppt")
        return out
    except (legacy_ppt.NotAPresentation, struct.error):
        out.flags.append("error:ppt")
        return out
    except Exception:  # olefile errors on a damaged container
        out.flags.append("error:ppt")
        return out
    out.text = result.text
    if result.damaged:
        out.flags.append("error:ppt")
    if result.truncated:
        out.flags.append("limit:size")
    out.flags.extend(result.limits)
    return out
