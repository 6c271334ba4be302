"""Both directions of one HTTP/1 connection, Sans-IO: requests paired with their responses.

``feed(side, data)``, ``gap(side, length)`` and ``close(side)`` return the events of that side's
stream, in stream order. The connection passes every request head to the response parser (so each
response knows what it answers) and tells the request parser how the server answered a CONNECT or
Upgrade. When the answer makes the client's held bytes parseable again, their events are returned
by the next call for the client side, so events never jump between sides.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from sensor.protocols.http.events import (
    HttpEvent,
    RequestHead,
    ResponseHead,
    Side,
)
from sensor.protocols.http.requests import Http1RequestParser
from sensor.protocols.http.responses import Http1ResponseParser


class Http1Connection:
    """One HTTP/1 connection; see the module docstring."""

    def __init__(self) -> None:
        self.requests = Http1RequestParser()
        # A weak reference back: a bound method here would make connection and parser a cycle that
        # only the cyclic collector frees, and a busy sensor closes thousands of flows a second.
        answered = weakref.WeakMethod(self._answered)
        self.responses = Http1ResponseParser(on_final=lambda head: _call(answered, head))
        self._held_client_events: list[HttpEvent] = []

    @property
    def held_client_events(self) -> bool:
        """Client events wait to be returned by the next call for the client side."""
        return bool(self._held_client_events)

    def feed(self, side: Side, data: bytes) -> list[HttpEvent]:
        if side is Side.CLIENT:
            return self._client(self.requests.feed(data))
        return self.responses.feed(data)

    def gap(self, side: Side, length: int) -> list[HttpEvent]:
        if side is Side.CLIENT:
            return self._client(self.requests.gap(length))
        return self.responses.gap(length)

    def close(self, side: Side) -> list[HttpEvent]:
        if side is Side.CLIENT:
            return self._client(self.requests.close())
        return self.responses.close()

    def _client(self, events: list[HttpEvent]) -> list[HttpEvent]:
        held, self._held_client_events = self._held_client_events, []
        return held + self._register(events)

    def _answered(self, head: ResponseHead) -> None:
        """A final response was parsed: if it answers a pending CONNECT/Upgrade, act on it now,
        before the response parser reads on, so requests the client held are expected in time."""
        waiting = self.requests.switch_request
        if waiting is None or head.request is not waiting:
            return
        accepted = head.status == 101 or (waiting.method == "CONNECT" and 200 <= head.status < 300)
        parser = self.requests
        self._held_client_events += self._register(parser.switch() if accepted else parser.resume())

    def _register(self, events: list[HttpEvent]) -> list[HttpEvent]:
        """Pass request heads to the response parser; its anomalies follow the head."""
        out: list[HttpEvent] = []
        for event in events:
            out.append(event)
            if isinstance(event, RequestHead):
                out += self.responses.expect(event)
        return out


def _call(method: Callable[[], Callable[[ResponseHead], None] | None], head: ResponseHead) -> None:
    """Call a weakly referenced method if its object still exists."""
    bound = method()
    if bound is not None:
        bound(head)
