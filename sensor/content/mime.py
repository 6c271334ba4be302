"""MIME messages (RFC 2045-2047, 2231) split into leaf parts with decoded bodies and names.

A mail is parsed whole once its transfer ended (the SMTP layer bounds it by the object size
limit), so this module is plain functions over ``bytes``. What Chinese mail actually carries is
handled: GB2312/GBK/GB18030 (decoded as GB18030, their superset) and Big5 (as Big5-HKSCS) text and
encoded words, encoded words split in the middle of a multi-byte character, RFC 2231 parameter
continuations (``filename*0*=GBK''%B1%A8...``), RFC 2047 words inside quoted ``filename=`` (not
allowed, sent anyway) and raw 8-bit header bytes.

Leaves of nested multiparts (and of attached ``message/rfc822`` mails) become ``MimePart``; text
parts in another charset get a UTF-8 ``text`` view for detection. Bounds (``MimeLimits``): nesting
depth, part count and header size. A limit never drops bytes: past the depth or part limit the
rest is kept as one undecoded part and flagged. Anomaly names (``MimeMessage.anomalies``):
``mime.depth_limit``, ``mime.part_limit``, ``mime.head_too_large``, ``mime.no_boundary``,
``mime.missing_final_boundary``, ``mime.base64_invalid_chars``, ``mime.base64_truncated``,
``mime.unknown_charset``, ``mime.charset_decode_error``, ``mime.unknown_transfer_encoding``.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

MAX_DEPTH = 10  # real mail nests 3-4 levels (mixed > alternative > related); 10 is abuse
MAX_PARTS = 500  # leaves per message; a mail with more is built to exhaust the parser
MAX_HEAD_BYTES = 256 * 1024  # one entity's header block; Received chains are long, not this long


@dataclass(frozen=True, slots=True)
class MimeLimits:
    max_depth: int = MAX_DEPTH
    max_parts: int = MAX_PARTS
    max_head_bytes: int = MAX_HEAD_BYTES


@dataclass(slots=True)
class MimePart:
    """One leaf: its decoded body and what its headers say about it."""

    path: str  # "1.2": second part of the first part; "1" for a single-part message's body
    content_type: str  # main type, lower case ("text/plain")
    charset: str
    filename: str
    disposition: str  # "attachment", "inline" or ""
    transfer_encoding: str
    body: bytes  # after Content-Transfer-Encoding
    text: bytes | None = None  # UTF-8 rendering of a text part in another charset
    flags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MimeMessage:
    headers: list[tuple[str, str]]  # top-level headers, RFC 2047 decoded
    parts: list[MimePart]
    anomalies: list[tuple[str, str]]

    def header(self, name: str) -> str:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), "")

    @property
    def subject(self) -> str:
        return self.header("Subject")


_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "x-euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "us-ascii": "utf-8",  # a superset that also survives 8-bit bytes mislabelled as ASCII
    "ascii": "utf-8",
}


def python_codec(charset: str) -> str | None:
    """The codec to decode a MIME charset with (supersets for the Chinese ones), or None."""
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


class _Notes:
    """Anomalies of one message, kept in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, name: str, detail: str = "") -> None:
        self.items.append((name, detail[:120]))


def _decode(raw: bytes, charset: str, notes: _Notes) -> str:
    codec = python_codec(charset) if charset else "utf-8"
    if codec is None:
        notes.add("mime.unknown_charset", charset)
        codec = "utf-8"
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        notes.add("mime.charset_decode_error", charset)
        return raw.decode(codec, errors="replace")


def _header_text(raw: bytes) -> str:
    """Raw header bytes: UTF-8 if valid, else GB18030 (Chinese mailers send raw GBK), else Latin-1."""
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"[ \t\r\n]*")


def decode_words(value: str, notes: _Notes | None = None) -> str:
    """RFC 2047 encoded words decoded; adjacent words of one charset are joined as bytes first,
    since mailers split a GBK or UTF-8 character across two words."""
    notes = notes or _Notes()
    out: list[str] = []
    pos = 0
    pending = bytearray()
    pending_charset = ""
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset, kind, text = match.group(1), match.group(2).lower(), match.group(3)
        if kind == "b":
            data = decode_base64(text.encode("ascii", "ignore"))[0]
        else:
            data = binascii.a2b_qp(text.replace("_", " ").encode("ascii", "ignore"))
        adjacent = bool(pending) and _BETWEEN_WORDS.fullmatch(between) is not None
        if adjacent and charset.lower() == pending_charset.lower():
            pending += data  # whitespace between encoded words is not part of the text
        else:
            if pending:
                out.append(_decode(bytes(pending), pending_charset, notes))
            if not adjacent:
                out.append(between)
            pending = bytearray(data)
            pending_charset = charset
        pos = match.end()
    if pending:
        out.append(_decode(bytes(pending), pending_charset, notes))
    out.append(value[pos:])
    return "".join(out)


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_B64_NOISE = re.compile(rb"[^A-Za-z0-9+/=]")


def _base64_fast(data: bytes) -> bytes | None:
    """The common case in two C passes: line breaks and blanks removed, then a strict decode
    (alphabet only, whole quanta, padding only at the end). None when the careful path must
    decide: the strict decoder rejects exactly what the careful path repairs or reports."""
    clean = data.translate(None, b" \t\r\n")
    try:
        return binascii.a2b_base64(clean, strict_mode=True)
    except binascii.Error:
        return None


def decode_base64(data: bytes) -> tuple[bytes, list[str]]:
    """Base64 as mailers produce it: characters outside the alphabet skipped, padding allowed
    between quanta (``NA= =Mg ==`` is ``42``), a cut-off tail decoded as far as it goes.
    Returns the bytes and the anomaly names met."""
    fast = _base64_fast(data)
    if fast is not None:
        return fast, []
    return _base64_careful(data)


def _base64_careful(data: bytes) -> tuple[bytes, list[str]]:
    """``decode_base64`` the slow way, piece by piece; what ``_base64_fast`` accepts it decodes
    identically and without problems (tested)."""
    problems: list[str] = []
    clean = data.translate(None, b" \t\r\n")
    if clean.translate(None, _B64_ALPHABET):  # anything left is not base64
        problems.append("mime.base64_invalid_chars")
        clean = _B64_NOISE.sub(b"", clean)
    first_pad = clean.find(b"=")
    if len(clean) % 4 == 0 and (first_pad < 0 or first_pad >= len(clean) - 2):
        return binascii.a2b_base64(clean), problems  # one run of whole quanta
    out = bytearray()
    pieces = re.split(rb"=+", clean)
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        last = i == len(pieces) - 1
        rest = len(piece) % 4
        if rest == 1:
            piece = piece[:-1]
            rest = 0
            problems.append("mime.base64_truncated")
        elif rest and last:
            problems.append("mime.base64_truncated")
        if rest:
            piece += b"=" * (4 - rest)
        out += binascii.a2b_base64(piece)
    return bytes(out), problems


_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_SECTION = re.compile(r"^(.+?)\*(\d+)(\*?)$")


def parse_params(value: str, notes: _Notes | None = None) -> tuple[str, dict[str, str]]:
    """``type/sub; name*0*=gbk''%C3%FB; name*1*=%D7%D6`` -> (``type/sub``, {``name``: ``名字``}).

    RFC 2231 sections and charsets, then RFC 2047 words inside values; names lower case; the
    extended form wins over the plain one."""
    notes = notes or _Notes()
    main = value.split(";", 1)[0].strip().lower()
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        name = name.lower()
        section = _SECTION.match(name)
        if section:
            sections.setdefault(section.group(1), {})[int(section.group(2))] = (
                raw,
                bool(section.group(3)),
            )
        elif name.endswith("*"):
            extended.setdefault(name[:-1], _rfc2231_value([(raw, True)], notes))
        else:
            plain.setdefault(name, raw)
    for name, parts in sections.items():
        ordered = [parts[i] for i in sorted(parts)]
        extended.setdefault(name, _rfc2231_value(ordered, notes))
    result = {k: decode_words(v, notes) if "=?" in v else v for k, v in plain.items()}
    result.update(extended)
    return main, result


def _rfc2231_value(sections: list[tuple[str, bool]], notes: _Notes) -> str:
    """Join RFC 2231 sections; the first encoded one may start with ``charset'language'``."""
    charset = ""
    data = bytearray()
    for i, (raw, encoded) in enumerate(sections):
        if encoded:
            if i == 0 and raw.count("'") >= 2:
                charset, _language, raw = raw.split("'", 2)
            data += unquote_to_bytes(raw)
        else:
            data += raw.encode("utf-8")
    if not charset:
        return _header_text(bytes(data))
    return _decode(bytes(data), charset, notes)


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _split_head(data: bytes | bytearray, start: int, end: int) -> tuple[bytes, int]:
    """The header block of the entity ``data[start:end]`` and where its body starts."""
    if data.startswith(b"\r\n", start, end):
        return b"", start + 2
    if data.startswith(b"\n", start, end):
        return b"", start + 1
    match = _BLANK_LINE.search(data, start, end)
    if match is None:
        return _slice(data, start, end), end
    return _slice(data, start, match.start()), match.end()


def _slice(data: bytes | bytearray, start: int, end: int) -> bytes:
    """``bytes(data[start:end])`` with one copy at most (none for a whole ``bytes``)."""
    if isinstance(data, bytes):
        return data[start:end]
    with memoryview(data) as view:
        return view[start:end].tobytes()


def parse_headers(head: bytes, notes: _Notes | None = None) -> list[tuple[str, str]]:
    """Unfolded ``(name, value)`` pairs with encoded words decoded; lines without a colon skipped."""
    notes = notes or _Notes()
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n(?![ \t])", head):
        name, sep, value = line.partition(b":")
        if not sep or not name.strip() or b" " in name.strip():
            continue
        text = _header_text(re.sub(rb"\r?\n[ \t]", b" ", value).strip())
        headers.append((name.strip().decode("latin-1"), decode_words(text, notes)))
    return headers


class _Walker:
    """Walks one message by offsets into its bytes: an entity is ``data[start:end]``, and only
    a leaf's body is ever sliced out (a large mail is not copied once per nesting level)."""

    def __init__(self, data: bytes | bytearray, limits: MimeLimits) -> None:
        self.data = data
        self.limits = limits
        self.notes = _Notes()
        self.parts: list[MimePart] = []
        self.limited = False

    def entity(self, start: int, end: int, path: str, depth: int) -> list[tuple[str, str]]:
        head, body = _split_head(self.data, start, end)
        flags: list[str] = []
        if len(head) > self.limits.max_head_bytes:
            self.notes.add("mime.head_too_large", f"{len(head)} bytes at part {path or 'top'}")
            flags.append("mime_head_too_large")
            head = head[: self.limits.max_head_bytes]
        headers = parse_headers(head, self.notes)
        lookup = {k.lower(): v for k, v in reversed(headers)}
        ctype, cparams = parse_params(lookup.get("content-type", "text/plain"), self.notes)
        if "/" not in ctype:
            ctype = "text/plain"
        if self.limited:
            return headers
        if ctype.startswith("multipart/") or ctype == "message/rfc822":
            if depth >= self.limits.max_depth:
                self.notes.add("mime.depth_limit", f"depth {depth} at part {path or 'top'}")
                flags.append("mime_depth_limit")
            elif ctype == "message/rfc822" and _plain_encoding(lookup):
                self.entity(body, end, path, depth + 1)
                return headers
            elif ctype.startswith("multipart/"):
                boundary = cparams.get("boundary", "")
                if boundary:
                    marker = b"--" + boundary.encode("utf-8", "replace")
                    self._multipart(body, end, marker, path, depth)
                    return headers
                self.notes.add("mime.no_boundary", ctype)
                flags.append("mime_no_boundary")
        self._leaf(body, end, path, ctype, cparams, lookup, flags)
        return headers

    def _multipart(self, start: int, end: int, marker: bytes, path: str, depth: int) -> None:
        part_start: int | None = None
        closed = False
        index = 0
        for begin, after, close in _delimiters(self.data, start, end, marker):
            if part_start is not None:
                index += 1
                if not self._room(part_start, end, path, index):
                    return
                self.entity(part_start, begin, _child(path, index), depth + 1)
            part_start = after
            if close:
                closed = True
                break
        if part_start is None:
            self.notes.add("mime.missing_final_boundary", "no delimiter found")
            self._leaf(start, end, path or "1", "application/octet-stream", {}, {}, ["mime_broken"])
            return
        if not closed:
            self.notes.add("mime.missing_final_boundary", f"part {path or 'top'}")
            index += 1
            if self._room(part_start, end, path, index):
                before = len(self.parts)
                self.entity(part_start, end, _child(path, index), depth + 1)
                for part in self.parts[before:]:
                    part.flags.append("mime_unterminated")

    def _room(self, start: int, end: int, path: str, index: int) -> bool:
        """False (and the rest kept as one part) once the part limit is reached."""
        if len(self.parts) < self.limits.max_parts:
            return True
        self.notes.add("mime.part_limit", f"{self.limits.max_parts} parts")
        rest = _slice(self.data, start, end)
        self.parts.append(
            MimePart(_child(path, index), "application/octet-stream", "", "", "", "", rest)
        )
        self.parts[-1].flags.append("mime_part_limit")
        self.limited = True
        return False

    def _leaf(
        self,
        start: int,
        end: int,
        path: str,
        ctype: str,
        cparams: dict[str, str],
        lookup: dict[str, str],
        flags: list[str],
    ) -> None:
        disposition, dparams = parse_params(lookup.get("content-disposition", ""), self.notes)
        encoding = lookup.get("content-transfer-encoding", "").strip().lower()
        body = _slice(self.data, start, end)
        decoded = body
        if encoding == "base64":
            decoded, problems = decode_base64(body)
            for problem in problems:
                self.notes.add(problem, f"part {path or 'top'}")
                flags.append(problem.replace("mime.", ""))
        elif encoding == "quoted-printable":
            decoded = binascii.a2b_qp(body)
        elif encoding not in ("", "7bit", "8bit", "binary"):
            self.notes.add("mime.unknown_transfer_encoding", encoding)
            flags.append("unknown_transfer_encoding")
        charset = cparams.get("charset", "")
        part = MimePart(
            path=path or "1",  # a single-part message's body is part 1 (as IMAP numbers it)
            content_type=ctype,
            charset=charset,
            filename=dparams.get("filename") or cparams.get("name", ""),
            disposition=disposition,
            transfer_encoding=encoding,
            body=decoded,
            flags=flags,
        )
        if ctype.startswith("text/") and charset:
            codec = python_codec(charset)
            if codec is None:
                self.notes.add("mime.unknown_charset", charset)
            elif codec != "utf-8":
                part.text = _decode(decoded, charset, self.notes).encode("utf-8")
        self.parts.append(part)


def _delimiters(
    data: bytes | bytearray, start: int, end: int, marker: bytes
) -> list[tuple[int, int, bool]]:
    """Delimiter lines ``--boundary`` / ``--boundary--`` at line starts within
    ``data[start:end]``: (begin, after, is_close). ``begin`` includes the line break before the
    delimiter, which belongs to it; ``after`` is past the delimiter line. Found with ``bytes.find``
    (a regex scan of a large mail is far slower)."""
    found: list[tuple[int, int, bool]] = []
    pos = start
    while True:
        at = data.find(marker, pos, end)
        if at < 0:
            return found
        pos = at + len(marker)
        if at > start and data[at - 1] != 0x0A:  # not at a line start
            continue
        close = data.startswith(b"--", pos, end)
        after = pos + 2 if close else pos
        while after < end and data[after] in (0x20, 0x09):
            after += 1
        if after < end and data[after] not in (0x0D, 0x0A):
            continue  # "--boundary" is only a prefix of this line
        if data.startswith(b"\r\n", after, end):
            after += 2
        elif data.startswith(b"\n", after, end) or data.startswith(b"\r", after, end):
            after += 1
        begin = at
        if at - start >= 1 and data[at - 1] == 0x0A:
            begin = at - 2 if at - start >= 2 and data[at - 2] == 0x0D else at - 1
        found.append((begin, after, close))
        if close:
            return found
        pos = after


def _plain_encoding(lookup: dict[str, str]) -> bool:
    return lookup.get("content-transfer-encoding", "").strip().lower() in ("", "7bit", "8bit")


def _child(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def parse_message(data: bytes | bytearray, limits: MimeLimits | None = None) -> MimeMessage:
    """Split a whole message into its leaves; never raises on malformed input. A ``bytearray``
    (the SMTP layer's message buffer) is read in place, not copied."""
    walker = _Walker(data, limits or MimeLimits())
    headers = walker.entity(0, len(data), "", 0)
    return MimeMessage(headers, walker.parts, walker.notes.items)
