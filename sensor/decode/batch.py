"""Batch (numpy) hot path: decode whole blocks of pcap records and account bulk segments in bulk.

Per-packet Python is the sensor's cost: walking a frame's layers, building a ``TcpSegment`` and
updating a flow for every pure ACK or every TLS record nobody will read. This module reads a classic
Ethernet pcap in blocks (``PcapReader.blocks``), parses record, Ethernet/802.1Q/QinQ, IPv4 (no
options, no fragments), IPv6 (no extension headers) and TCP headers for the whole block with numpy,
and sorts each record into one of three paths:

* **fallback**: anything else (UDP, tunnels, fragments, IP options, extension headers, odd
  lengths, non-IP) goes to the ordinary ``PacketDecoder`` unchanged, so it counts the same
  anomalies and keeps its fragment state;
* **per packet**: a fast-path TCP segment that matters to the flow table one by one (handshake,
  FIN/RST, payload a parser still reads, the first packets of a flow in a block) becomes a
  ``TcpSegment`` straight from the parsed fields and goes to ``FlowTable.process``;
* **bulk**: pure ACKs (no payload, no SYN/FIN/RST) and payload of directions the application layer
  discarded (``Flow.discard_payload``) are grouped by flow with numpy and applied once per flow
  and block: packet and byte counts, the reassembler's counting (``StreamReassembler.skip``), the
  last-seen time and the activity order. No Python object is made per packet and no payload byte
  is copied.

Bulk accounting gives exactly the results of the per-packet path (``tests/test_batch_decode.py``
compares flows, objects and alerts); it is used in a block only when that is guaranteed: timestamps
never go backwards, no flow can reach its idle timeout and the table cannot fill up during the
block, and a flow is bulk-accounted only if it existed before the block, is not closing, has no
control segment in the block and already shows the history letter the bulk packets would add.
Anything else in the block takes the per-packet path, which is always correct.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
import numpy.typing as npt

from sensor.capture.pcap import BLOCK_BYTES, PcapReader
from sensor.capture.record import CaptureRecord
from sensor.decode.decoder import PacketDecoder
from sensor.decode.ip import address
from sensor.decode.link import LINKTYPE_ETHERNET
from sensor.decode.packet import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpSegment
from sensor.flows.table import Direction, Flow, FlowTable

__all__ = ["BLOCK_BYTES", "BatchRunner", "BatchStats", "BlockHeaders", "supports"]

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_CONTROL = TCP_SYN | TCP_FIN | TCP_RST
_PAD = 128  # bytes appended to a block: the furthest fixed-offset read past a record's start
MAX_ADDRESS_CACHE = 65_536  # text forms of addresses kept; cleared when full (SYN floods)
_MIX = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0x27D4EB2F165667C5),
)


def supports(reader: object) -> TypeGuard[PcapReader]:
    """The batch path reads classic pcap files with Ethernet link type."""
    return isinstance(reader, PcapReader) and reader.linktype == LINKTYPE_ETHERNET


@dataclass
class BatchStats:
    """What the batch path did, for the bench and for tests (not part of the audit output)."""

    records: int = 0
    segments: int = 0  # TCP segments accounted, however they were accounted
    fallback: int = 0
    per_packet: int = 0
    bulk: int = 0  # segments accounted in bulk (no per-packet Python)
    bulk_payload_bytes: int = 0  # payload counted, not copied


def _be16(a: U8, at: I64) -> I64:
    return (a[at].astype(np.int64) << 8) | a[at + 1]


def _be32(a: U8, at: I64) -> I64:
    return (_be16(a, at) << 16) | _be16(a, at + 2)


class BlockHeaders:
    """Header fields of the fast-path TCP records of one block, as arrays (record order)."""

    def __init__(self, block: bytes, starts: I64, order: str, divisor: int) -> None:
        # Padded so that reads for records too short for the fast path stay inside the array.
        a = np.frombuffer(block + bytes(_PAD), dtype=np.uint8)
        n = len(starts)
        words = np.dtype(np.uint32).newbyteorder("<" if order == "<" else ">")
        head = a[starts[:, None] + np.arange(16)].copy().view(words).reshape(n, 4).astype(np.int64)
        self.timestamps = head[:, 0] + head[:, 1] / divisor
        caplen = head[:, 2]
        d = starts + 16
        end = d + caplen
        ok = caplen >= 54  # Ethernet + IPv4 + TCP at the least
        safe = np.where(ok, d, 0)
        et = _be16(a, safe + 12)
        tags = np.zeros(n, np.int64)
        vlan1 = np.full(n, -1, np.int64)
        vlan2 = np.full(n, -1, np.int64)
        for level, vlan in ((0, vlan1), (1, vlan2)):
            tagged = ok & np.isin(et, _VLAN_TPIDS) & (tags == level)
            at = np.where(tagged, safe + 14 + 4 * level, 0)
            ok &= ~tagged | (at + 4 + 40 <= end)
            at = np.where(ok & tagged, at, 0)
            vlan[:] = np.where(tagged, _be16(a, at) & 0x0FFF, vlan)
            et = np.where(tagged, _be16(a, at + 2), et)
            tags += tagged
        ok &= ~np.isin(et, _VLAN_TPIDS)  # a third tag: the per-packet walker handles it
        ip = d + 14 + 4 * tags
        v4 = ok & (et == 0x0800)
        v6 = ok & (et == 0x86DD)
        ip4 = np.where(v4 & (ip + 40 <= end), ip, 0)
        v4 &= ip4 > 0
        total = _be16(a, ip4 + 2)
        v4 &= (a[ip4] == 0x45) & (total >= 40) & (ip4 + total <= end)
        v4 &= ((_be16(a, ip4 + 6) & 0x3FFF) == 0) & (a[ip4 + 9] == 6)
        ip6 = np.where(v6 & (ip + 60 <= end), ip, 0)
        v6 &= ip6 > 0
        plen = _be16(a, ip6 + 4)
        v6 &= ((a[ip6] >> 4) == 6) & (a[ip6 + 6] == 6) & (plen >= 20) & (ip6 + 40 + plen <= end)
        fast = v4 | v6
        tcp = np.where(v4, ip + 20, ip + 40)
        stop = np.where(v4, ip + total, ip + 40 + plen)
        tcp = np.where(fast, tcp, 0)
        header_len = (a[tcp + 12] >> 4).astype(np.int64) * 4
        fast &= (header_len >= 20) & (tcp + header_len <= stop)
        self.fast = fast
        self.v6 = v6 & fast
        t = np.where(fast, tcp, 0)
        self.sport = _be16(a, t)
        self.dport = _be16(a, t + 2)
        self.seq = _be32(a, t + 4)
        self.ack = _be32(a, t + 8)
        self.flags = a[t + 13].astype(np.int64)
        self.payload_start = t + header_len
        self.payload_len = np.where(fast, stop - self.payload_start, 0)
        self.tags, self.vlan1, self.vlan2 = tags, vlan1, vlan2
        # Addresses as 16 bytes (IPv4 in the last four) read as two 64-bit halves, for grouping.
        src16 = np.zeros((n, 16), np.uint8)
        dst16 = np.zeros((n, 16), np.uint8)
        i4, i6 = np.nonzero(v4 & fast)[0], np.nonzero(self.v6)[0]
        src16[i4, 12:] = a[(ip[i4] + 12)[:, None] + np.arange(4)]
        dst16[i4, 12:] = a[(ip[i4] + 16)[:, None] + np.arange(4)]
        src16[i6] = a[(ip[i6] + 8)[:, None] + np.arange(16)]
        dst16[i6] = a[(ip[i6] + 24)[:, None] + np.arange(16)]
        self.src16, self.dst16 = src16, dst16
        s64, d64 = src16.view(np.uint64), dst16.view(np.uint64)
        self.src_hi, self.src_lo = s64[:, 0], s64[:, 1]
        self.dst_hi, self.dst_lo = d64[:, 0], d64[:, 1]

    def flow_hash(self) -> U64:
        """Direction-independent hash of the 5-tuple and VLAN tags (grouping only, verified)."""
        m0, m1, m2, m3 = _MIX
        with np.errstate(over="ignore"):
            a = self.src_hi * m0 ^ self.src_lo * m1 ^ self.sport.astype(np.uint64) * m2
            b = self.dst_hi * m0 ^ self.dst_lo * m1 ^ self.dport.astype(np.uint64) * m2
            v = (self.vlan1 + 2).astype(np.uint64) * m3 + (self.vlan2 + 2).astype(np.uint64)
            hashed: U64 = (a ^ b) + v * m1 + self.v6.astype(np.uint64)
            return hashed


class BatchRunner:
    """Feeds one capture's records to a decoder and flow table, in blocks (see module doc)."""

    def __init__(
        self, decoder: PacketDecoder, table: FlowTable, block_bytes: int = BLOCK_BYTES
    ) -> None:
        self.decoder = decoder
        self.block_bytes = block_bytes
        self.table = table
        self.stats = BatchStats()
        self._v4_text: dict[bytes, str] = {}
        self._v6_text: dict[bytes, str] = {}
        self._last_time = float("-inf")
        self._ordered = True  # timestamps never went backwards so far: activity order = time order

    def run(self, reader: PcapReader, on_block: Callable[[int], None] | None = None) -> BatchStats:
        """Feed every block; ``on_block(bytes_read)`` after each, for a progress display."""
        for block in reader.blocks(self.block_bytes):
            self._block(reader, block.data, block.starts, block.first_index)
            if on_block is not None:
                on_block(reader.bytes_read)
        return self.stats

    # -- one block --------------------------------------------------------------------------

    def _block(self, reader: PcapReader, data: bytes, start_list: list[int], first: int) -> None:
        starts = np.asarray(start_list, dtype=np.int64)
        h = BlockHeaders(data, starts, reader.byte_order, reader.ts_divisor)
        n = len(starts)
        self.stats.records += n
        times = h.timestamps
        monotonic = bool(n == 1 or np.all(times[1:] >= times[:-1])) and times[0] >= self._last_time
        self._ordered &= monotonic
        bulk = np.zeros(n, bool)
        groups: list[_Group] = []
        if self._ordered:
            bulk, groups = self._plan_bulk(h, n)
        self._last_time = max(self._last_time, float(times.max()))
        touched: dict[int, tuple[int, Flow]] = {}
        ts_list = times.tolist()
        todo = np.flatnonzero(~bulk)
        is_fast = h.fast[todo] & monotonic
        segments = iter(self._segments(h, data, todo[is_fast], ts_list, first))
        decoder, table, stats = self.decoder, self.table, self.stats
        for i, quick in zip(todo.tolist(), is_fast.tolist(), strict=True):
            seg: TcpSegment | None
            if quick:
                seg = next(segments)
                stats.per_packet += 1
            else:
                stats.fallback += 1
                seg = decoder.decode(
                    self._record(reader, data, start_list[i], ts_list[i], first + i)
                )
                if seg is None:
                    continue
            stats.segments += 1
            flow = table.process(seg)
            if groups:
                touched[id(flow)] = (i, flow)
        if groups:
            self._apply_bulk(h, groups, touched, ts_list)
            order = sorted(touched.values(), key=lambda item: item[0])
            table.touch([flow for _, flow in order])
            table.advance(ts_list[-1])

    @staticmethod
    def _record(reader: PcapReader, data: bytes, at: int, ts: float, index: int) -> CaptureRecord:
        """The record at ``at`` as the per-packet reader would have produced it."""
        big = reader.byte_order != "<"
        length = int.from_bytes(data[at + 8 : at + 12], "big" if big else "little")
        wire = int.from_bytes(data[at + 12 : at + 16], "big" if big else "little")
        return CaptureRecord(index, ts, LINKTYPE_ETHERNET, data[at + 16 : at + 16 + length], wire)

    def _segments(
        self, h: BlockHeaders, data: bytes, rows: I64, ts_list: list[float], first: int
    ) -> list[TcpSegment]:
        """``TcpSegment`` values for fast-path records ``rows``: fields pulled out of the arrays
        a column at a time (``tolist``), not a numpy scalar at a time."""
        v6 = h.v6[rows].tolist()
        src16, dst16 = h.src16[rows].tobytes(), h.dst16[rows].tobytes()
        text = self._text
        vlans = [
            () if t == 0 else (a,) if t == 1 else (a, b)
            for t, a, b in zip(
                h.tags[rows].tolist(), h.vlan1[rows].tolist(), h.vlan2[rows].tolist(), strict=True
            )
        ]
        out: list[TcpSegment] = []
        for k, (i, sport, dport, seq, ack, flags, p, n) in enumerate(
            zip(
                rows.tolist(),
                h.sport[rows].tolist(),
                h.dport[rows].tolist(),
                h.seq[rows].tolist(),
                h.ack[rows].tolist(),
                h.flags[rows].tolist(),
                h.payload_start[rows].tolist(),
                h.payload_len[rows].tolist(),
                strict=True,
            )
        ):
            at = 16 * k
            out.append(
                TcpSegment(
                    ts_list[i],
                    text(src16[at : at + 16], v6[k]),
                    text(dst16[at : at + 16], v6[k]),
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    data[p : p + n],
                    vlans[k],
                    first + i,
                )
            )
        return out

    def _text(self, raw16: bytes, v6: bool) -> str:
        """Text form of a 16-byte address slot (IPv4 in its last four bytes), cached."""
        cache = self._v6_text if v6 else self._v4_text
        text = cache.get(raw16)
        if text is None:
            if len(cache) >= MAX_ADDRESS_CACHE:
                cache.clear()
            text = address(raw16) if v6 else socket.inet_ntop(socket.AF_INET, raw16[12:])
            cache[raw16] = text
        return text

    # -- bulk accounting --------------------------------------------------------------------

    def _plan_bulk(self, h: BlockHeaders, n: int) -> tuple[npt.NDArray[np.bool_], list[_Group]]:
        """Which fast-path records of the block can be accounted in bulk, grouped by flow."""
        table = self.table
        bulk = np.zeros(n, bool)
        times = h.timestamps
        # One second of margin keeps float rounding in the idle comparison out of the question.
        if table.earliest_idle_expiry() <= times[-1] + 1.0 or len(table) + n >= table.max_flows:
            return bulk, []
        fast = np.nonzero(h.fast)[0]
        if len(fast) == 0:
            return bulk, []
        keys = h.flow_hash()[fast]
        unique, first_pos, inverse = np.unique(keys, return_index=True, return_inverse=True)
        firsts = fast[first_pos][inverse.ravel()]  # per fast record: the first record of its group
        same = (
            (h.src_hi[fast] == h.src_hi[firsts])
            & (h.src_lo[fast] == h.src_lo[firsts])
            & (h.sport[fast] == h.sport[firsts])
            & (h.dst_hi[fast] == h.dst_hi[firsts])
            & (h.dst_lo[fast] == h.dst_lo[firsts])
            & (h.dport[fast] == h.dport[firsts])
        )
        swapped = (
            (h.src_hi[fast] == h.dst_hi[firsts])
            & (h.src_lo[fast] == h.dst_lo[firsts])
            & (h.sport[fast] == h.dport[firsts])
            & (h.dst_hi[fast] == h.src_hi[firsts])
            & (h.dst_lo[fast] == h.src_lo[firsts])
            & (h.dport[fast] == h.sport[firsts])
        )
        exact = (
            (same | swapped)
            & (h.vlan1[fast] == h.vlan1[firsts])
            & (h.vlan2[fast] == h.vlan2[firsts])
            & (h.v6[fast] == h.v6[firsts])
        )
        flags = h.flags[fast]
        inverse = inverse.ravel()
        # A SYN may end the flow at once (a reused 5-tuple): such groups stay per packet. A FIN or
        # RST only starts the close linger; records before it can be bulk if the block is shorter
        # than the linger, so the flow cannot end inside the block.
        short = times[-1] - times[0] < table.close_linger
        stopper = (flags & (TCP_FIN | TCP_RST)) != 0 if short else (flags & _CONTROL) != 0
        bad = ((flags & TCP_SYN) != 0) | ~exact
        bad = np.bincount(inverse, weights=bad, minlength=len(unique)) > 0
        order = np.argsort(inverse, kind="stable")  # record order kept inside each group
        bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse, minlength=len(unique)))))
        stops = stopper[order]
        groups: list[_Group] = []
        for g in np.nonzero(~bad)[0].tolist():
            lo, hi = int(bounds[g]), int(bounds[g + 1])
            cut = np.flatnonzero(stops[lo:hi])
            if len(cut):
                hi = lo + int(cut[0])
                if hi == lo:
                    continue
            rows = order[lo:hi]
            group = self._group(h, fast[rows], same[rows])
            if group is not None:
                bulk[group.indices] = True
                groups.append(group)
        return bulk, groups

    def _group(
        self, h: BlockHeaders, members: I64, same_as_first: npt.NDArray[np.bool_]
    ) -> _Group | None:
        """A flow's records in the block, if they can be accounted in bulk (see module doc)."""
        i = int(members[0])
        v6 = bool(h.v6[i])
        src, dst = self._text(h.src16[i].tobytes(), v6), self._text(h.dst16[i].tobytes(), v6)
        sport, dport = int(h.sport[i]), int(h.dport[i])
        tags = int(h.tags[i])
        vlan: tuple[int, ...] = ()
        if tags:
            vlan = (int(h.vlan1[i]),) if tags == 1 else (int(h.vlan1[i]), int(h.vlan2[i]))
        flow = self.table.lookup(src, sport, dst, dport, vlan)
        if flow is None or flow.close_reason:
            return None
        first_is_orig = (src, sport) == (flow.orig_ip, flow.orig_port)
        to_responder = same_as_first == first_is_orig
        lengths = h.payload_len[members]
        flags = h.flags[members]
        keep = np.zeros(len(members), bool)
        for upload, letter_data, letter_ack in ((True, "D", "A"), (False, "d", "a")):
            mine = to_responder == upload
            side = flow.to_responder if upload else flow.to_originator
            acks = mine & (lengths == 0)
            if acks.any():
                with_ack = acks & ((flags & TCP_ACK) != 0)
                if not with_ack.any() or letter_ack in flow.history:
                    keep |= acks
            data = mine & (lengths > 0)
            if data.any() and side.stream.discarding and letter_data in flow.history:
                keep |= data
        if not keep.any():
            return None
        return _Group(flow, members[keep], to_responder[keep], int(members[-1]))

    def _apply_bulk(
        self,
        h: BlockHeaders,
        groups: list[_Group],
        touched: dict[int, tuple[int, Flow]],
        ts_list: list[float],
    ) -> None:
        stats = self.stats
        for group in groups:
            flow, idx = group.flow, group.indices
            lengths = h.payload_len[idx]
            for upload in (True, False):
                mine = group.to_responder == upload
                count = int(mine.sum())
                if not count:
                    continue
                side = flow.to_responder if upload else flow.to_originator
                side.packets += count
                carried = lengths[mine]
                total = int(carried.sum())
                side.bytes += total
                if total:
                    stream = side.stream
                    direction = Direction.TO_RESPONDER if upload else Direction.TO_ORIGINATOR
                    with_data = carried > 0
                    for seq, length in zip(
                        h.seq[idx][mine][with_data].tolist(),
                        carried[with_data].tolist(),
                        strict=True,
                    ):
                        before = stream.retransmitted_bytes
                        self.table.note_stream(flow, direction, before, stream.skip(seq, length))
                    stats.bulk_payload_bytes += total
            last = int(idx[-1])
            seen = touched.get(id(flow))
            if seen is None or seen[0] < last:
                flow.last = ts_list[last]
                touched[id(flow)] = (last, flow)
            stats.bulk += len(idx)
            stats.segments += len(idx)


@dataclass(slots=True)
class _Group:
    flow: Flow
    indices: I64  # record positions in the block, in order
    to_responder: npt.NDArray[np.bool_]
    last_member: int
