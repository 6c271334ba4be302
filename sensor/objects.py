"""Transferred objects: the unit the detectors inspect.

An object is one thing that crossed the wire whole: an HTTP request body today, a mail attachment or
an SMB file once the application-layer issue lands. It carries its flow context so the policy stage
can place both ends, and flags that say how complete it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FlowContext:
    """The connection an object travelled on, oriented from sender to receiver of the object."""

    uid: str
    transport: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    vlan: tuple[int, ...] = ()


@dataclass(slots=True)
class TransferObject:
    """One rebuilt transfer. ``body`` is bounded by the configured maximum object size."""

    flow: FlowContext
    protocol: str
    direction: str  # "upload": from the connection's originator to the responder
    index: int  # position among the objects of its flow, from 0
    timestamp: float  # capture time of the data that completed the head of the transfer
    method: str = ""
    url: str = ""
    host: str = ""
    content_type: str = ""
    declared_length: int | None = None
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False  # the size limit cut the body
    gap_bytes: int = 0  # bytes of the body that were never captured
    complete: bool = False  # the message ended where its framing said it would

    @property
    def size(self) -> int:
        return len(self.body)
