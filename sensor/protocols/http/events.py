"""Events the HTTP/1 parsers return: frozen, slotted, no behaviour beyond header look-up."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Side(enum.Enum):
    """Who sent the bytes: the HTTP client (requests) or the server (responses)."""

    CLIENT = "client"
    SERVER = "server"


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _first(self.headers, name)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A status line and headers. ``request`` is the request it answers (None if never seen)."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    request: RequestHead | None

    @property
    def interim(self) -> bool:
        """1xx other than 101: the final response to the same request is still to come."""
        return 100 <= self.status < 200 and self.status != 101

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _first(self.headers, name)


@dataclass(frozen=True, slots=True)
class BodyData:
    data: bytes


@dataclass(frozen=True, slots=True)
class BodyGap:
    length: int


@dataclass(frozen=True, slots=True)
class MessageEnd:
    complete: bool  # False when the stream ended or broke before the declared body length


@dataclass(frozen=True, slots=True)
class TunnelStart:
    """From here on this direction carries another protocol (CONNECT, Upgrade); not parsed."""

    kind: str  # "connect" or "upgrade:<protocol>"
    confirmed: bool  # False when the server's answer was never seen and the switch was assumed


@dataclass(frozen=True, slots=True)
class ParseAnomaly:
    name: str
    detail: str = ""


HttpEvent = (
    RequestHead | ResponseHead | BodyData | BodyGap | MessageEnd | TunnelStart | ParseAnomaly
)
