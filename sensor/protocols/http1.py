"""Former home of the HTTP/1 request parser; kept so existing imports work.

The parsers now live in the ``sensor.protocols.http`` package (requests, responses, framing,
connection); import from there in new code.
"""

from sensor.protocols.http import (
    BodyData,
    BodyGap,
    Http1Connection,
    Http1RequestParser,
    Http1ResponseParser,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    ResponseHead,
    Side,
    TunnelStart,
)
from sensor.protocols.http.framing import MAX_CHUNK_LINE, MAX_HEAD_BYTES, MAX_HEADERS

__all__ = [
    "MAX_CHUNK_LINE",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
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
