"""Text out of PowerPoint 97-2003 presentations (``.ppt``): the ``PowerPoint Document`` stream.

The stream is a tree of records ([MS-PPT] 2.3.1): an 8-byte header (recVer and recInstance in
2 bytes, recType 2, recLen 4), containers (recVer 0xF) holding further records. Slide text lives
in text atoms: ``TextCharsAtom`` (UTF-16LE) and ``TextBytesAtom`` (8-bit, the low byte of each
UTF-16 unit), both in the outline (``SlideListWithText``) and in text boxes of slide drawings.
Hyperlink targets and comments carry their text as ``CString`` atoms (a ``mailto:`` with an
address, a reviewer's note); ``CString`` also names programmable tags and fonts, which are
noise, so it is kept only inside hyperlinks, comments, slides and notes, outside their tags.

The tree is walked flat, in stream order, without following the persist directory: text of
older, incrementally saved versions is read too, which is what an audit wants (it left the
building all the same). Every atom is one or more lines (``\\r`` and the vertical tab end a line).

Bounded and Sans-IO: nesting depth (``MAX_DEPTH``), records visited (``MAX_RECORDS``) and the
output bytes (``max_bytes``, the caller's budget); each hit is reported on ``PptText`` so the
caller flags it. A record longer than its container or the stream is damage: the walk keeps
what it read, skips the rest of that container, and says ``damaged``. An encrypted document
(a ``CryptSession10Container``) raises ``Encrypted``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct("<HHI")
CONTAINER_VERSION = 0xF
TEXT_CHARS_ATOM = 0x0FA0
TEXT_BYTES_ATOM = 0x0FA8
CSTRING = 0x0FBA
CRYPT_SESSION = 0x2F14
SLIDE = 0x03EE
NOTES = 0x03F0
EX_HYPERLINK = 0x0FD7
COMMENT10 = 0x2EE0
PROG_TAGS = 0x1388
# CString text is read below these records and not below the tag records
CSTRING_PARENTS = frozenset({SLIDE, NOTES, EX_HYPERLINK, COMMENT10})
MAX_DEPTH = 32  # real presentations nest about 10 deep (OfficeArt groups inside a slide)
MAX_RECORDS = 1_000_000  # a 100 MB presentation has a few hundred thousand


class Encrypted(Exception):
    """The presentation is encrypted: its records after the header are ciphertext."""


class NotAPresentation(Exception):
    """The stream does not start with a record header: not a PowerPoint 97+ document."""


@dataclass
class PptText:
    text: bytes  # UTF-8, one line per paragraph of each text atom
    truncated: bool = False  # the byte budget was reached
    damaged: bool = False  # a record overran its container or the stream
    limits: list[str] = field(default_factory=list)  # "limit:ppt_depth", "limit:ppt_records"


def _atom_text(rec_type: int, body: bytes) -> str:
    if rec_type == TEXT_BYTES_ATOM:
        text = body.decode("latin-1")
    else:
        text = body[: len(body) - len(body) % 2].decode("utf-16-le", errors="replace")
    return text.replace("\r", "\n").replace("\x0b", "\n").replace("\x00", "")


def ppt_text(
    stream: bytes, max_bytes: int, max_records: int = MAX_RECORDS, max_depth: int = MAX_DEPTH
) -> PptText:
    """Every text atom of the ``PowerPoint Document`` stream, in stream order, as UTF-8."""
    if len(stream) < HEADER.size:
        raise NotAPresentation("stream shorter than a record header")
    out = PptText(b"")
    lines: list[bytes] = []
    size = 0
    records = 0
    # (end offset, record type, CString allowed) of each open container, outermost first
    stack: list[tuple[int, int, bool]] = []
    pos = 0
    end = len(stream)
    while pos + HEADER.size <= end or stack:
        while stack and pos + HEADER.size > stack[-1][0]:
            pos = stack.pop()[0]  # container finished (or only padding left in it)
        limit = stack[-1][0] if stack else end
        if pos + HEADER.size > limit:
            break
        ver_inst, rec_type, rec_len = HEADER.unpack_from(stream, pos)
        records += 1
        if records > max_records:
            out.limits.append("limit:ppt_records")
            break
        if rec_type == CRYPT_SESSION:
            raise Encrypted("CryptSession10Container")
        body = pos + HEADER.size
        if body + rec_len > limit:
            out.damaged = True
            if not stack:
                if records == 1:
                    raise NotAPresentation("first record overruns the stream")
                break
            pos = stack.pop()[0]  # drop the rest of this container
            continue
        if (ver_inst & 0xF) == CONTAINER_VERSION:
            if len(stack) >= max_depth:
                if "limit:ppt_depth" not in out.limits:
                    out.limits.append("limit:ppt_depth")
                pos = body + rec_len  # skip the container, keep walking its siblings
                continue
            parent_ok = stack[-1][2] if stack else False
            allowed = rec_type in CSTRING_PARENTS or (parent_ok and rec_type != PROG_TAGS)
            stack.append((body + rec_len, rec_type, allowed))
            pos = body
            continue
        if rec_type in (TEXT_CHARS_ATOM, TEXT_BYTES_ATOM) or (
            rec_type == CSTRING and stack and stack[-1][2]
        ):
            line = _atom_text(rec_type, stream[body : body + rec_len]).encode("utf-8") + b"\n"
            if line.strip():
                if size + len(line) > max_bytes:
                    out.truncated = True
                    break
                lines.append(line)
                size += len(line)
        pos = body + rec_len
    out.text = b"".join(lines)
    return out
