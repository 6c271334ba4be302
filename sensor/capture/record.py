"""The value every capture front end produces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One captured frame as it was stored: link type, time and the captured bytes."""

    index: int  # 0-based record number in its input, for evidence and anomaly reports
    timestamp: float  # seconds since the epoch
    linktype: int
    data: bytes
    wire_length: int  # original length on the wire (captured data may be shorter)
