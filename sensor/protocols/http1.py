"""HTTP/1.x request parser (client to server direction), Sans-IO.

Feed it the originator's byte stream; it returns ``RequestHead``, ``BodyData``, ``BodyGap`` and
``MessageEnd`` events, plus ``ParseAnomaly`` for anything malformed. Message framing follows RFC 9112
section 6.3: Transfer-Encoding chunked wins over Content-Length (and the pair is an anomaly, since it
is how request smuggling hides a body); a request with neither has no body.

After a gap inside the headers the parser cannot know where the next request starts, so it scans
forward for a request line (``desync`` state) instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A request head larger than this is hostile or not HTTP: Apache and nginx refuse at 8-16 KiB per
# line; 64 KiB for the whole head leaves room for big cookies while bounding memory per flow.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 200  # the same order as common servers' limits (Apache: 100, Go: ~1 MB total)
MAX_CHUNK_LINE = 1024

_REQUEST_LINE = re.compile(rb"^([A-Z][A-Z0-9_-]{0,31}) (\S{1,16384}) (HTTP/1\.[01])$")
_RESYNC = re.compile(rb"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP/1\.[01]\r\n")


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


@dataclass(frozen=True, slots=True)
class BodyData:
    data: bytes


@dataclass(frozen=True, slots=True)
class BodyGap:
    length: int


@dataclass(frozen=True, slots=True)
class MessageEnd:
    complete: bool  # False when the stream ended or broke before the declared body length


@dataclass(frozen=True, slots=True)
class ParseAnomaly:
    name: str
    detail: str = ""


HttpEvent = RequestHead | BodyData | BodyGap | MessageEnd | ParseAnomaly


class Http1RequestParser:
    """Parses a stream of HTTP/1.x requests; see the module docstring."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._searched = 0  # how far the buffer was already searched for the end of the head
        self._state = "head"
        self._remaining = 0  # body bytes left (length framing) or in the current chunk
        self._in_message = False
        self.tunnelled_bytes = 0

    @property
    def state(self) -> str:
        return self._state

    def feed(self, data: bytes) -> list[HttpEvent]:
        events: list[HttpEvent] = []
        if self._state == "tunnel":
            self.tunnelled_bytes += len(data)
            return events
        self._buf += data
        progress = True
        while progress and self._buf:
            progress = getattr(self, f"_on_{self._state}")(events)
        return events

    def gap(self, length: int) -> list[HttpEvent]:
        """``length`` bytes of the stream are missing."""
        events: list[HttpEvent] = []
        if self._state == "tunnel":
            return events
        if self._state == "body" and not self._buf and self._remaining >= length:
            self._remaining -= length
            events.append(BodyGap(length))
            if self._remaining == 0:
                self._end(events, complete=True)
            return events
        events.append(
            ParseAnomaly("http.gap_lost_sync", f"{length} bytes missing in {self._state}")
        )
        if self._in_message:
            self._end(events, complete=False)
        self._buf.clear()
        self._searched = 0
        self._state = "desync"
        return events

    def close(self) -> list[HttpEvent]:
        events: list[HttpEvent] = []
        if self._in_message:
            events.append(ParseAnomaly("http.truncated_message", f"stream ended in {self._state}"))
            self._end(events, complete=False)
        elif self._buf.strip() and self._state == "head":
            events.append(ParseAnomaly("http.trailing_garbage", f"{len(self._buf)} bytes"))
        self._buf.clear()
        return events

    # -- states: each returns True if it consumed input and the loop should continue ---------

    def _on_desync(self, events: list[HttpEvent]) -> bool:
        match = _RESYNC.search(self._buf)
        if match is None:
            del self._buf[: max(0, len(self._buf) - 64)]  # keep a tail in case a line straddles
            return False
        del self._buf[: match.start()]
        self._state = "head"
        self._searched = 0
        return True

    def _on_head(self, events: list[HttpEvent]) -> bool:
        while self._buf[:2] == b"\r\n":  # tolerated: stray CRLF between requests (RFC 9112 2.2)
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n", max(0, self._searched - 3))
        if end < 0:
            self._searched = len(self._buf)
            if len(self._buf) > MAX_HEAD_BYTES:
                events.append(ParseAnomaly("http.head_too_large", f">{MAX_HEAD_BYTES} bytes"))
                self._buf.clear()
                self._state = "desync"
                return True
            return False
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        self._searched = 0
        lines = head.split(b"\r\n")
        match = _REQUEST_LINE.match(lines[0])
        if match is None:
            events.append(ParseAnomaly("http.bad_request_line", lines[0][:80].decode("latin-1")))
            self._state = "desync"
            return True
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                events.append(ParseAnomaly("http.bad_header_line", line[:80].decode("latin-1")))
                continue
            if len(headers) == MAX_HEADERS:
                events.append(ParseAnomaly("http.too_many_headers", f">{MAX_HEADERS}"))
                break
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        request = RequestHead(
            match.group(1).decode(),
            match.group(2).decode("latin-1"),
            match.group(3).decode(),
            tuple(headers),
        )
        events.append(request)
        self._in_message = True
        self._frame_body(request, events)
        return True

    def _frame_body(self, request: RequestHead, events: list[HttpEvent]) -> None:
        transfer_encoding = (request.header("Transfer-Encoding") or "").lower()
        lengths = {v.strip() for k, v in request.headers if k.lower() == "content-length"}
        if request.method == "CONNECT" or request.header("Upgrade"):
            self._end(events, complete=True)
            self._state = "tunnel"
            self.tunnelled_bytes += len(self._buf)
            self._buf.clear()
            return
        if transfer_encoding:
            if lengths:
                events.append(ParseAnomaly("http.te_and_content_length", "chunked framing used"))
            if transfer_encoding.replace(" ", "").split(",")[-1] == "chunked":
                self._state = "chunk_size"
                return
            events.append(ParseAnomaly("http.unsupported_transfer_encoding", transfer_encoding))
            self._end(events, complete=False)
            self._state = "desync"
            return
        if len(lengths) > 1:
            events.append(
                ParseAnomaly("http.conflicting_content_length", ",".join(sorted(lengths)))
            )
            self._end(events, complete=False)
            self._state = "desync"
            return
        length_text = lengths.pop() if lengths else "0"
        if not length_text.isdigit():
            events.append(ParseAnomaly("http.bad_content_length", length_text[:40]))
            self._end(events, complete=False)
            self._state = "desync"
            return
        self._remaining = int(length_text)
        if self._remaining == 0:
            self._end(events, complete=True)
        else:
            self._state = "body"

    def _on_body(self, events: list[HttpEvent]) -> bool:
        take = min(self._remaining, len(self._buf))
        events.append(BodyData(bytes(self._buf[:take])))
        del self._buf[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._end(events, complete=True)
        return True

    def _on_chunk_size(self, events: list[HttpEvent]) -> bool:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > MAX_CHUNK_LINE:
                events.append(ParseAnomaly("http.bad_chunk_size", "chunk-size line too long"))
                self._end(events, complete=False)
                self._state = "desync"
                return True
            return False
        size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
        del self._buf[: end + 2]
        try:
            size = int(size_text, 16)
        except ValueError:
            size = -1
        if size < 0 or len(size_text) > 15:
            events.append(ParseAnomaly("http.bad_chunk_size", size_text[:40].decode("latin-1")))
            self._end(events, complete=False)
            self._state = "desync"
            return True
        self._remaining = size
        self._state = "chunk_data" if size else "trailers"
        return True

    def _on_chunk_data(self, events: list[HttpEvent]) -> bool:
        if self._remaining:
            take = min(self._remaining, len(self._buf))
            events.append(BodyData(bytes(self._buf[:take])))
            del self._buf[:take]
            self._remaining -= take
            return True
        if len(self._buf) < 2:
            return False
        if self._buf[:2] != b"\r\n":
            events.append(ParseAnomaly("http.bad_chunk_terminator"))
        else:
            del self._buf[:2]
        self._state = "chunk_size"
        return True

    def _on_trailers(self, events: list[HttpEvent]) -> bool:
        if self._buf[:2] == b"\r\n":
            del self._buf[:2]
            self._end(events, complete=True)
            return True
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        del self._buf[: end + 4]
        self._end(events, complete=True)
        return True

    def _on_tunnel(self, events: list[HttpEvent]) -> bool:
        self.tunnelled_bytes += len(self._buf)
        self._buf.clear()
        return False

    def _end(self, events: list[HttpEvent], complete: bool) -> None:
        events.append(MessageEnd(complete))
        self._in_message = False
        if self._state not in ("desync", "tunnel"):
            self._state = "head"
