"""HTTP/1.x, Sans-IO: the parsers that turn a connection's two byte streams into events.

- ``events``: the frozen event dataclasses (``RequestHead``, ``ResponseHead``, ``BodyData``,
  ``BodyGap``, ``MessageEnd``, ``TunnelStart``, ``ParseAnomaly``) and ``Side``.
- ``framing``: what requests and responses share: head parsing with its limits, Content-Length,
  chunked and close-delimited bodies, gaps and resynchronisation.
- ``requests`` / ``responses``: the start lines and each side's framing rules.
- ``connection``: both sides together; responses paired with requests in order (keep-alive and
  pipelining), CONNECT and Upgrade answered or refused.

Nothing here knows about flows, objects or content encodings: ``sensor.protocols.http_transfers``
turns these events into objects and ``sensor.content`` decodes bodies.
"""

from sensor.protocols.http.connection import Http1Connection
from sensor.protocols.http.events import (
    BodyData,
    BodyGap,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    ResponseHead,
    Side,
    TunnelStart,
)
from sensor.protocols.http.requests import Http1RequestParser
from sensor.protocols.http.responses import Http1ResponseParser

__all__ = [
    "BodyData",
    "BodyGap",
    "Http1Connection",
    "Http1RequestParser",
    "Http1ResponseParser",
    "HttpEvent",
    "MessageEnd",
    "ParseAnomaly",
    "RequestHead",
    "ResponseHead",
    "Side",
    "TunnelStart",
]
