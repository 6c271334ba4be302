"""HTTP/1.x request parser (client to server), Sans-IO.

Feed it the client's byte stream; it returns ``RequestHead``, ``BodyData``, ``BodyGap`` and
``MessageEnd`` events, plus ``ParseAnomaly`` for anything malformed. A request with neither
Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3 step 8).

CONNECT and requests carrying ``Upgrade`` may switch the connection to another protocol, but only
if the server agrees (2xx to CONNECT, 101 to Upgrade). After such a request the parser waits
(``switch_wait``), holding what the client sends next, until ``switch()`` or ``resume()`` says how
the server answered. If the answer never comes (one-way capture) it decides alone once
``SWITCH_WAIT_BYTES`` are held or the stream ends: a CONNECT becomes a tunnel, an Upgrade resumes
HTTP if the held bytes start with a request line.
"""

from __future__ import annotations

import re

from sensor.protocols.http.events import (
    HttpEvent,
    ParseAnomaly,
    RequestHead,
    TunnelStart,
)
from sensor.protocols.http.framing import Headers, MessageParser, header_values

# What a client sends before it sees the answer to CONNECT/Upgrade is small (a TLS ClientHello is
# under 2 KiB, a WebSocket client does not speak first); holding 64 KiB is plenty and bounded.
SWITCH_WAIT_BYTES = 64 * 1024

_REQUEST_LINE = re.compile(rb"^([A-Z][A-Z0-9_-]{0,31}) (\S{1,16384}) (HTTP/1\.[01])$")
_RESYNC = re.compile(
    rb"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|PROPFIND|MKCOL|COPY|MOVE|LOCK|UNLOCK)"
    rb" \S+ HTTP/1\.[01]\r?\n"
)


class Http1RequestParser(MessageParser):
    """Parses a stream of HTTP/1.x requests; see the module docstring."""

    _resync = _RESYNC

    def __init__(self) -> None:
        super().__init__()
        self.switch_request: RequestHead | None = None  # the CONNECT/Upgrade awaiting an answer
        self._switch_kind = ""

    def switch(self) -> list[HttpEvent]:
        """The server accepted the protocol switch: everything from here on is tunnelled."""
        events: list[HttpEvent] = []
        if self._state != "switch_wait":
            return events
        events.append(TunnelStart(self._switch_kind, confirmed=True))
        self.switch_request = None
        self._enter_tunnel(self._switch_kind)
        return events

    def resume(self) -> list[HttpEvent]:
        """The server refused the switch: parse the held bytes (and what follows) as HTTP."""
        events: list[HttpEvent] = []
        if self._state != "switch_wait":
            return events
        self.switch_request = None
        self._state = "head"
        self._run(events)
        return events

    def close(self) -> list[HttpEvent]:
        events: list[HttpEvent] = []
        if self._state == "switch_wait" and self._buf:
            events += self._decide_alone()
        return events + super().close()

    def _on_start(self, start: bytes, headers: Headers, events: list[HttpEvent]) -> None:
        match = _REQUEST_LINE.match(start)
        if match is None:
            events.append(ParseAnomaly("http.bad_request_line", start[:80].decode("latin-1")))
            self._lose_sync()
            return
        request = RequestHead(
            match.group(1).decode(),
            match.group(2).decode("latin-1"),
            match.group(3).decode(),
            headers,
        )
        events.append(request)
        self._in_message = True
        upgrade = header_values(headers, "Upgrade")
        if request.method == "CONNECT":
            self._await_switch(request, "connect")
            self._end(events, complete=True)  # a CONNECT request has no body
            return
        if upgrade:
            self._await_switch(request, f"upgrade:{upgrade[0]}")
        self._frame_body(headers, events, until_close_allowed=False)

    def _await_switch(self, request: RequestHead, kind: str) -> None:
        self.switch_request = request
        self._switch_kind = kind
        self._after_message = "switch_wait"

    def _on_switch_wait(self, events: list[HttpEvent]) -> bool:
        if len(self._buf) <= SWITCH_WAIT_BYTES:
            return False
        events += self._decide_alone()
        return self._state != "tunnel"

    def _decide_alone(self) -> list[HttpEvent]:
        """No answer from the server was seen: guess from what the client sent next."""
        events: list[HttpEvent] = [
            ParseAnomaly("http.switch_unanswered", f"{self._switch_kind}, {len(self._buf)} bytes")
        ]
        looks_http = _RESYNC.match(self._buf) is not None
        self.switch_request = None
        if self._switch_kind == "connect" or not looks_http:
            events.append(TunnelStart(self._switch_kind, confirmed=False))
            self._enter_tunnel(self._switch_kind)
        else:
            self._state = "head"
        return events
