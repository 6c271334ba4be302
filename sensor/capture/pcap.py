"""Classic libpcap format reader.

Reads both byte orders and both timestamp resolutions (microseconds, nanoseconds) from a
``ByteSource`` (plain, compressed or stdin).

Damage inside the file is counted, not raised: a record cut short by the end of the file, or a record
whose captured length is absurd, ends the read with an anomaly (classic pcap has no sync marker to
resume from). A file that is not a pcap at all raises ``CaptureFormatError`` upstream.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter
from sensor.capture.record import CaptureRecord
from sensor.capture.source import ByteSource
from sensor.capture.walk import I64, MAX_SANE_CAPLEN, RECORD_HEADER_LEN, native, walk
from sensor.errors import CaptureFormatError

GLOBAL_HEADER_LEN = 24

# magic as read little-endian -> (struct byte order, timestamp fraction divisor)
MAGICS = {
    0xA1B2C3D4: ("<", 1_000_000),
    0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000),
    0x4D3CB2A1: (">", 1_000_000_000),
}


BLOCK_BYTES = 4 << 20  # batch decoding reads this much at a time; far above MAX_SANE_CAPLEN


@dataclass(frozen=True, slots=True)
class RecordBlock:
    """Whole records read in one go, for batch decoding: ``starts`` are record-header offsets."""

    data: bytes
    starts: I64
    first_index: int  # record number of the first record in its input


class PcapReader:
    """Iterates over the records of a classic pcap stream; anomalies go to ``anomalies``."""

    def __init__(self, source: ByteSource, name: str, anomalies: AnomalyCounter) -> None:
        self.name = name
        self.anomalies = anomalies
        self._source = source
        head = source.read(GLOBAL_HEADER_LEN)
        order, self._ts_divisor = MAGICS[int.from_bytes(head[:4], "little")]
        if len(head) < GLOBAL_HEADER_LEN:
            raise CaptureFormatError(
                f"{name}: truncated pcap: the 24-byte file header is only {len(head)} bytes"
            )
        self._record_header = struct.Struct(order + "IIII")
        _vmaj, _vmin, _tz, _sigfigs, self.snaplen, network = struct.unpack(
            order + "HHiIII", head[4:GLOBAL_HEADER_LEN]
        )
        self.linktype = network & 0x0FFFFFFF  # upper bits carry FCS information, not the type
        self.byte_order = order
        self.ts_divisor = self._ts_divisor
        self._end_offset: int | None = None  # where ``blocks`` stopped, if it stopped early

    @property
    def bytes_read(self) -> int:
        return self._source.offset if self._end_offset is None else self._end_offset

    def close(self) -> None:
        self._source.close()

    def __iter__(self) -> Iterator[CaptureRecord]:
        source, count = self._source, self.anomalies.count
        unpack = self._record_header.unpack
        divisor, linktype, snaplen = self._ts_divisor, self.linktype, self.snaplen
        index = 0
        while True:
            offset = source.offset
            header = source.read(RECORD_HEADER_LEN)
            if len(header) < RECORD_HEADER_LEN:
                if header:
                    count(
                        "capture.truncated_record_header",
                        f"{self.name}: record {index} at byte {offset}: {len(header)} of 16 header bytes",
                    )
                break
            ts_sec, ts_frac, caplen, wirelen = unpack(header)
            if caplen > MAX_SANE_CAPLEN:
                count(
                    "capture.absurd_caplen",
                    f"{self.name}: record {index} at byte {offset}: captured length {caplen}",
                )
                break
            if snaplen and caplen > snaplen:
                count(
                    "capture.caplen_exceeds_snaplen",
                    f"{self.name}: record {index}: captured length {caplen} > snaplen {snaplen}",
                )
            data = source.read(caplen)
            if len(data) < caplen:
                count(
                    "capture.record_exceeds_file",
                    f"{self.name}: record {index} at byte {offset}: captured length {caplen}, "
                    f"{len(data)} bytes left in the file",
                )
                break
            yield CaptureRecord(index, ts_sec + ts_frac / divisor, linktype, data, wirelen)
            index += 1
        if source.damaged:
            count("capture.decompression_error", f"{self.name}: {source.damaged}")

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[RecordBlock]:
        """The same records as iteration, as large blocks of whole records (same anomalies)."""
        source, count, name, snaplen = self._source, self.anomalies.count, self.name, self.snaplen
        order, module = self.byte_order, native()  # the C walker unless not built or disabled
        # one comparison per record in the common case; the rare ones are sorted out by the caller
        limit = min(snaplen, MAX_SANE_CAPLEN) if snaplen else MAX_SANE_CAPLEN
        carry, index = b"", 0
        base = source.offset  # file offset of ``buf[0]``
        while True:
            chunk = source.read(block_bytes)
            buf = carry + chunk if carry else chunk
            at_end = len(chunk) < block_bytes
            starts, pos, absurd, over = walk(buf, limit, order, module)
            for k, caplen in over:
                count(
                    "capture.caplen_exceeds_snaplen",
                    f"{name}: record {index + k}: captured length {caplen} > snaplen {snaplen}",
                )
            if absurd >= 0:
                count(
                    "capture.absurd_caplen",
                    f"{name}: record {index + len(starts)} at byte {base + pos}: "
                    f"captured length {absurd}",
                )
            if len(starts):
                yield RecordBlock(buf, starts, index)
                index += len(starts)
            if absurd >= 0:
                self._end_offset = base + pos + RECORD_HEADER_LEN
                break
            if at_end:
                self._end_of_blocks(buf, pos, base, index)
                break
            carry, base = buf[pos:], base + pos
        if source.damaged:
            count("capture.decompression_error", f"{name}: {source.damaged}")

    def _end_of_blocks(self, buf: bytes, pos: int, base: int, index: int) -> None:
        """The bytes after the last whole record: count what iteration would have counted."""
        left = len(buf) - pos
        where = f"{self.name}: record {index} at byte {base + pos}"
        if 0 < left < RECORD_HEADER_LEN:
            self.anomalies.count(
                "capture.truncated_record_header", f"{where}: {left} of 16 header bytes"
            )
        elif left:
            caplen = self._record_header.unpack_from(buf, pos)[2]
            if self.snaplen and caplen > self.snaplen:
                self.anomalies.count(
                    "capture.caplen_exceeds_snaplen",
                    f"{self.name}: record {index}: captured length {caplen} > snaplen {self.snaplen}",
                )
            self.anomalies.count(
                "capture.record_exceeds_file",
                f"{where}: captured length {caplen}, {left - RECORD_HEADER_LEN} bytes left in the file",
            )
