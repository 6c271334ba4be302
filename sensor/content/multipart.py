"""Streaming multipart parser (multipart/form-data, multipart/byteranges), Sans-IO.

Feed it a multipart body as it arrives; it returns ``PartStart`` (part headers with the form field
name, filename and Content-Range), ``PartData``, ``PartGap`` and ``PartEnd`` events, plus
``MultipartAnomaly``. Nothing is held but the part headers and a delimiter's length of tail, so a
large upload streams through.

Edge cases handled as browsers and servers meet them (RFC 2046 5.1.1, RFC 7578):

- the body may start with the delimiter directly (no CRLF before the first one) or with a preamble;
- lines may end in bare LF; a CR just before a delimiter belongs to the delimiter;
- whitespace after a delimiter ("transport padding") is skipped; other text there is counted;
- the close delimiter ``--boundary--`` ends the body and the epilogue is ignored; a body that ends
  without it leaves its last part incomplete (``PartEnd(False)`` and
  ``multipart.missing_final_boundary``);
- filenames come from ``filename*`` (RFC 5987, UTF-8) before ``filename``; raw UTF-8 bytes in
  headers (what browsers send) are decoded as UTF-8, anything else as Latin-1;
- past ``MAX_PARTS`` parts the rest of the body becomes one last part, so an upload hidden behind
  thousands of decoy fields is still inspected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MAX_PART_HEAD_BYTES = 16 * 1024  # part headers are a few lines; bound them like an HTTP head
MAX_PARTS = 1000  # form fields per request; beyond this the remainder is kept as one part
MAX_BOUNDARY = 200  # RFC 2046 allows 70; some clients exceed it a little, none by this much
MAX_DELIMITER_LINE = 1024  # padding after a delimiter before the line must end

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_HEAD_END = re.compile(rb"\r?\n\r?\n")


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/sub; a=1; b="x y"`` -> (``type/sub``, {``a``: ``1``, ``b``: ``x y``}), names lower."""
    main = value.split(";", 1)[0].strip().lower()
    params: dict[str, str] = {}
    for name, raw in _PARAM.findall(value):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(name.lower(), raw)
    return main, params


def boundary_of(content_type: str) -> bytes | None:
    """The boundary parameter of a multipart Content-Type, or None if absent or unusable."""
    main, params = header_params(content_type)
    boundary = params.get("boundary", "")
    if not main.startswith("multipart/") or not boundary or len(boundary) > MAX_BOUNDARY:
        return None
    return boundary.encode("latin-1", "replace")


def _decode_header(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(frozen=True, slots=True)
class PartStart:
    headers: tuple[tuple[str, str], ...]
    name: str  # the form field name (Content-Disposition name=)
    filename: str  # the uploaded file's name, "" for a plain field
    content_type: str
    content_range: str  # multipart/byteranges parts
    overflow: bool = False  # the rest of the body past MAX_PARTS, kept as one part

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


@dataclass(frozen=True, slots=True)
class PartGap:
    length: int


@dataclass(frozen=True, slots=True)
class PartEnd:
    complete: bool  # False when the body ended or broke inside the part


@dataclass(frozen=True, slots=True)
class MultipartAnomaly:
    name: str
    detail: str = ""


MultipartEvent = PartStart | PartData | PartGap | PartEnd | MultipartAnomaly


def _part_start(head: bytes) -> PartStart:
    headers: list[tuple[str, str]] = []
    for line in head.split(b"\n"):
        name, sep, value = line.rstrip(b"\r").partition(b":")
        if sep and name.strip():
            headers.append((name.strip().decode("latin-1"), _decode_header(value.strip())))
    lookup = {k.lower(): v for k, v in reversed(headers)}
    _, disposition = header_params(lookup.get("content-disposition", ""))
    filename = disposition.get("filename", "")
    extended = disposition.get("filename*", "")
    if extended and "''" in extended:
        charset, _, encoded = extended.partition("''")
        try:
            filename = unquote(encoded, encoding=charset or "utf-8", errors="replace")
        except LookupError:
            filename = unquote(encoded)
    return PartStart(
        tuple(headers),
        disposition.get("name", ""),
        filename,
        lookup.get("content-type", ""),
        lookup.get("content-range", ""),
    )


class MultipartParser:
    """Splits one multipart body into parts; see the module docstring."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\n--" + boundary
        self._buf = bytearray(b"\n")  # so a body that starts with the delimiter is found too
        self._state = "preamble"
        self._in_part = False
        self.parts = 0
        self.ended = False  # the close delimiter was seen

    def feed(self, data: bytes) -> list[MultipartEvent]:
        events: list[MultipartEvent] = []
        if self._state == "epilogue":
            return events
        self._buf += data
        while self._buf and getattr(self, f"_on_{self._state}")(events):
            pass
        return events

    def gap(self, length: int) -> list[MultipartEvent]:
        """``length`` body bytes are missing; a part in progress keeps going with a hole."""
        events: list[MultipartEvent] = []
        if self._state == "epilogue":
            return events
        if self._state in ("data", "overflow"):
            if self._buf:
                events.append(PartData(bytes(self._buf)))
                self._buf.clear()
            events.append(PartGap(length))
            return events
        events.append(MultipartAnomaly("multipart.gap_lost_sync", f"{length} bytes"))
        self._buf = bytearray(b"\n")
        self._state = "preamble"
        return events

    def close(self) -> list[MultipartEvent]:
        """The body ended (``ended`` says whether the close delimiter had been seen)."""
        events: list[MultipartEvent] = []
        overflow = self._state == "overflow"
        if self._state in ("data", "overflow"):
            if self._buf:
                events.append(PartData(bytes(self._buf)))
            events.append(PartEnd(complete=overflow))  # the remainder was kept whole
        if not self.ended and not overflow:
            events.append(
                MultipartAnomaly("multipart.missing_final_boundary", f"after {self.parts} parts")
            )
        self._buf.clear()
        self._state = "epilogue"
        return events

    # -- states ---------------------------------------------------------------------------

    def _on_preamble(self, events: list[MultipartEvent]) -> bool:
        at = self._buf.find(self._delimiter)
        if at < 0:
            del self._buf[: max(0, len(self._buf) - len(self._delimiter))]
            return False
        del self._buf[: at + len(self._delimiter)]
        self._state = "after_delimiter"
        return True

    def _on_after_delimiter(self, events: list[MultipartEvent]) -> bool:
        if len(self._buf) < 2:
            return False
        if self._buf[:2] == b"--":
            self.ended = True
            self._state = "epilogue"
            self._buf.clear()
            return False
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_DELIMITER_LINE:
                events.append(MultipartAnomaly("multipart.bad_delimiter_line", "too long"))
                self._state = "preamble"
                return True
            return False
        padding = bytes(self._buf[:end]).rstrip(b"\r")
        if padding.strip(b" \t"):
            events.append(
                MultipartAnomaly("multipart.bad_delimiter_line", padding[:40].decode("latin-1"))
            )
        del self._buf[: end + 1]
        self._state = "part_head"
        return True

    def _on_part_head(self, events: list[MultipartEvent]) -> bool:
        if self._buf[:1] == b"\n" or self._buf[:2] == b"\r\n":  # a part without headers
            head_end, body_start = 0, (1 if self._buf[:1] == b"\n" else 2)
        elif self._buf == b"\r":
            return False
        else:
            match = _HEAD_END.search(self._buf)
            if match is None:
                if len(self._buf) > MAX_PART_HEAD_BYTES:
                    events.append(
                        MultipartAnomaly("multipart.part_head_too_large", f">{MAX_PART_HEAD_BYTES}")
                    )
                    self._state = "preamble"
                    return True
                return False
            head_end, body_start = match.start(), match.end()
        start = _part_start(bytes(self._buf[:head_end]))
        del self._buf[:body_start]
        self.parts += 1
        if self.parts > MAX_PARTS:
            events.append(MultipartAnomaly("multipart.too_many_parts", f">{MAX_PARTS}"))
            start = PartStart(start.headers, "", "", "", "", overflow=True)
            self._state = "overflow"
        else:
            self._state = "data"
        if start.content_type.startswith("multipart/"):
            events.append(MultipartAnomaly("multipart.nested", start.content_type[:60]))
        events.append(start)
        return True

    def _on_data(self, events: list[MultipartEvent]) -> bool:
        at = self._buf.find(self._delimiter)
        if at < 0:
            keep = len(self._delimiter)  # a delimiter may start in the tail, with its CR before
            if len(self._buf) > keep:
                events.append(PartData(bytes(self._buf[:-keep])))
                del self._buf[:-keep]
            return False
        end = at - 1 if at > 0 and self._buf[at - 1] == 0x0D else at
        if end:
            events.append(PartData(bytes(self._buf[:end])))
        events.append(PartEnd(complete=True))
        del self._buf[: at + len(self._delimiter)]
        self._state = "after_delimiter"
        return True

    def _on_overflow(self, events: list[MultipartEvent]) -> bool:
        events.append(PartData(bytes(self._buf)))
        self._buf.clear()
        return False

    def _on_epilogue(self, events: list[MultipartEvent]) -> bool:
        self._buf.clear()
        return False
