"""The start of one TLS connection, Sans-IO: the two hellos (and a visible certificate), then nothing.

``feed(side, bytes)`` reads TLS records until that side's first handshake message is whole (a
ClientHello may span several records, and records may be cut anywhere by TCP), decodes it and from
then on ignores the side: the rest is encrypted and only counted by the flow. Below TLS 1.3 the
server's Certificate message is still cleartext: its chain's subject, issuer and sha256 are read
(``ServerCertificates``) before the server side stops too. Limits: ``MAX_HELLO_BYTES`` (client)
and ``MAX_CERTIFICATE_BYTES`` (server) of unread handshake bytes (``tls.hello_too_large``).
Anomalies: ``tls.not_handshake`` (the side did not start with a handshake record),
``tls.bad_hello`` (a hello or certificate that does not decode), ``tls.unexpected_handshake``,
``tls.gap_before_hello``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.protocols.http.events import Side
from sensor.protocols.tls.certs import CertError, Certificate, certificate_chain, parse_certificate
from sensor.protocols.tls.hello import (
    ClientHello,
    HelloError,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
)

MAX_HELLO_BYTES = 64 * 1024  # a ClientHello is ~2 KiB, even with post-quantum key shares
MAX_CERTIFICATE_BYTES = 1 << 20  # a chain is ~5-15 KiB; one with 10 000 SANs is ~350 KiB
RECORD_HANDSHAKE = 22
CERTIFICATE, SERVER_HELLO_DONE = 11, 14
TLS13 = 0x0304


@dataclass(frozen=True, slots=True)
class ServerCertificates:
    chain: list[Certificate]  # the server's certificate first


@dataclass(frozen=True, slots=True)
class TlsAnomaly:
    name: str
    detail: str = ""


TlsEvent = ClientHello | ServerHello | ServerCertificates | TlsAnomaly


class _Side:
    def __init__(self) -> None:
        self.records = bytearray()  # raw record bytes not yet split
        self.handshake = bytearray()  # handshake payload gathered from records
        self.messages = 0  # handshake messages handled
        self.done = False


class TlsSession:
    """Both directions of one TLS connection until each side's hello; see the module docstring."""

    def __init__(self) -> None:
        self._sides = {Side.CLIENT: _Side(), Side.SERVER: _Side()}
        self.client_hello: ClientHello | None = None
        self.server_hello: ServerHello | None = None

    @property
    def finished(self) -> bool:
        """Both sides are past what is read (hellos, a visible certificate): the rest of the
        connection can be counted without its bytes."""
        return all(state.done for state in self._sides.values())

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
                if not state.messages:  # after the hello this is just the encrypted part
                    events.append(TlsAnomaly("tls.not_handshake", f"{side.value}: record {kind}"))
                self._finish(state)
                break
            if len(state.records) < 5 + length:
                break
            state.handshake += state.records[5 : 5 + length]
            del state.records[: 5 + length]
            self._messages(side, state, events)
        limit = MAX_HELLO_BYTES if side is Side.CLIENT else MAX_CERTIFICATE_BYTES
        if not state.done and len(state.records) + len(state.handshake) > limit:
            events.append(TlsAnomaly("tls.hello_too_large", side.value))
            self._finish(state)
        return events

    def gap(self, side: Side, length: int) -> list[TlsEvent]:
        state = self._sides[side]
        if state.done:
            return []
        self._finish(state)
        return [TlsAnomaly("tls.gap_before_hello", f"{side.value}: {length} bytes")]

    def _messages(self, side: Side, state: _Side, events: list[TlsEvent]) -> None:
        """Handle each whole handshake message gathered so far, until the side is done."""
        buf = state.handshake
        while not state.done and len(buf) >= 4:
            length = int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + length:
                return
            kind, body = buf[0], bytes(buf[4 : 4 + length])
            del buf[: 4 + length]
            state.messages += 1
            try:
                self._message(side, state, kind, body, events)
            except (HelloError, CertError) as exc:
                events.append(TlsAnomaly("tls.bad_hello", f"{side.value}: {exc}"))
                self._finish(state)

    def _message(
        self, side: Side, state: _Side, kind: int, body: bytes, events: list[TlsEvent]
    ) -> None:
        if side is Side.CLIENT:
            if kind == 1:
                self.client_hello = parse_client_hello(body)
                events.append(self.client_hello)
            else:
                events.append(TlsAnomaly("tls.unexpected_handshake", f"client: {kind}"))
            self._finish(state)  # nothing after the ClientHello is of interest
        elif kind == 2 and state.messages == 1:
            self.server_hello = parse_server_hello(body)
            events.append(self.server_hello)
            if self.server_hello.version >= TLS13:
                self._finish(state)  # the certificate is encrypted from here on
        elif kind == CERTIFICATE and self.server_hello is not None:
            events.append(
                ServerCertificates([parse_certificate(d) for d in certificate_chain(body)])
            )
            self._finish(state)
        elif kind == SERVER_HELLO_DONE or self.server_hello is None:
            if self.server_hello is None:
                events.append(TlsAnomaly("tls.unexpected_handshake", f"server: {kind}"))
            self._finish(state)  # no certificate (anonymous or resumed session)

    @staticmethod
    def _finish(state: _Side) -> None:
        state.done = True
        state.records = bytearray()
        state.handshake = bytearray()
