"""A mail's MIME leaves decoded as its bytes arrive, for the part of a message past the size limit.

``sensor.content.mime`` splits a whole message kept in memory. A mail larger than
``limits.max_object_bytes`` is kept up to the limit; the rest used to reach the stream scanner raw,
so a base64 attachment there (the usual way a large CSV leaves by mail) was read as base64 text and
nobody in it was found. ``MimeStreamDecoder`` is Sans-IO: ``feed(data)`` with the message bytes in
order, ``gap(length)`` for a hole, ``finish()`` at the end; each returns the decoded bytes of the
leaves (after Content-Transfer-Encoding, text in GBK/Big5/... rendered as UTF-8), a ``b"\\n"``
between two leaves so values never join across parts. Headers, preambles and epilogues are not
returned (the message object reads its top headers in block mode). A leaf whose decoded body is a
ZIP archive (an export zipped and attached) returns its members inflated
(``sensor.content.zip_stream``), at most ``zip_output`` bytes of them.

How it keeps up with pieces of any size:

* delimiter lines (``--boundary``, ``--boundary--``) are found with ``bytes.find`` of ``\\n--``;
  a line that might still become one is held back (at most ``MAX_DELIMITER_LINE`` bytes), the line
  break before a delimiter belongs to the delimiter, as in RFC 2046; a delimiter of an outer
  multipart also ends the inner ones (``mime.missing_final_boundary``);
* base64 carries the 0-3 characters of an unfinished quad to the next piece; quoted-printable
  carries the unfinished line, so a soft line break (``=\\r\\n``) or an ``=XX`` escape split
  between two pieces decodes as if whole; charsets use incremental codecs;
* a hole in the capture ends the line it falls in: decoding resumes at the next line start (base64
  lines hold whole quads), so the bytes after a hole are still decoded.

Bounded: the boundary stack is at most ``max_depth`` deep (deeper multiparts are read as one raw
leaf, ``mime.depth_limit``), a part's header block at most ``max_head_bytes``
(``mime.head_too_large``: the rest of the head is skipped and the part read raw), the held-back
line at most ``MAX_DELIMITER_LINE`` bytes and a quoted-printable line carried at most
``MAX_QP_LINE``. Anomalies use the names of ``sensor.content.mime``.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass, field

from sensor.content.mime import (
    MimeLimits,
    decode_base64,
    parse_headers,
    parse_params,
    python_codec,
)
from sensor.content.zip_stream import ZipStreamDecoder
from sensor.content.ziplocal import LOCAL

# A delimiter line is "--" + boundary (at most 70 characters, RFC 2046) + "--" + blanks; a line
# still being held after this many bytes is body, whatever comes next.
MAX_DELIMITER_LINE = 1000
# Quoted-printable lines are at most 76 characters (RFC 2045); an unfinished line longer than this
# is decoded up to its last escape instead of being carried further.
MAX_QP_LINE = 64 * 1024
SEPARATOR = b"\n"  # between two leaves in the output: nothing joins across parts

_B64_OK = re.compile(rb"[^A-Za-z0-9+/=]")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class _Transfer:
    """Content-Transfer-Encoding of one leaf, decoded piece by piece."""

    def __init__(
        self,
        encoding: str,
        charset: str,
        text: bool,
        notes: list[str],
        zips: list[ZipStreamDecoder],
        zip_output: int,
    ) -> None:
        self.encoding = encoding if encoding in ("base64", "quoted-printable") else ""
        self.carry = b""
        self.skip = 0  # decoded bytes ``tail`` already handed out
        self.notes = notes
        self.zips = zips  # the message's ZIP leaves, for its counts
        self.zip_output = zip_output
        self.zip: ZipStreamDecoder | None = None
        self.sniff: bytes | None = b""  # the body's first bytes, until they say ZIP or not
        codec = python_codec(charset) if text and charset else None
        self.codec = (
            codecs.getincrementaldecoder(codec)(errors="replace")
            if codec not in (None, "utf-8")
            else None
        )

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if self.encoding == "base64":
            out = self._base64(data, final)
        elif self.encoding == "quoted-printable":
            out = self._qp(data, final)
        else:
            out = data
        if self.skip:  # already handed out by ``tail``
            cut = min(self.skip, len(out))
            out, self.skip = out[cut:], self.skip - cut
        return self._text(self._unpack(out, final), final)

    def tail(self, held: bytes) -> bytes:
        """What block mode decodes from the carried and ``held`` bytes of a body cut at the size
        limit (a cut base64 quad as far as it goes, an unfinished quoted-printable line up to a
        split escape); those bytes are not returned again, so a value that ends in them is found
        on one side of the limit only."""
        if self.encoding == "base64":
            clean = _B64_OK.sub(b"", self.carry + held.translate(None, b" \t\r\n"))
            out = decode_base64(clean)[0]
        elif self.encoding == "quoted-printable":
            data = self.carry + held
            escape = data.rfind(b"=", max(len(data) - 2, 0))
            out = binascii.a2b_qp(data[:escape] if escape >= 0 else data)
        else:
            out = held
        self.skip = len(out)
        return self._text(self._unpack(out, False), False)

    def _unpack(self, out: bytes, final: bool) -> bytes:
        """A ZIP attachment's members inflated (``zip_stream``); any other body as it is."""
        if self.sniff is not None:
            self.sniff += out
            if len(self.sniff) < len(LOCAL) and not final:
                return b""
            out, self.sniff = self.sniff, None
            if out.startswith(LOCAL):
                self.zip = ZipStreamDecoder(self.zip_output)
                self.zips.append(self.zip)
        if self.zip is None:
            return out
        pieces = self.zip.feed(out)
        if final:
            pieces += self.zip.finish()
        return b"".join(pieces)

    def _text(self, out: bytes, final: bool) -> bytes:
        if self.codec is not None:
            out = self.codec.decode(out, final).encode("utf-8")
        return out

    def _base64(self, data: bytes, final: bool) -> bytes:
        clean = data.translate(None, b" \t\r\n")
        if _B64_OK.search(clean):
            self.notes.append("mime.base64_invalid_chars")
            clean = _B64_OK.sub(b"", clean)
        clean = self.carry + clean
        whole = len(clean) if final else len(clean) - len(clean) % 4
        self.carry = clean[whole:]
        if not whole:
            return b""
        decoded, problems = decode_base64(clean[:whole])
        self.notes.extend(problems)
        return decoded

    def _qp(self, data: bytes, final: bool) -> bytes:
        data = self.carry + data
        cut = len(data) if final else data.rfind(b"\n") + 1
        if not final and len(data) - cut > MAX_QP_LINE:  # an endless line: keep only a split escape
            escape = data.rfind(b"=", len(data) - 2)
            cut = escape if escape >= 0 else len(data)
        self.carry = data[cut:]
        return binascii.a2b_qp(data[:cut])

    def resync(self) -> None:
        """A hole: what was carried belongs to bytes now lost."""
        self.carry = b""
        if self.zip is not None:
            self.zip.gap(1)  # the member being inflated cannot go on; the next one can
        if self.codec is not None:
            self.codec.reset()


@dataclass(frozen=True, slots=True)
class _Level:
    """One open multipart: its delimiter line and its nesting depth."""

    marker: bytes  # b"--" + boundary
    depth: int


@dataclass(slots=True)
class StreamStats:
    leaves: int = 0  # leaf parts whose bodies were decoded (or read raw)
    decoded_bytes: int = 0  # bytes returned
    gaps: int = 0
    anomalies: list[tuple[str, str]] = field(default_factory=list)


class MimeStreamDecoder:
    """Leaves of one message decoded incrementally (see the module docstring)."""

    def __init__(self, limits: MimeLimits | None = None, zip_output: int = 1 << 30) -> None:
        self.limits = limits or MimeLimits()
        self.zip_output = zip_output  # inflated bytes of each ZIP attachment, at most
        self.zips: list[ZipStreamDecoder] = []
        self.stats = StreamStats()
        self._levels: list[_Level] = []
        self._buf = bytearray()
        self._state = "head"  # "head", "leaf" (body returned), "skip" (preamble, epilogue)
        self._depth = 0  # nesting depth of the entity whose head or body is being read
        self._leaf: _Transfer | None = None
        self._leaf_bytes = 0  # returned for the current leaf
        self._notes: list[str] = []
        self._noted: set[str] = set()
        self._resync = False  # after a hole: drop bytes up to the next line start
        self._virtual = False  # the buffer starts with the line break of ``_line_start``

    # --- input --------------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self._resync:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            data = data[newline:]  # the line break stays: a delimiter may follow it
            self._resync = False
        self._buf += data
        out: list[bytes] = []
        while self._step(out, final=False):
            pass
        return self._flush_notes(out)

    def gap(self, length: int) -> list[bytes]:
        """``length`` bytes were never captured: decoding resumes at the next line start, with
        the MIME state (open multiparts, the current leaf's encoding) as it was."""
        if length <= 0:
            return []
        out: list[bytes] = []
        if self._state == "leaf" and self._leaf is not None:
            self._emit(out, self._leaf.feed(self._take(len(self._buf))))  # before the hole
            self._leaf.resync()
        self._buf.clear()
        self._resync = True
        self.stats.gaps += 1
        return self._flush_notes(out)

    def tail(self) -> bytes:
        """The current leaf's bytes fed but not yet returned, decoded as block mode decodes a body
        cut there; they are not returned again (``_Transfer.tail``). For the scanner's history
        when the message is cut at the size limit."""
        if self._state != "leaf" or self._leaf is None:
            return b""
        held = bytes(self._buf[1:] if self._virtual else self._buf)
        out = self._leaf.tail(held)
        self._leaf_bytes += len(out)
        return out

    def finish(self) -> list[bytes]:
        """The message ended: the rest decoded, open multiparts counted as unterminated."""
        out: list[bytes] = []
        while self._step(out, final=True):
            pass
        if self._state == "leaf" and self._leaf is not None:
            self._emit(out, self._leaf.feed(self._take(len(self._buf)), final=True))
        self._buf.clear()
        for level in self._levels:
            self.stats.anomalies.append(("mime.missing_final_boundary", f"depth {level.depth}"))
        self._levels.clear()
        return self._flush_notes(out)

    # --- states -------------------------------------------------------------------------------

    def _step(self, out: list[bytes], final: bool) -> bool:
        """One state's worth of the buffer; True if the state changed and there may be more."""
        if self._state == "head":
            return self._head(final)
        return self._body(out, final)

    def _head(self, final: bool) -> bool:
        buf = self._buf
        if buf.startswith(b"\r\n") or buf.startswith(b"\n"):
            head, body = b"", (2 if buf.startswith(b"\r\n") else 1)
        else:
            match = _HEAD_END.search(buf)
            if match is None:
                if final or len(buf) <= self.limits.max_head_bytes:
                    return False
                self.stats.anomalies.append(("mime.head_too_large", f"{len(buf)} bytes"))
                buf.clear()  # the head is skipped; what follows is read raw
                self._open_leaf("", {}, {}, raw=True)
                return True
            head, body = bytes(buf[: match.start()]), match.end()
        del buf[:body]
        headers = parse_headers(head)
        lookup = {k.lower(): v for k, v in reversed(headers)}
        ctype, cparams = parse_params(lookup.get("content-type", "text/plain"))
        boundary = cparams.get("boundary", "")
        encoding = lookup.get("content-transfer-encoding", "").strip().lower()
        nested = ctype.startswith("multipart/") or ctype == "message/rfc822"
        if nested and self._depth >= self.limits.max_depth:
            self.stats.anomalies.append(("mime.depth_limit", f"depth {self._depth}"))
            self._open_leaf(ctype, cparams, lookup, raw=True)
        elif ctype.startswith("multipart/") and boundary:
            self._levels.append(_Level(b"--" + boundary.encode("utf-8", "replace"), self._depth))
            self._state = "skip"  # the preamble
            self._line_start()  # the first delimiter may open the body
        elif ctype == "message/rfc822" and encoding in ("", "7bit", "8bit"):
            self._depth += 1  # an attached mail: its own head follows
        else:
            if ctype.startswith("multipart/"):
                self.stats.anomalies.append(("mime.no_boundary", ctype))
            self._open_leaf(ctype, cparams, lookup, raw=False)
        return True

    def _open_leaf(
        self, ctype: str, cparams: dict[str, str], lookup: dict[str, str], raw: bool
    ) -> None:
        encoding = "" if raw else lookup.get("content-transfer-encoding", "").strip().lower()
        if encoding not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
            self.stats.anomalies.append(("mime.unknown_transfer_encoding", encoding))
        charset = "" if raw else cparams.get("charset", "")
        self._leaf = _Transfer(
            encoding, charset, ctype.startswith("text/"), self._notes, self.zips, self.zip_output
        )
        self._leaf_bytes = 0
        self._state = "leaf"
        self.stats.leaves += 1
        self._line_start()  # a delimiter may close an empty body at once

    def _body(self, out: list[bytes], final: bool) -> bool:
        """Body bytes up to the next delimiter of an open multipart, or as far as is safe."""
        buf = self._buf
        pos = 0
        while True:
            at = buf.find(b"\n--", pos)
            if at < 0:
                keep = 0 if final else min(len(buf), 3)  # "\r\n-" may become a delimiter
                self._release(out, len(buf) - keep)
                return False
            before = at - 1 if at and buf[at - 1] == 0x0D else at  # the break is the delimiter's
            end = buf.find(b"\n", at + 1)
            if end < 0 and not final:
                if len(buf) - at > MAX_DELIMITER_LINE:
                    pos = at + 1
                    continue
                self._release(out, before)  # wait for the rest of the line
                return False
            after = len(buf) if end < 0 else end + 1
            level = self._delimiter(bytes(buf[at + 1 : after]).rstrip(b" \t\r\n"))
            if level is None:
                pos = at + 1
                continue
            index, close = level
            self._release(out, before)
            del buf[: after - before]
            self._virtual = False
            self._delimited(out, index, close)
            return True

    def _delimiter(self, line: bytes) -> tuple[int, bool] | None:
        """(level, closes) of the open multipart, innermost first, whose delimiter ``line`` is."""
        for index in range(len(self._levels) - 1, -1, -1):
            marker = self._levels[index].marker
            if line == marker:
                return index, False
            if line == marker + b"--":
                return index, True
        return None

    def _delimited(self, out: list[bytes], index: int, close: bool) -> None:
        if self._state == "leaf" and self._leaf is not None:
            self._emit(out, self._leaf.feed(b"", final=True))
            if self._leaf_bytes:
                out.append(SEPARATOR)
            self._leaf = None
        for level in self._levels[index + 1 :]:
            self.stats.anomalies.append(("mime.missing_final_boundary", f"depth {level.depth}"))
        del self._levels[index + 1 :]
        if close:
            self._levels.pop()
            self._state = "skip"  # the epilogue, up to a delimiter of an outer multipart
            self._line_start()
        else:
            self._depth = self._levels[index].depth + 1
            self._state = "head"

    def _release(self, out: list[bytes], upto: int) -> None:
        """Hand ``buf[:upto]`` to the current leaf (or drop it: a preamble or an epilogue)."""
        if upto <= 0:
            return
        chunk = self._take(upto)
        if self._state == "leaf" and self._leaf is not None:
            self._emit(out, self._leaf.feed(chunk))

    def _take(self, upto: int) -> bytes:
        """``buf[:upto]`` removed from the buffer, without the line break put before a body."""
        chunk = bytes(self._buf[int(self._virtual) : upto])
        del self._buf[:upto]
        self._virtual = False
        return chunk

    def _line_start(self) -> None:
        """A body begins: a line break before it lets ``\\n--`` find a delimiter on its first
        line; it is not body (``_take`` drops it)."""
        self._buf[:0] = b"\n"
        self._virtual = True

    def _emit(self, out: list[bytes], data: bytes) -> None:
        if data:
            out.append(data)
            self.stats.decoded_bytes += len(data)
            self._leaf_bytes += len(data)

    def _flush_notes(self, out: list[bytes]) -> list[bytes]:
        for name in self._notes:
            if name not in self._noted:  # once per message: the decoder meets it piece by piece
                self._noted.add(name)
                self.stats.anomalies.append((name, "past the size limit"))
        self._notes.clear()
        return out
