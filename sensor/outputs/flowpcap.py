"""The packets of alerted flows, found by a second pass over the capture.

Keeping every packet of every flow in case it later alerts would tax the hot path and memory for
the few flows that do. An offline audit can read its input twice instead: the first pass notes the
alerted flows' keys (the canonical address/port pair) and time span; after it, ``collect_flows``
re-reads the capture with the same reader and decoder and keeps only the frames of those flows,
spooled to a temporary file, and ``FlowPackets.pcap`` reads back as a small classic pcap per flow.

Limits: ``max_bytes_per_flow`` caps one flow's pcap (``evidence.pcap_truncated`` when hit). A
segment rebuilt from IP fragments is represented by its last fragment's frame only. Flows that
differ only by VLAN or tunnel and overlap in time on the same address pair would be merged.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from sensor.anomalies import AnomalyCounter
from sensor.capture import CaptureRecord, open_capture
from sensor.capture.pcap import PcapReader
from sensor.decode.batch import BlockHeaders, supports
from sensor.decode.decoder import PacketDecoder
from sensor.decode.ip import address
from sensor.decode.link import LINKTYPE_ETHERNET
from sensor.decode.packet import TcpSegment

PCAP_SNAPLEN = 262_144
Endpoints = tuple[str, int, str, int]


def canonical(ip_a: str, port_a: int, ip_b: str, port_b: int) -> Endpoints:
    """The same key for both directions of a connection."""
    low, high = sorted([(ip_a, port_a), (ip_b, port_b)])
    return (low[0], low[1], high[0], high[1])


@dataclass
class FlowPackets:
    """One alerted flow: how to recognise its frames, and where the frames found were spooled.

    The frames themselves go to the pass's spool file (``pieces`` are their offsets and lengths
    there, as pcap records), so memory holds a few numbers per frame however large the flows."""

    uid: str
    endpoints: Endpoints
    start: float = float("-inf")
    end: float = float("inf")
    packets: int = 0
    linktype: int | None = None  # the first frame's; frames of another link type are not kept
    mixed_linktype: bool = False
    pieces: list[tuple[int, int]] = field(default_factory=list)
    captured_bytes: int = 0
    truncated: bool = False

    def pcap(self, spool: IO[bytes]) -> bytes:
        """The flow's frames as a classic little-endian microsecond pcap."""
        linktype = 1 if self.linktype is None else self.linktype
        parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, PCAP_SNAPLEN, linktype)]
        for offset, size in self.pieces:
            spool.seek(offset)
            parts.append(spool.read(size))
        return b"".join(parts)


def _port_pairs(by_key: dict[Endpoints, list[FlowPackets]]) -> frozenset[bytes]:
    """The 4 bytes (source port, destination port) a TCP header of a wanted flow starts with."""
    pairs = set()
    for _a, port_a, _b, port_b in by_key:
        pairs.add(struct.pack("!HH", port_a, port_b))
        pairs.add(struct.pack("!HH", port_b, port_a))
    return frozenset(pairs)


def _ports_at(data: bytes) -> bytes | None:
    """The port bytes of a plain Ethernet (one optional VLAN tag) IPv4-without-options or IPv6
    TCP frame; None for anything else, which is then decoded in full."""
    at = 12
    if data[at : at + 2] == b"\x81\x00":
        at += 4
    kind = data[at : at + 2]
    if kind == b"\x08\x00" and len(data) > at + 11 and data[at + 2] == 0x45 and data[at + 11] == 6:
        if data[at + 8 : at + 10] not in (b"\x00\x00", b"\x40\x00"):
            return None  # a fragment: decode, the decoder reassembles
        return data[at + 22 : at + 26]
    if kind == b"\x86\xdd" and len(data) > at + 8 and data[at + 8] == 6:
        return data[at + 42 : at + 46]
    return None


def collect_flows(
    path: Path,
    flows: Iterable[FlowPackets],
    anomalies: AnomalyCounter,
    max_bytes_per_flow: int,
    spool: IO[bytes],
) -> None:
    """Second pass over ``path``: spool each wanted flow's frames to ``spool`` (see FlowPackets).

    The pass decodes with its own anomaly counter (the first pass already counted the capture's
    anomalies); only evidence limits are counted in ``anomalies``. A classic Ethernet pcap is
    read in blocks whose plain TCP frames are matched by their port bytes in numpy; only
    frames of wanted port pairs and frames that are not plain TCP (fragments, tunnels, UDP,
    ...) are decoded, the same frames the per-record loop keeps.
    """
    by_key: dict[Endpoints, list[FlowPackets]] = {}
    for flow in flows:
        by_key.setdefault(flow.endpoints, []).append(flow)
    if not by_key:
        return
    scratch = AnomalyCounter()
    reader = open_capture(path, scratch)
    decoder = PacketDecoder(scratch)
    wanted = _port_pairs(by_key)
    keeper = _Keeper(by_key, anomalies, max_bytes_per_flow, spool)
    try:
        if supports(reader):
            for record, endpoints in _block_candidates(reader, wanted):
                if endpoints is not None:  # plain TCP: the numpy headers name its connection
                    keeper.offer(record, endpoints, record.timestamp)
                else:
                    keeper.decoded(record, decoder.decode(record))
        else:
            for record in reader:
                ports = _ports_at(record.data) if record.linktype == LINKTYPE_ETHERNET else None
                if ports is not None and ports not in wanted:
                    continue  # a plain TCP frame of another connection: no need to decode it
                keeper.decoded(record, decoder.decode(record))
    finally:
        reader.close()


def _block_candidates(
    reader: PcapReader, wanted: frozenset[bytes]
) -> Iterator[tuple[CaptureRecord, Endpoints | None]]:
    """The records of a classic Ethernet pcap that may belong to a wanted flow, in order, each
    with its connection's canonical endpoints when it is plain TCP (None: decode it)."""
    keys = np.array([int.from_bytes(pair, "big") for pair in wanted], dtype=np.int64)
    header = struct.Struct(reader.byte_order + "IIII")
    divisor, linktype = reader.ts_divisor, reader.linktype
    text = _address_text()
    for block in reader.blocks():
        starts = np.asarray(block.starts, dtype=np.int64)
        h = BlockHeaders(block.data, starts, reader.byte_order, divisor)
        ports = (h.sport << 16) | h.dport
        take = ~h.fast | np.isin(ports, keys)
        data, first = block.data, block.first_index
        rows = np.flatnonzero(take)
        for i, fast, v6, sport, dport in zip(
            rows.tolist(),
            h.fast[rows].tolist(),
            h.v6[rows].tolist(),
            h.sport[rows].tolist(),
            h.dport[rows].tolist(),
            strict=True,
        ):
            at = block.starts[i]
            ts_sec, ts_frac, caplen, wirelen = header.unpack_from(data, at)
            frame = data[at + 16 : at + 16 + caplen]
            record = CaptureRecord(first + i, ts_sec + ts_frac / divisor, linktype, frame, wirelen)
            endpoints = None
            if fast:
                src, dst = h.src16[i].tobytes(), h.dst16[i].tobytes()
                endpoints = canonical(text(src, v6), sport, text(dst, v6), dport)
            yield record, endpoints


def _address_text() -> Callable[[bytes, bool], str]:
    """``address`` of a 16-byte field (IPv4 in its last four bytes), remembered per address."""
    known: dict[bytes, str] = {}

    def text(raw16: bytes, v6: bool) -> str:
        found = known.get(raw16)
        if found is None:
            found = known[raw16] = address(raw16 if v6 else raw16[12:])
        return found

    return text


class _Keeper:
    """Appends the frames of wanted flows to the spool, within the per-flow byte limit."""

    def __init__(
        self,
        by_key: dict[Endpoints, list[FlowPackets]],
        anomalies: AnomalyCounter,
        max_bytes_per_flow: int,
        spool: IO[bytes],
    ) -> None:
        self._by_key = by_key
        self._anomalies = anomalies
        self._max = max_bytes_per_flow
        self._spool = spool
        self._end = spool.seek(0, io.SEEK_END)  # where the next frame goes

    def decoded(self, record: CaptureRecord, seg: TcpSegment | None) -> None:
        if seg is not None:
            self.offer(record, canonical(seg.src, seg.sport, seg.dst, seg.dport), seg.timestamp)

    def offer(self, record: CaptureRecord, endpoints: Endpoints, timestamp: float) -> None:
        candidates = self._by_key.get(endpoints)
        if not candidates:
            return
        for flow in candidates:
            if flow.start <= timestamp <= flow.end:
                data = record.data
                if flow.captured_bytes + len(data) > self._max:
                    if not flow.truncated:
                        flow.truncated = True
                        self._anomalies.count("evidence.pcap_truncated", flow.uid)
                    return
                flow.packets += 1
                flow.captured_bytes += len(data)
                if flow.linktype is None:
                    flow.linktype = record.linktype
                elif record.linktype != flow.linktype:
                    flow.mixed_linktype = True  # a pcap holds one link type: counted by the caller
                    return
                micros = round(record.timestamp * 1_000_000)
                sec, usec = divmod(micros, 1_000_000)
                head = struct.pack(
                    "<IIII", sec, usec, len(data), max(record.wire_length, len(data))
                )
                self._spool.write(head + data)
                flow.pieces.append((self._end, len(head) + len(data)))
                self._end += len(head) + len(data)
                return
