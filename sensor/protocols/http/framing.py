"""Machinery shared by the HTTP/1 request and response parsers: heads, body framing, gaps.

``MessageParser`` is a state machine over one direction's byte stream. States are methods named
``_on_<state>``; each consumes what it can from the buffer and returns True if the loop should run
again. Subclasses parse the start line (``_on_start``) and decide the body framing with
``_frame_body``; everything after the head (Content-Length bodies, chunked bodies with trailers,
bodies delimited by the connection closing, gaps, resynchronisation, tunnels) lives here.

Framing follows RFC 9112 section 6.3: Transfer-Encoding wins over Content-Length (the pair is an
anomaly, since it is how request smuggling hides a body), differing Content-Length values are an
error, a Transfer-Encoding whose last coding is not chunked means "until close" for a response and
is unparseable for a request.

After a gap the parser cannot know where the next message starts unless the gap fell inside a body
of known length; it then scans forward for a start line (``desync`` state) instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensor.protocols.http.events import (
    BodyData,
    BodyGap,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
)

# A head larger than this is hostile or not HTTP: Apache and nginx refuse at 8-16 KiB per line;
# 64 KiB for the whole head leaves room for big cookies while bounding memory per flow.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 200  # the same order as common servers' limits (Apache: 100, Go: ~1 MB total)
MAX_CHUNK_LINE = 1024  # a hex size plus extensions; longer is garbage or an extension flood
MAX_TRAILER_BYTES = 16 * 1024  # trailers are rare and small; bound them like a head
DESYNC_TAIL = 64  # bytes kept while scanning for a start line, in case one straddles two feeds
TUNNEL_PREFIX_BYTES = 16  # first tunnelled bytes kept to recognise TLS inside CONNECT
QUIET_UNBOUNDED = 1 << 62  # ``quiet_bytes`` of a body that runs until the connection closes

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")  # int() alone would take "1_0", "+a" and spaces

Headers = tuple[tuple[str, str], ...]


def parse_header_lines(lines: list[bytes], events: list[HttpEvent]) -> Headers:
    """Header fields from raw lines (CR already stripped), with folded lines joined.

    Obsolete line folding (RFC 9112 5.2) is joined with a space and counted; lines without a
    colon or with whitespace before it are counted and skipped; at most ``MAX_HEADERS`` kept.
    """
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and headers:
            events.append(ParseAnomaly("http.obs_fold", line[:80].decode("latin-1")))
            last_name, last_value = headers[-1]
            folded = f"{last_value} {line.strip().decode('latin-1')}".strip()
            headers[-1] = (last_name, folded)
            continue
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            events.append(ParseAnomaly("http.bad_header_line", line[:80].decode("latin-1")))
            continue
        if len(headers) == MAX_HEADERS:
            events.append(ParseAnomaly("http.too_many_headers", f">{MAX_HEADERS}"))
            break
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return tuple(headers)


def parse_length(text: str | None) -> int | None:
    """A Content-Length value as an int, or None unless it is 1-18 ASCII digits."""
    if text is None or not re.fullmatch(r"[0-9]{1,18}", text.strip()):
        return None
    return int(text)


def header_values(headers: Headers, name: str) -> list[str]:
    """Every value of ``name``, comma-separated lists split, lower-cased, empty items dropped."""
    lname = name.lower()
    out: list[str] = []
    for key, value in headers:
        if key.lower() == lname:
            out += [v.strip().lower() for v in value.split(",") if v.strip()]
    return out


class MessageParser:
    """One direction of an HTTP/1 connection; see the module docstring."""

    _resync: re.Pattern[bytes]  # a start line, searched for after losing sync

    def __init__(self) -> None:
        self._buf = bytearray()
        self._searched = 0  # how far the buffer was already searched for the end of the head
        self._state = "head"
        self._remaining = 0  # body bytes left (length framing) or in the current chunk
        self._in_message = False
        self._after_message = "head"  # state to enter when the current message ends
        self.tunnelled_bytes = 0  # bytes after a protocol switch, counted and not parsed
        self.tunnel_prefix = b""  # the first of them, to tell what the tunnel carries
        self.tunnel_kind = ""  # "connect" or "upgrade:<protocol>" once tunnelling
        # told every tunnelled byte (kind, bytes), e.g. to read TLS hellos inside a CONNECT
        self.on_tunnel: Callable[[str, bytes], None] | None = None

    @property
    def state(self) -> str:
        return self._state

    def quiet_bytes(self) -> int:
        """How many of the next bytes are plain body that ``feed`` turns into ``BodyData`` and
        nothing else, however they are split: the rest of a Content-Length body but its last
        byte (which ends the message), the rest of a chunk, or anything of a body that runs to
        the close. 0 while a head, chunk line or trailer is being read or bytes wait in the
        buffer (the batch path delivers that many bytes in one call: ``HttpTransfers.quiet``)."""
        if self._buf:
            return 0
        state = self._state
        if state == "body":
            return self._remaining - 1
        if state == "chunk_data":
            return self._remaining
        if state == "until_close":
            return QUIET_UNBOUNDED
        return 0

    def feed(self, data: bytes) -> list[HttpEvent]:
        events: list[HttpEvent] = []
        if self._state == "tunnel":
            self._tunnel(data)
            return events
        self._buf += data
        self._run(events)
        return events

    def gap(self, length: int) -> list[HttpEvent]:
        """``length`` bytes of the stream are missing."""
        events: list[HttpEvent] = []
        if self._state == "tunnel":
            self.tunnelled_bytes += length
            return events
        if self._state == "until_close" and not self._buf:
            events.append(BodyGap(length))
            return events
        if self._state in ("body", "chunk_data") and not self._buf and self._remaining >= length:
            self._remaining -= length
            events.append(BodyGap(length))
            if self._remaining == 0 and self._state == "body":
                self._end(events, complete=True)
            return events
        events.append(
            ParseAnomaly("http.gap_lost_sync", f"{length} bytes missing in {self._state}")
        )
        if self._in_message:
            self._end(events, complete=False)
        self._lose_sync()
        return events

    def close(self) -> list[HttpEvent]:
        """The stream ended: finish what the buffer holds and end any open message."""
        events: list[HttpEvent] = []
        if self._state != "tunnel":
            self._run(events)
        if self._state == "until_close":
            self._end(events, complete=True)
        elif self._in_message:
            events.append(ParseAnomaly("http.truncated_message", f"stream ended in {self._state}"))
            self._end(events, complete=False)
        elif self._buf.strip() and self._state == "head":
            events.append(ParseAnomaly("http.trailing_garbage", f"{len(self._buf)} bytes"))
        self._buf.clear()
        return events

    # -- hooks for subclasses -----------------------------------------------------------------

    def _on_start(self, start: bytes, headers: Headers, events: list[HttpEvent]) -> None:
        raise NotImplementedError

    # -- shared helpers -----------------------------------------------------------------------

    def _run(self, events: list[HttpEvent]) -> None:
        progress = True
        while progress and self._buf:
            progress = getattr(self, f"_on_{self._state}")(events)

    def _lose_sync(self) -> None:
        self._buf.clear()
        self._searched = 0
        self._after_message = "head"
        self._state = "desync"

    def _tunnel(self, data: bytes | bytearray) -> None:
        if len(self.tunnel_prefix) < TUNNEL_PREFIX_BYTES:
            self.tunnel_prefix += bytes(data[: TUNNEL_PREFIX_BYTES - len(self.tunnel_prefix)])
        self.tunnelled_bytes += len(data)
        if self.on_tunnel is not None and data:
            self.on_tunnel(self.tunnel_kind, bytes(data))

    def _enter_tunnel(self, kind: str) -> None:
        self._state = "tunnel"
        self.tunnel_kind = kind
        self._tunnel(self._buf)
        self._buf.clear()

    def _frame_body(
        self, headers: Headers, events: list[HttpEvent], *, until_close_allowed: bool
    ) -> None:
        """Choose the body framing after a head (RFC 9112 6.3 steps 3 to 8)."""
        codings = header_values(headers, "Transfer-Encoding")
        lengths = {v.strip() for k, v in headers if k.lower() == "content-length"}
        if codings:
            if lengths:
                events.append(ParseAnomaly("http.te_and_content_length", "chunked framing used"))
            if codings[-1] == "chunked":
                self._state = "chunk_size"
                return
            events.append(ParseAnomaly("http.unsupported_transfer_encoding", ",".join(codings)))
            if until_close_allowed:
                self._state = "until_close"
                return
            self._end(events, complete=False)
            self._lose_sync()
            return
        if len(lengths) > 1:
            events.append(
                ParseAnomaly("http.conflicting_content_length", ",".join(sorted(lengths)))
            )
            self._end(events, complete=False)
            self._lose_sync()
            return
        if not lengths:
            if until_close_allowed:
                self._state = "until_close"
            else:
                self._end(events, complete=True)
            return
        length_text = lengths.pop()
        length = parse_length(length_text)
        if length is None:
            events.append(ParseAnomaly("http.bad_content_length", length_text[:40]))
            self._end(events, complete=False)
            self._lose_sync()
            return
        self._remaining = length
        if self._remaining == 0:
            self._end(events, complete=True)
        else:
            self._state = "body"

    def _end(self, events: list[HttpEvent], complete: bool) -> None:
        events.append(MessageEnd(complete))
        self._in_message = False
        if self._state not in ("desync", "tunnel"):
            self._state = self._after_message
        self._after_message = "head"

    # -- states: each returns True if it consumed input and the loop should continue ---------

    def _on_desync(self, events: list[HttpEvent]) -> bool:
        match = self._resync.search(self._buf)
        if match is None:
            del self._buf[: max(0, len(self._buf) - DESYNC_TAIL)]
            return False
        del self._buf[: match.start()]
        self._state = "head"
        self._searched = 0
        return True

    def _on_head(self, events: list[HttpEvent]) -> bool:
        while self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":  # stray CRLF (RFC 9112 2.2)
            del self._buf[: 2 if self._buf[:1] == b"\r" else 1]
            self._searched = 0
        if not self._buf:
            return False
        match = _HEAD_END.search(self._buf, max(0, self._searched - 3))
        if match is None:
            self._searched = len(self._buf)
            if len(self._buf) > MAX_HEAD_BYTES:
                events.append(ParseAnomaly("http.head_too_large", f">{MAX_HEAD_BYTES} bytes"))
                self._lose_sync()
                return True
            return False
        if match.start() > MAX_HEAD_BYTES:
            events.append(ParseAnomaly("http.head_too_large", f">{MAX_HEAD_BYTES} bytes"))
            self._lose_sync()
            return True
        lines = [line.rstrip(b"\r") for line in bytes(self._buf[: match.start()]).split(b"\n")]
        del self._buf[: match.end()]
        self._searched = 0
        headers = parse_header_lines(lines[1:], events)
        self._on_start(lines[0], headers, events)
        return True

    def _on_body(self, events: list[HttpEvent]) -> bool:
        take = min(self._remaining, len(self._buf))
        events.append(BodyData(bytes(self._buf[:take])))
        del self._buf[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._end(events, complete=True)
        return True

    def _on_until_close(self, events: list[HttpEvent]) -> bool:
        events.append(BodyData(bytes(self._buf)))
        self._buf.clear()
        return False

    def _on_chunk_size(self, events: list[HttpEvent]) -> bool:
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_CHUNK_LINE:
                events.append(ParseAnomaly("http.bad_chunk_size", "chunk-size line too long"))
                self._end(events, complete=False)
                self._lose_sync()
                return True
            return False
        size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
        del self._buf[: end + 1]
        if not _CHUNK_SIZE.fullmatch(size_text):
            events.append(ParseAnomaly("http.bad_chunk_size", size_text[:40].decode("latin-1")))
            self._end(events, complete=False)
            self._lose_sync()
            return True
        size = int(size_text, 16)
        self._remaining = size
        self._state = "chunk_data" if size else "trailers"
        self._searched = 0
        return True

    def _on_chunk_data(self, events: list[HttpEvent]) -> bool:
        if self._remaining:
            take = min(self._remaining, len(self._buf))
            events.append(BodyData(bytes(self._buf[:take])))
            del self._buf[:take]
            self._remaining -= take
            return True
        if self._buf[:2] == b"\r\n":
            del self._buf[:2]
        elif self._buf[:1] == b"\n":
            del self._buf[:1]
        elif self._buf[:1] == b"\r" and len(self._buf) < 2:
            return False
        else:
            events.append(ParseAnomaly("http.bad_chunk_terminator"))
        self._state = "chunk_size"
        return True

    def _on_trailers(self, events: list[HttpEvent]) -> bool:
        if self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
            del self._buf[: 2 if self._buf[:1] == b"\r" else 1]
            self._end(events, complete=True)
            return True
        if self._buf == b"\r":
            return False
        match = _HEAD_END.search(self._buf, max(0, self._searched - 3))
        if match is None:
            self._searched = len(self._buf)
            if len(self._buf) > MAX_TRAILER_BYTES:
                events.append(ParseAnomaly("http.trailers_too_large", f">{MAX_TRAILER_BYTES}"))
                self._end(events, complete=True)  # the body itself was whole
                self._lose_sync()
                return True
            return False
        del self._buf[: match.end()]
        self._searched = 0
        self._end(events, complete=True)
        return True

    def _on_tunnel(self, events: list[HttpEvent]) -> bool:
        self._tunnel(self._buf)
        self._buf.clear()
        return False
