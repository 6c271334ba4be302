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
import ipaddress
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from sensor.anomalies import AnomalyCounter
from sensor.capture import CaptureRecord, open_capture
from sensor.capture.pcap import PcapReader, RecordBlock
from sensor.capture.walk import gather, native
from sensor.decode.batch import BlockHeaders, supports
from sensor.decode.decoder import PacketDecoder
from sensor.decode.ip import address
from sensor.decode.link import LINKTYPE_ETHERNET
from sensor.decode.packet import TcpSegment

PCAP_SNAPLEN = 262_144
Endpoints = tuple[str, int, str, int]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


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
    anomalies); only evidence limits are counted in ``anomalies``. A classic Ethernet pcap goes
    through ``_collect_blocks`` (plain TCP frames matched in numpy, the rest decoded); any other
    capture record by record, where plain TCP frames of other port pairs are skipped undecoded.
    Both keep the same frames.
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
            _collect_blocks(reader, by_key, keeper, decoder)
        else:
            for record in reader:
                ports = _ports_at(record.data) if record.linktype == LINKTYPE_ETHERNET else None
                if ports is not None and ports not in wanted:
                    continue  # a plain TCP frame of another connection: no need to decode it
                keeper.decoded(record, decoder.decode(record))
    finally:
        reader.close()


_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)


def _endpoint_hash(hi: U64, lo: U64, port: I64) -> U64:
    m0, m1, m2 = (np.uint64(m) for m in _MIX)
    with np.errstate(over="ignore"):
        hashed: U64 = hi * m0 ^ lo * m1 ^ (port.astype(np.uint64) + np.uint64(1)) * m2
        return hashed


class _Wanted:
    """The wanted connections as arrays, to find their plain TCP frames in a block at once.

    Addresses are the 16-byte form of ``BlockHeaders`` (IPv4 in the last four bytes) with the
    family, so a match is exact: ``address`` is one-to-one per family."""

    def __init__(self, by_key: dict[Endpoints, list[FlowPackets]]) -> None:
        self.groups = list(by_key.values())
        ends = []
        for ip_a, port_a, ip_b, port_b in by_key:
            ends.append((*_raw16(ip_a), port_a, *_raw16(ip_b), port_b))
        self.v6 = np.array([":" in key[0] for key in by_key], dtype=bool)
        self.a_hi = np.array([e[0] for e in ends], dtype=np.uint64)
        self.a_lo = np.array([e[1] for e in ends], dtype=np.uint64)
        self.a_port = np.array([e[2] for e in ends], dtype=np.int64)
        self.b_hi = np.array([e[3] for e in ends], dtype=np.uint64)
        self.b_lo = np.array([e[4] for e in ends], dtype=np.uint64)
        self.b_port = np.array([e[5] for e in ends], dtype=np.int64)
        hashed = self._hash(self.a_hi, self.a_lo, self.a_port, self.b_hi, self.b_lo, self.b_port)
        hashed = hashed + self.v6.astype(np.uint64)
        self.order = np.argsort(hashed, kind="stable")
        self.sorted = hashed[self.order]
        self.unique = bool(len(np.unique(hashed)) == len(hashed))
        self.single = np.array([len(g) == 1 for g in self.groups], dtype=bool)
        self.start = np.array([g[0].start for g in self.groups], dtype=np.float64)
        self.end = np.array([g[0].end for g in self.groups], dtype=np.float64)

    @staticmethod
    def _hash(a_hi: U64, a_lo: U64, a_port: I64, b_hi: U64, b_lo: U64, b_port: I64) -> U64:
        both: U64 = _endpoint_hash(a_hi, a_lo, a_port) ^ _endpoint_hash(b_hi, b_lo, b_port)
        return both

    def match(self, h: BlockHeaders) -> I64:
        """Per record: the index of its wanted connection; -1 none; -2 look it up by text."""
        hashed = self._hash(h.src_hi, h.src_lo, h.sport, h.dst_hi, h.dst_lo, h.dport)
        hashed = hashed + h.v6.astype(np.uint64)
        at = np.minimum(np.searchsorted(self.sorted, hashed), len(self.sorted) - 1)
        hit = h.fast & (self.sorted[at] == hashed)
        g = self.order[at]
        same = (
            (h.src_hi == self.a_hi[g])
            & (h.src_lo == self.a_lo[g])
            & (h.sport == self.a_port[g])
            & (h.dst_hi == self.b_hi[g])
            & (h.dst_lo == self.b_lo[g])
            & (h.dport == self.b_port[g])
        )
        swapped = (
            (h.src_hi == self.b_hi[g])
            & (h.src_lo == self.b_lo[g])
            & (h.sport == self.b_port[g])
            & (h.dst_hi == self.a_hi[g])
            & (h.dst_lo == self.a_lo[g])
            & (h.dport == self.a_port[g])
        )
        exact = hit & (same | swapped) & (h.v6 == self.v6[g])
        if not self.unique:
            exact &= False  # two wanted connections share a hash: every hit by text
        found: I64 = np.where(exact, g, np.where(hit, -2, -1)).astype(np.int64)
        return found


def _raw16(text: str) -> tuple[int, int]:
    """The two native 64-bit halves of an address in ``BlockHeaders``' 16-byte form."""
    packed = ipaddress.ip_address(text).packed
    halves = np.frombuffer(packed.rjust(16, b"\0"), dtype=np.uint64)
    return int(halves[0]), int(halves[1])


def _collect_blocks(
    reader: PcapReader,
    by_key: dict[Endpoints, list[FlowPackets]],
    keeper: _Keeper,
    decoder: PacketDecoder,
) -> None:
    """The block path of ``collect_flows`` (classic Ethernet pcap).

    Frames that are not plain TCP are decoded, in order, as the per-record path does. Plain TCP
    frames of wanted connections are found in numpy (``_Wanted``); a block whose kept frames all
    belong to connections with one flow, inside the byte limit and with no decoded frame kept,
    is spooled in bulk; any other block goes frame by frame through ``_Keeper.offer``, so the
    frames kept, their order per flow and the limits are those of the per-record path."""
    wanted = _Wanted(by_key)
    order, divisor, linktype = reader.byte_order, reader.ts_divisor, reader.linktype
    header = struct.Struct(order + "IIII")
    words = np.dtype(np.uint32).newbyteorder("<" if order == "<" else ">")
    text = _address_text()
    for block in reader.blocks():
        data = block.data
        starts = block.starts
        h = BlockHeaders(data, starts, order, divisor)

        def record(i: int, block: RecordBlock = block) -> CaptureRecord:
            at = int(block.starts[i])
            ts_sec, ts_frac, caplen, wirelen = header.unpack_from(block.data, at)
            frame = block.data[at + 16 : at + 16 + caplen]
            return CaptureRecord(
                block.first_index + i, ts_sec + ts_frac / divisor, linktype, frame, wirelen
            )

        events: list[tuple[int, CaptureRecord, Endpoints, float]] = []
        for i in np.flatnonzero(~h.fast).tolist():
            rec = record(i)
            seg = decoder.decode(rec)
            if seg is not None:
                endpoints = canonical(seg.src, seg.sport, seg.dst, seg.dport)
                if endpoints in by_key:
                    events.append((i, rec, endpoints, seg.timestamp))
        group = wanted.match(h)
        rows = np.flatnonzero(group != -1)
        g = group[rows]
        bulk = not events and bool(np.all(g >= 0)) and bool(np.all(wanted.single[g]))
        if bulk and len(rows):
            ts = h.timestamps[rows]
            inside = (wanted.start[g] <= ts) & (ts <= wanted.end[g])
            rows, g, ts = rows[inside], g[inside], ts[inside]
            head = (
                np.frombuffer(data, dtype=np.uint8)[starts[rows][:, None] + np.arange(16)]
                .copy()
                .view(words)
                .reshape(len(rows), 4)
                .astype(np.int64)
            )
            caplen, wirelen = head[:, 2], head[:, 3]
            per_group = np.bincount(g, weights=caplen, minlength=len(wanted.groups))
            captured = np.array([grp[0].captured_bytes for grp in wanted.groups], dtype=np.int64)
            bulk = bool(np.all(captured + per_group <= keeper.max_bytes))
        if bulk and len(rows):
            keeper.spool_bulk(data, starts[rows], g, ts, caplen, wirelen, wanted.groups, linktype)
            continue
        if not bulk:
            for i in np.flatnonzero(group != -1).tolist():
                src, dst = h.src16[i].tobytes(), h.dst16[i].tobytes()
                v6 = bool(h.v6[i])
                endpoints = canonical(
                    text(src, v6), int(h.sport[i]), text(dst, v6), int(h.dport[i])
                )
                rec = record(i)
                events.append((i, rec, endpoints, rec.timestamp))
            events.sort(key=lambda event: event[0])
            for _i, rec, endpoints, timestamp in events:
                keeper.offer(rec, endpoints, timestamp)


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
        self.max_bytes = max_bytes_per_flow
        self._spool = spool
        self._end = spool.seek(0, io.SEEK_END)  # where the next frame goes

    def spool_bulk(
        self,
        data: bytes,
        starts: I64,
        group: I64,
        timestamps: npt.NDArray[np.float64],
        caplen: I64,
        wirelen: I64,
        groups: list[list[FlowPackets]],
        linktype: int,
    ) -> None:
        """Spool plain TCP frames of one-flow connections that all fit their flow's limit (the
        caller checked): the same pcap records ``offer`` writes, built with numpy (and in C by
        ``sensor.capture.walk.gather`` when the extension was built)."""
        if not len(starts):
            return
        micros = np.rint(timestamps * 1_000_000).astype(np.int64)  # round(): half to even
        heads = np.stack(
            [micros // 1_000_000, micros % 1_000_000, caplen, np.maximum(wirelen, caplen)], axis=1
        )
        head_bytes = heads.astype("<u4").tobytes()
        self._spool.write(gather(data, starts, caplen, head_bytes, native()))
        lengths = caplen + 16
        offsets = self._end + np.cumsum(lengths) - lengths
        # each flow's pieces in capture order: the records of one group, in order, at a time
        order = np.argsort(group, kind="stable")
        keys = group[order]
        firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        bounds = np.concatenate((firsts, [len(keys)])).tolist()
        for g, lo, hi in zip(keys[firsts].tolist(), bounds[:-1], bounds[1:], strict=True):
            rows = order[lo:hi]
            flow = groups[g][0]
            flow.pieces.extend(zip(offsets[rows].tolist(), lengths[rows].tolist(), strict=True))
            flow.packets += hi - lo
            flow.captured_bytes += int(caplen[rows].sum())
            if flow.linktype is None:
                flow.linktype = linktype
        self._end += int(lengths.sum())

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
                if flow.captured_bytes + len(data) > self.max_bytes:
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
