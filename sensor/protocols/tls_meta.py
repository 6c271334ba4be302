"""A TLS connection's metadata for its flow record; the payload itself is never kept.

``TlsMetadata`` is the application-layer parser of a flow detected as TLS: it feeds the
``TlsSession`` until both hellos were seen and exposes ``metadata`` (``tls``: server name, ALPN,
offered and chosen version, chosen cipher, JA3 string and hash) for ``flows.jsonl``. The server
name also goes to the address -> name cache, so outputs can name the destination. Anomalies:
``tls.*`` from the session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensor.anomalies import AnomalyCounter
from sensor.protocols.http.events import Side
from sensor.protocols.tls import ClientHello, ServerHello, TlsAnomaly, TlsEvent, TlsSession
from sensor.protocols.tls.session import ServerCertificates

NameObserver = Callable[[str, str, str], None]  # (address, name, source)


class TlsMetadata:
    """See the module docstring."""

    encrypted = True

    def __init__(
        self,
        *,
        uid: str,
        server_ip: str,
        anomalies: AnomalyCounter,
        observe_name: NameObserver | None = None,
    ) -> None:
        self._uid = uid
        self._server_ip = server_ip
        self._anomalies = anomalies
        self._observe_name = observe_name
        self.session = TlsSession()
        self.tls: dict[str, Any] = {}

    @property
    def metadata(self) -> dict[str, Any]:
        return {"tls": self.tls} if self.tls else {}

    @property
    def finished(self) -> bool:
        """Both hellos (and a visible certificate) were read; nothing later is."""
        return self.session.finished

    @property
    def payload_done(self) -> bool:
        """The dispatcher may stop copying the flow's bytes: nothing later is read."""
        return self.session.finished

    def data(self, side: Side, data: bytes) -> None:
        self._handle(self.session.feed(side, data))

    def gap(self, side: Side, length: int) -> None:
        self._handle(self.session.gap(side, length))

    def close(self) -> None:
        pass

    def _handle(self, events: list[TlsEvent]) -> None:
        for event in events:
            if isinstance(event, ClientHello):
                self.tls.update(
                    server_name=event.server_name,
                    alpn=event.alpn,
                    client_version=event.version,
                    ja3=event.ja3,
                    ja3_string=event.ja3_string,
                    ja4=event.ja4,
                )
                if event.server_name and self._observe_name is not None:
                    self._observe_name(self._server_ip, event.server_name, "tls")
            elif isinstance(event, ServerHello):
                self.tls.update(
                    version=event.version_name,
                    cipher=f"0x{event.cipher:04x}",
                    server_alpn=event.alpn,
                )
            elif isinstance(event, ServerCertificates) and event.chain:
                first = event.chain[0]
                self.tls.update(
                    subject=first.subject,
                    issuer=first.issuer,
                    certificate_sha256=first.sha256,
                    chain_sha256=[c.sha256 for c in event.chain],
                )
            elif isinstance(event, TlsAnomaly):
                self._anomalies.count(event.name, f"{self._uid}: {event.detail}")


def tls_after_switch(
    uid: str, server_ip: str, anomalies: AnomalyCounter, leftover: dict[Side, bytes]
) -> TlsMetadata:
    """STARTTLS / AUTH TLS: TLS metadata for the rest of a connection, fed what the cleartext
    parser had already received past the switch."""
    tls = TlsMetadata(uid=uid, server_ip=server_ip, anomalies=anomalies)
    for side in (Side.CLIENT, Side.SERVER):
        if leftover.get(side):
            tls.data(side, leftover[side])
    return tls


class SwitchesToTls:
    """For dialogue protocols that can switch to TLS in the middle (SMTP STARTTLS, FTP AUTH TLS):
    before the switch, bytes go to the protocol's own parser (``_feed_plain``); after it
    (``_tls`` set), to the TLS hello reader, whose metadata the flow record then carries."""

    _tls: TlsMetadata | None = None

    def _feed_plain(self, side: Side, data: bytes) -> None:
        raise NotImplementedError

    def data(self, side: Side, data: bytes) -> None:
        if self._tls is not None:
            self._tls.data(side, data)
            return
        self._feed_plain(side, data)

    @property
    def metadata(self) -> dict[str, Any]:
        """TLS metadata after STARTTLS / AUTH TLS, for the flow record."""
        return self._tls.metadata if self._tls is not None else {}

    @property
    def payload_done(self) -> bool:
        """After the switch, once the hellos are read, nothing later in the connection is."""
        return self._tls is not None and self._tls.finished
