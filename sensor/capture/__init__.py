"""Capture front ends: turn capture inputs into link-layer records.

``open_capture`` recognises the format by its magic bytes (classic pcap, pcapng; plain, gzip or zstd;
a file or stdin) and returns a reader that yields ``CaptureRecord`` values. Live AF_PACKET capture
(`afpacket.py`, `egress sensor`) produces the same records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from sensor.anomalies import AnomalyCounter
from sensor.capture.pcap import MAGICS, PcapReader
from sensor.capture.pcapng import SHB, PcapngReader
from sensor.capture.record import CaptureRecord
from sensor.capture.source import (
    CHUNK_BYTES,
    COMPRESSED_CHUNK_BYTES,
    STDIN,
    ByteSource,
    expand_inputs,
    open_stream,
)
from sensor.errors import CaptureFormatError

__all__ = ["CaptureReader", "CaptureRecord", "expand_inputs", "open_capture"]


class CaptureReader(Protocol):
    name: str

    @property
    def bytes_read(self) -> int: ...

    def __iter__(self) -> Iterator[CaptureRecord]: ...

    def close(self) -> None: ...


def _describe_non_capture(head: bytes) -> str:
    """A short guess at what a non-capture file is, so the error message helps."""
    if not head:
        return "the file is empty"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "it looks like a text file"
    if head[:4] == b"PK\x03\x04":
        return "it is a zip archive; extract the capture first"
    return f"unknown magic number 0x{head[:4].hex()}"


def open_capture(path: Path, anomalies: AnomalyCounter) -> PcapReader | PcapngReader:
    """Open a capture input; raises ``CaptureFormatError`` with a helpful message if it is not one."""
    name = "<stdin>" if path == STDIN else str(path)
    stream, compression = open_stream(path)
    source = ByteSource(stream, CHUNK_BYTES if compression == "none" else COMPRESSED_CHUNK_BYTES)
    head = source.peek(64)
    if compression != "none" and source.damaged and not head:
        source.close()
        raise CaptureFormatError(f"{name}: {compression} data is corrupt: {source.damaged}")
    magic = int.from_bytes(head[:4], "little") if len(head) >= 4 else None
    if magic in MAGICS:
        return PcapReader(source, name, anomalies)
    if magic == SHB:
        return PcapngReader(source, name, anomalies)
    source.close()
    what = _describe_non_capture(head)
    if compression != "none":
        what = f"{compression}-compressed, and inside {what}"
    raise CaptureFormatError(f"{name}: not a pcap or pcapng capture: {what}")
