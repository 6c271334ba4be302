"""The start of one TLS connection, Sans-IO: the two hellos, then nothing.

``feed(side, bytes)`` reads TLS records until that side's first handshake message is whole (a
ClientHello may span several records, and records may be cut anywhere by TCP), decodes it and from
then on ignores the side: the rest is encrypted and only counted by the flow. Limits:
``MAX_HELLO_BYTES`` of handshake bytes per side (``tls.hello_too_large``). Anomalies:
``tls.not_handshake`` (the side did not start with a handshake record), ``tls.bad_hello``
(a hello that does not decode), ``tls.gap_before_hello``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.protocols.http.events import Side
from sensor.protocols.tls.hello import (
    ClientHello,
    HelloError,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
)

MAX_HELLO_BYTES = 64 * 1024  # a ClientHello with post-quantum key shares is ~2 KiB; 64 is abuse
RECORD_HANDSHAKE = 22


@dataclass(frozen=True, slots=True)
class TlsAnomaly:
    name: str
    detail: str = ""


TlsEvent = ClientHello | ServerHello | TlsAnomaly


class _Side:
    def __init__(self) -> None:
        self.records = bytearray()  # raw record bytes not yet split
        self.handshake = bytearray()  # handshake payload gathered from records
        self.done = False


class TlsSession:
    """Both directions of one TLS connection until each side's hello; see the module docstring."""

    def __init__(self) -> None:
        self._sides = {Side.CLIENT: _Side(), Side.SERVER: _Side()}
        self.client_hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None

    def feed(self, side: Side, data: bytes) -> list[TlsEvent]:
        state = self._sides[side]
        if state.done or not data:
            return []
        state.records += data
        events: list[TlsEvent] = []
        while not state.done and len(state.records) >= 5:
            kind = state.records[0]
            length = int.from_bytes(state.records[3:5], "big")
            if kind != RECORD_HANDSHAKE or state.records[1] != 3:
                events.append(TlsAnomaly("tls.not_handshake", f"{side.value}: record {kind}"))
                self._finish(state)
                break
            if len(state.records) < 5 + length:
                break
            state.handshake += state.records[5 : 5 + length]
            del state.records[: 5 + length]
            self._message(side, state, events)
        if not state.done and len(state.records) + len(state.handshake) > MAX_HELLO_BYTES:
            events.append(TlsAnomaly("tls.hello_too_large", side.value))
            self._finish(state)
        return events

    def gap(self, side: Side, length: int) -> list[TlsEvent]:
        state = self._sides[side]
        if state.done:
            return []
        self._finish(state)
        return [TlsAnomaly("tls.gap_before_hello", f"{side.value}: {length} bytes")]

    def _message(self, side: Side, state: _Side, events: list[TlsEvent]) -> None:
        buf = state.handshake
        if len(buf) < 4:
            return
        length = int.from_bytes(buf[1:4], "big")
        if len(buf) < 4 + length:
            return
        kind, body = buf[0], bytes(buf[4 : 4 + length])
        self._finish(state)
        try:
            if side is Side.CLIENT and kind == 1:
                self.client_hello = parse_client_hello(body)
                events.append(self.client_hello)
            elif side is Side.SERVER and kind == 2:
                self.server_hello = parse_server_hello(body)
                events.append(self.server_hello)
            else:
                events.append(TlsAnomaly("tls.unexpected_handshake", f"{side.value}: {kind}"))
        except HelloError as exc:
            events.append(TlsAnomaly("tls.bad_hello", f"{side.value}: {exc}"))

    @staticmethod
    def _finish(state: _Side) -> None:
        state.done = True
        state.records = bytearray()
        state.handshake = bytearray()
