"""TLS inside an HTTP CONNECT tunnel: the tunnelled session's hellos become flow metadata.

A browser or tool behind a forward proxy reaches every HTTPS site through ``CONNECT host:443``;
the proxy answers 2xx and from then on relays a TLS session. Counting those bytes as an opaque
tunnel would hide what a direct connection shows: server name, ALPN, versions, JA3/JA4, and the
certificate below TLS 1.3. ``TunnelTls`` is told every tunnelled byte of a CONNECT (the HTTP
parsers call it once the tunnel is entered: after a 2xx answer, or, when the answer was never
captured, after the client's wait ran out) and hands them to the same ``TlsMetadata`` reader a
direct TLS flow gets, if the tunnel's first bytes are a TLS handshake record; a tunnel that
carries something else (SSH, plain TCP) is left alone. A refused CONNECT never enters the tunnel
state, so its connection goes on being parsed as HTTP.

The server name is *not* taught to the address -> name cache: the flow's server address is the
proxy's, which many names share. The tunnel object carries the name instead (``host``).
"""

from __future__ import annotations

import re
from typing import Any

from sensor.anomalies import AnomalyCounter
from sensor.protocols.http.events import Side
from sensor.protocols.tls_meta import TlsMetadata

_TLS_HANDSHAKE = re.compile(rb"\x16\x03[\x00-\x04]")
_DECIDE = 3  # bytes that tell a TLS handshake record from anything else


class TunnelTls:
    """See the module docstring."""

    def __init__(self, uid: str, server_ip: str, anomalies: AnomalyCounter) -> None:
        self._uid = uid
        self._server_ip = server_ip
        self._anomalies = anomalies
        self._held: dict[Side, bytes] = {}  # first bytes of a side, until _DECIDE are known
        self._decided = False
        self.reader: TlsMetadata | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.reader.metadata if self.reader is not None else {}

    @property
    def server_name(self) -> str:
        return str(self.reader.tls.get("server_name", "")) if self.reader is not None else ""

    @property
    def finished(self) -> bool:
        return self.reader is not None and self.reader.finished

    def data(self, side: Side, kind: str, data: bytes) -> None:
        if kind != "connect":
            return  # Upgrade tunnels (WebSocket) carry framed HTTP-born protocols, not TLS
        if self.reader is not None:
            self.reader.data(side, data)
            return
        if self._decided:
            return
        held = self._held.get(side, b"") + data
        if len(held) < _DECIDE:
            self._held[side] = held
            return
        self._decided = True
        if _TLS_HANDSHAKE.match(held):
            self.reader = TlsMetadata(
                uid=self._uid, server_ip=self._server_ip, anomalies=self._anomalies
            )
            for other, early in self._held.items():
                if other is not side:
                    self.reader.data(other, early)
            self.reader.data(side, held)
        self._held.clear()

    def gap(self, side: Side, length: int) -> None:
        """Tunnelled bytes were lost: the reader says what it missed; undecided stays unread."""
        if self.reader is not None:
            self.reader.gap(side, length)
        else:
            self._decided = True
            self._held.clear()
