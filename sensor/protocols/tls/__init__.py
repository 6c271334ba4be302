"""TLS metadata, Sans-IO: the hellos of a connection (SNI, ALPN, version, JA3), nothing after.

- ``hello``: ClientHello/ServerHello decoders and the JA3 fingerprint.
- ``session``: ``TlsSession`` reads records until each side's hello, then stops.

``sensor.protocols.tls_meta`` makes them flow metadata; the flow is marked encrypted.
"""

from sensor.protocols.tls.hello import ClientHello, HelloError, ServerHello
from sensor.protocols.tls.session import TlsAnomaly, TlsEvent, TlsSession

__all__ = ["ClientHello", "HelloError", "ServerHello", "TlsAnomaly", "TlsEvent", "TlsSession"]
