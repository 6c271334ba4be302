"""Classic libpcap file reader.

Reads both byte orders and both timestamp resolutions (microseconds, nanoseconds). The file is
memory-mapped and records are sliced out
of the map (one copy of the captured bytes per record; the batch decoder of the reassembly issue
will work on the map directly).

Damage inside the file is counted, not raised: a record cut short by the end of the file, or a record
whose captured length is absurd, ends the read with an anomaly (classic pcap has no sync marker to
resume from). A file that is not a pcap at all raises ``CaptureFormatError`` with a message that says
what the file looks like instead.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sensor.anomalies import AnomalyCounter
from sensor.errors import CaptureFormatError

GLOBAL_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
# Largest frame any link we support can carry (jumbo frames, TSO-coalesced captures): a captured
# length above this means the record header is garbage, not a big packet.
MAX_SANE_CAPLEN = 262_144

# magic as read little-endian -> (struct byte order, timestamp fraction divisor)
_MAGICS = {
    0xA1B2C3D4: ("<", 1_000_000),
    0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000),
    0x4D3CB2A1: (">", 1_000_000_000),
}
_PCAPNG_MAGIC = 0x0A0D0D0A


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One captured frame as it was stored: link type, time and the captured bytes."""

    index: int  # 0-based record number in the file, for evidence and anomaly reports
    timestamp: float  # seconds since the epoch
    linktype: int
    data: bytes
    wire_length: int  # original length on the wire (captured data may be shorter)


def _describe_non_capture(head: bytes) -> str:
    """A short guess at what a non-capture file is, so the error message helps."""
    if not head:
        return "the file is empty"
    if int.from_bytes(head[:4], "little") == _PCAPNG_MAGIC:
        return (
            "it is a pcapng file, which this version reads only as classic pcap; convert it with "
            "`editcap -F pcap IN OUT`"
        )
    if head[:2] == b"\x1f\x8b":
        return "it is gzip-compressed; decompress it first (`gunzip -k FILE`)"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head[:64]):
        return "it looks like a text file"
    return f"unknown magic number 0x{head[:4].hex()}"


class PcapReader:
    """Iterates over the records of a classic pcap file; anomalies go to ``anomalies``."""

    def __init__(self, path: Path, anomalies: AnomalyCounter) -> None:
        self.path = path
        self.anomalies = anomalies
        try:
            with path.open("rb") as f:
                head = f.read(GLOBAL_HEADER_LEN)
                size = path.stat().st_size
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except FileNotFoundError:
            raise CaptureFormatError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise CaptureFormatError(f"{path}: is a directory; give a capture file") from None
        except OSError as exc:
            raise CaptureFormatError(f"{path}: cannot read: {exc.strerror}") from None
        magic = int.from_bytes(head[:4], "little") if len(head) >= 4 else None
        if magic not in _MAGICS:
            raise CaptureFormatError(f"{path}: not a pcap capture: {_describe_non_capture(head)}")
        if len(head) < GLOBAL_HEADER_LEN:
            raise CaptureFormatError(
                f"{path}: truncated pcap: the 24-byte file header is only {len(head)} bytes"
            )
        order, self._ts_divisor = _MAGICS[magic]
        self._record_header = struct.Struct(order + "IIII")
        _vmaj, _vmin, _tz, _sigfigs, self.snaplen, network = struct.unpack(
            order + "HHiIII", head[4:GLOBAL_HEADER_LEN]
        )
        self.linktype = network & 0x0FFFFFFF  # upper bits carry FCS information, not the type
        self.size = size

    def __iter__(self) -> Iterator[CaptureRecord]:
        data = self._map
        if data is None:
            return
        unpack = self._record_header.unpack_from
        offset = GLOBAL_HEADER_LEN
        end = self.size
        index = 0
        divisor = self._ts_divisor
        while offset < end:
            if offset + RECORD_HEADER_LEN > end:
                self.anomalies.count(
                    "capture.truncated_record_header",
                    f"record {index} at byte {offset}: {end - offset} of 16 header bytes",
                )
                return
            ts_sec, ts_frac, caplen, wirelen = unpack(data, offset)
            body = offset + RECORD_HEADER_LEN
            if caplen > MAX_SANE_CAPLEN:
                self.anomalies.count(
                    "capture.absurd_caplen",
                    f"record {index} at byte {offset}: captured length {caplen}",
                )
                return
            if self.snaplen and caplen > self.snaplen:
                self.anomalies.count(
                    "capture.caplen_exceeds_snaplen",
                    f"record {index}: captured length {caplen} > snaplen {self.snaplen}",
                )
            if body + caplen > end:
                self.anomalies.count(
                    "capture.record_exceeds_file",
                    f"record {index} at byte {offset}: captured length {caplen}, "
                    f"{end - body} bytes left in the file",
                )
                return
            yield CaptureRecord(
                index,
                ts_sec + ts_frac / divisor,
                self.linktype,
                data[body : body + caplen],
                wirelen,
            )
            offset = body + caplen
            index += 1

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def open_capture(path: Path, anomalies: AnomalyCounter) -> PcapReader:
    """Open a capture file for reading; raises ``CaptureFormatError`` if it is not one."""
    return PcapReader(path, anomalies)
