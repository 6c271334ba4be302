"""pcapng format reader: several sections and interfaces, EPB, SPB and the obsolete OPB.

Each interface (IDB) has its own link type and timestamp resolution (``if_tsresol``) and offset
(``if_tsoffset``); records name their interface, so one file can mix Ethernet and Linux cooked
captures. A new section header (SHB) resets the interfaces and may switch byte order. Block types the
sensor does not need (name resolution, statistics, custom) are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter
from sensor.capture.record import CaptureRecord
from sensor.capture.source import ByteSource
from sensor.capture.walk import MAX_SANE_CAPLEN
from sensor.errors import CaptureFormatError

SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
# A block larger than this is a corrupt length field: the largest packet plus generous options.
MAX_BLOCK_BYTES = MAX_SANE_CAPLEN + 64 * 1024
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    ticks_per_second: int = 1_000_000
    offset_seconds: int = 0


def _options(body: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == 0:
            return
        yield code, body[pos + 4 : pos + 4 + length]
        pos += 4 + length + (-length % 4)


class PcapngReader:
    """Iterates over the packets of a pcapng stream."""

    def __init__(self, source: ByteSource, name: str, anomalies: AnomalyCounter) -> None:
        self.name = name
        self.anomalies = anomalies
        self._source = source
        self._order = "<"
        self._interfaces: list[_Interface] = []
        head = source.peek(12)
        if len(head) < 12:
            raise CaptureFormatError(f"{name}: truncated pcapng: the section header is cut short")
        magic = head[8:12]
        if int.from_bytes(magic, "little") == BYTE_ORDER_MAGIC:
            self._order = "<"
        elif int.from_bytes(magic, "big") == BYTE_ORDER_MAGIC:
            self._order = ">"
        else:
            raise CaptureFormatError(f"{name}: not a pcapng capture: bad byte-order magic")

    @property
    def bytes_read(self) -> int:
        return self._source.offset

    def close(self) -> None:
        self._source.close()

    def __iter__(self) -> Iterator[CaptureRecord]:
        source, count = self._source, self.anomalies.count
        index = 0
        while True:
            offset = source.offset
            header = source.read(8)
            if len(header) < 8:
                if header:
                    count("capture.truncated_record_header", f"{self.name}: block at byte {offset}")
                break
            block_type = int.from_bytes(header[:4], "little")
            if block_type == SHB:  # the byte order may change at every section
                magic = source.peek(4)
                self._order = "<" if int.from_bytes(magic, "little") == BYTE_ORDER_MAGIC else ">"
                self._interfaces = []
            order = self._order
            block_type, length = struct.unpack(order + "II", header)
            if length < 12 or length % 4 or length > MAX_BLOCK_BYTES:
                count(
                    "capture.pcapng_bad_block_length",
                    f"{self.name}: block at byte {offset}: length {length}",
                )
                break
            body = source.read(length - 8)
            if len(body) < length - 8:
                count(
                    "capture.record_exceeds_file",
                    f"{self.name}: block at byte {offset}: length {length}",
                )
                break
            body = body[:-4]  # trailing copy of the block length
            if block_type == IDB:
                self._add_interface(body)
                continue
            record = self._packet(block_type, body, index, offset)
            if record is not None:
                yield record
                index += 1
        if source.damaged:
            count("capture.decompression_error", f"{self.name}: {source.damaged}")

    def _add_interface(self, body: bytes) -> None:
        order = self._order
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
        interface = _Interface(linktype, snaplen)
        for code, value in _options(body[8:], order):
            if code == OPT_IF_TSRESOL and value:
                exponent = value[0] & 0x7F
                interface.ticks_per_second = (2 if value[0] & 0x80 else 10) ** exponent
            elif code == OPT_IF_TSOFFSET and len(value) == 8:
                interface.offset_seconds = struct.unpack(order + "q", value)[0]
        self._interfaces.append(interface)

    def _packet(
        self, block_type: int, body: bytes, index: int, offset: int
    ) -> CaptureRecord | None:
        order = self._order
        if block_type == EPB:
            if len(body) < 20:
                self.anomalies.count(
                    "capture.pcapng_bad_block", f"{self.name}: EPB at byte {offset}"
                )
                return None
            if_id, ts_high, ts_low, caplen, wirelen = struct.unpack_from(order + "IIIII", body)
            data_start = 20
        elif block_type == SPB:
            if_id, ts_high, ts_low = 0, 0, 0
            wirelen = struct.unpack_from(order + "I", body)[0]
            caplen = min(wirelen, len(body) - 4)
            if self._interfaces and self._interfaces[0].snaplen:
                caplen = min(caplen, self._interfaces[0].snaplen)
            data_start = 4
        elif block_type == OPB:
            if len(body) < 20:
                self.anomalies.count(
                    "capture.pcapng_bad_block", f"{self.name}: OPB at byte {offset}"
                )
                return None
            if_id, _drops, ts_high, ts_low, caplen, wirelen = struct.unpack_from(
                order + "HHIIII", body
            )
            data_start = 20
        else:
            return None  # NRB, ISB, custom and unknown blocks carry no packets
        if if_id >= len(self._interfaces):
            self.anomalies.count(
                "capture.pcapng_unknown_interface",
                f"{self.name}: interface {if_id} at byte {offset}",
            )
            return None
        if data_start + caplen > len(body):
            self.anomalies.count(
                "capture.pcapng_bad_block",
                f"{self.name}: caplen {caplen} beyond block at byte {offset}",
            )
            return None
        interface = self._interfaces[if_id]
        ticks = (ts_high << 32) | ts_low
        timestamp = ticks / interface.ticks_per_second + interface.offset_seconds
        return CaptureRecord(
            index, timestamp, interface.linktype, body[data_start : data_start + caplen], wirelen
        )
