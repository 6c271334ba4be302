"""HTTP/1.x response parser (server to client), Sans-IO.

Responses are framed by what they answer, so the parser is told each request head in order
(``expect``) and pairs responses with them first in, first out, which is what keep-alive and
pipelining require (RFC 9112 9.3.2). Each ``ResponseHead`` carries its request, so a download knows
its method and URL.

Framing (RFC 9112 6.3): responses to HEAD and 1xx/204/304 responses have no body; a 2xx answer to
CONNECT and a 101 switch the connection to a tunnel (``TunnelStart``); otherwise chunked or
Content-Length as for requests, and with neither the body runs until the connection closes (the
HTTP/1.0 way), which ``close()`` reports as a complete message. Interim 1xx responses (100-continue,
103) are reported and leave the request waiting for its final response.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensor.protocols.http.events import (
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    ResponseHead,
    TunnelStart,
)
from sensor.protocols.http.framing import Headers, MessageParser, header_values

# Requests a client may send ahead of the answers: browsers pipeline a handful; past this the
# capture is one-way or the client hostile, and the oldest request is forgotten (counted).
MAX_PENDING_REQUESTS = 256

_STATUS_LINE = re.compile(rb"^(HTTP/1\.[01])[ \t]+(\d{3})(?:[ \t]+(.*?))?[ \t]*$")
_RESYNC = re.compile(rb"HTTP/1\.[01] \d{3}[^\r\n]*\r?\n")


class Http1ResponseParser(MessageParser):
    """Parses a stream of HTTP/1.x responses; see the module docstring."""

    _resync = _RESYNC

    def __init__(self, on_final: Callable[[ResponseHead], None] | None = None) -> None:
        super().__init__()
        self._on_final = on_final  # told of each final response before the next is parsed
        # a list, not a deque: a deque costs 760 bytes per flow; the queue holds a few heads
        # (at most MAX_PENDING_REQUESTS = 256), so pop(0) stays cheap
        self._pending: list[RequestHead] = []
        self.overflowed_requests = 0

    def expect(self, request: RequestHead) -> list[HttpEvent]:
        """The client sent ``request``; its response is due after those already expected."""
        events: list[HttpEvent] = []
        if len(self._pending) == MAX_PENDING_REQUESTS:
            self._pending.pop(0)
            self.overflowed_requests += 1
            events.append(
                ParseAnomaly("http.too_many_pending_requests", f">{MAX_PENDING_REQUESTS}")
            )
        self._pending.append(request)
        return events

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _on_start(self, start: bytes, headers: Headers, events: list[HttpEvent]) -> None:
        match = _STATUS_LINE.match(start)
        if match is None:
            events.append(ParseAnomaly("http.bad_status_line", start[:80].decode("latin-1")))
            self._lose_sync()
            return
        status = int(match.group(2))
        request = self._pending[0] if self._pending else None
        head = ResponseHead(
            match.group(1).decode(),
            status,
            (match.group(3) or b"").decode("latin-1"),
            headers,
            request,
        )
        events.append(head)
        if head.interim:
            return  # the final response to the same request follows
        if request is None:
            events.append(ParseAnomaly("http.response_without_request", str(status)))
        else:
            self._pending.pop(0)
        if self._on_final is not None:
            self._on_final(head)
        self._in_message = True
        method = request.method if request is not None else ""
        if status == 101:
            protocols = header_values(headers, "Upgrade")
            self._switch(events, f"upgrade:{protocols[0] if protocols else ''}")
            return
        if method == "CONNECT" and 200 <= status < 300:
            self._switch(events, "connect")
            return
        if method == "HEAD" or status in (204, 304) or status < 200:
            self._end(events, complete=True)
            return
        self._frame_body(headers, events, until_close_allowed=True)

    def _switch(self, events: list[HttpEvent], kind: str) -> None:
        events.append(MessageEnd(True))
        self._in_message = False
        events.append(TunnelStart(kind, confirmed=True))
        self._enter_tunnel(kind)
