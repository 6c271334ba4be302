"""Batch (numpy) hot path: decode whole blocks of pcap records, account what it can in bulk.

Per-packet Python is the sensor's cost: walking a frame's layers, building a ``TcpSegment`` and
updating a flow for every pure ACK, every in-order data segment or every TLS record nobody will
read. This module reads a classic Ethernet pcap in blocks (``PcapReader.blocks``), parses the
headers of the whole block with numpy (``sensor.decode.headers.BlockHeaders``), plans which
records need no per-packet work (``sensor.decode.plan``) and then walks the block in capture
order:

* **fallback**: anything the numpy parser does not take (UDP, tunnels, fragments, IP options,
  extension headers, odd lengths, non-IP) goes to the ordinary ``PacketDecoder`` unchanged, so it
  counts the same anomalies and keeps its fragment state;
* **per packet**: a fast-path TCP segment that matters to the flow table one by one (handshake,
  FIN/RST, retransmissions, reordering, the first packets of a flow in a block) becomes a
  ``TcpSegment`` straight from the parsed fields and goes to ``FlowTable.process``;
* **in order**: a data segment that continues its direction's stream exactly goes to
  ``FlowTable.in_order`` at its place: counters, the reassembler's in-order shortcut and the
  handler's ``on_data``, without a ``TcpSegment``; a handler that accepts coalesced delivery
  (``coalesce = True``) gets a direction's run of such segments in the block as one chunk, as
  far as its ``quiet`` budget allows (``sensor.decode.plan``);
* **bulk**: pure ACKs and payload of directions the application layer discarded
  (``Flow.discard_payload``) are counted once per flow direction and block, after the block's
  other records: no Python object per packet and no payload byte copied.

The results are exactly those of the per-packet path (``tests/test_batch_decode.py`` compares
flows, objects and alerts). What the shortcuts leave out of each record is applied where the
per-packet path would have made it visible: the expiry of ended flows before every event a
handler or the decoder sees (at the time of the last TCP segment before it), and the table's
activity order and the last-seen times at the end of the block (nothing in a planned block can
evict or time out a flow; see ``sensor.decode.plan``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

from sensor.capture.pcap import BLOCK_BYTES, PcapReader
from sensor.capture.record import CaptureRecord
from sensor.decode.decoder import PacketDecoder
from sensor.decode.headers import I64, BlockHeaders
from sensor.decode.ip import address
from sensor.decode.link import LINKTYPE_ETHERNET
from sensor.decode.packet import TcpSegment
from sensor.decode.plan import BULK, IN_ORDER, MEMBER, NORMAL, BlockPlan, plan_block
from sensor.flows.table import Flow, FlowTable

__all__ = ["BLOCK_BYTES", "BatchRunner", "BatchStats", "BlockHeaders", "supports"]

MAX_ADDRESS_CACHE = 65_536  # text forms of addresses kept; cleared when full (SYN floods)


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
    in_order: int = 0  # data segments delivered one by one without a TcpSegment
    coalesced: int = 0  # data segments delivered as part of a run
    runs: int = 0  # chunks those runs made


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
        self._tcp_time = float("-inf")  # time of the last fast-path TCP segment of earlier blocks

    def run(self, reader: PcapReader, on_block: Callable[[int], None] | None = None) -> BatchStats:
        """Feed every block; ``on_block(bytes_read)`` after each, for a progress display."""
        for block in reader.blocks(self.block_bytes):
            self._block(reader, block.data, block.starts, block.first_index)
            if on_block is not None:
                on_block(reader.bytes_read)
        return self.stats

    # -- one block --------------------------------------------------------------------------

    def _block(self, reader: PcapReader, data: bytes, starts: I64, first: int) -> None:
        h = BlockHeaders(data, starts, reader.byte_order, reader.ts_divisor)
        n = len(starts)
        self.stats.records += n
        times = h.timestamps
        monotonic = bool(n == 1 or np.all(times[1:] >= times[:-1])) and times[0] >= self._last_time
        self._ordered &= monotonic
        plan = plan_block(h, self.table, self._text) if self._ordered else None
        self._last_time = max(self._last_time, float(times.max()))
        ts_list = times.tolist()
        if plan is None:
            self._plain(reader, data, starts, first, h, ts_list, monotonic)
        else:
            self._planned(reader, data, starts, first, h, ts_list, plan)

    def _plain(
        self,
        reader: PcapReader,
        data: bytes,
        starts: I64,
        first: int,
        h: BlockHeaders,
        ts_list: list[float],
        monotonic: bool,
    ) -> None:
        """Every record of the block one by one (fast-path headers still parsed by numpy)."""
        process, stats = self.table.process, self.stats
        rows = np.arange(len(ts_list))
        quick = h.fast & monotonic
        segments = iter(self._segments(h, data, rows[quick], ts_list, first))
        for i, fast in enumerate(quick.tolist()):
            seg = self._segment(fast, segments, reader, data, starts, i, ts_list[i], first)
            if seg is None:
                continue
            stats.segments += 1
            process(seg)
        if monotonic and h.fast.any():
            self._tcp_time = ts_list[int(np.flatnonzero(h.fast)[-1])]

    def _planned(
        self,
        reader: PcapReader,
        data: bytes,
        starts: I64,
        first: int,
        h: BlockHeaders,
        ts_list: list[float],
        plan: BlockPlan,
    ) -> None:
        """The block with its plan (``sensor.decode.plan``): bulk records skipped in the walk and
        applied at the end, in-order data and runs delivered at their place."""
        table, stats = self.table, self.stats
        kind = plan.kind
        todo = np.flatnonzero((kind != BULK) & (kind != MEMBER))
        kinds = kind[todo]
        normal = todo[kinds == NORMAL]
        quick_mask = h.fast[normal]
        segments = iter(self._segments(h, data, normal[quick_mask], ts_list, first))
        quick = iter(quick_mask.tolist())
        in_order = iter(plan.in_order)
        # The expiry a skipped segment would have run is run before the next thing anyone sees:
        # at the time of the last fast-path TCP segment before a normal record, at its own time
        # for in-order data and runs.
        fast_at = np.where(h.fast, np.arange(len(ts_list)), -1)
        last_fast = np.maximum.accumulate(fast_at)
        before = np.concatenate(([-1], last_fast[:-1]))[todo]
        before = np.where(kinds == NORMAL, before, todo)
        times = np.where(before >= 0, h.timestamps[np.maximum(before, 0)], self._tcp_time).tolist()
        singles = len(plan.in_order)
        touched: dict[int, tuple[int, Flow]] = {}
        view = memoryview(data)
        deadline = table.next_close_deadline()
        in_order_call, process = table.in_order, table.process
        flow: Flow
        for i, k, previous in zip(todo.tolist(), kinds.tolist(), times, strict=True):
            if previous >= deadline:
                table.advance(previous)
                deadline = table.next_close_deadline()
            if k == NORMAL:
                seg = self._segment(
                    next(quick), segments, reader, data, starts, i, ts_list[i], first
                )
                if seg is None:
                    continue
                stats.segments += 1
                flow = process(seg)
                deadline = table.next_close_deadline()
            elif k == IN_ORDER:
                flow, direction, seq, at, length = next(in_order)
                if not in_order_call(flow, direction, seq, data[at : at + length], 1, previous):
                    # the handler discarded the direction meanwhile: the ordinary way
                    singles -= 1
                    stats.per_packet += 1
                    flow = process(self._segments(h, data, np.array([i]), ts_list, first)[0])
                    deadline = table.next_close_deadline()
            else:  # RUN_END
                run = plan.runs[i]
                flow, ts = run.flow, previous
                stats.segments += len(run.rows)
                chunk = b"".join(
                    [
                        view[at : at + length]
                        for at, length in zip(run.starts, run.lengths, strict=True)
                    ]
                )
                if in_order_call(flow, run.direction, run.seq, chunk, len(run.rows), ts):
                    stats.coalesced += len(run.rows)
                    stats.runs += 1
                else:
                    stats.per_packet += len(run.rows)
                    rows = np.asarray(run.rows, dtype=np.int64)
                    for seg in self._segments(h, data, rows, ts_list, first):
                        process(seg)
                    deadline = table.next_close_deadline()
            touched[id(flow)] = (i, flow)
        stats.in_order += singles
        stats.segments += len(plan.in_order)
        self._apply_bulk(plan, touched, ts_list)
        table.touch([flow for _, flow in sorted(touched.values(), key=lambda item: item[0])])
        fast = np.flatnonzero(h.fast)
        if len(fast):
            self._tcp_time = ts_list[int(fast[-1])]
        table.advance(self._tcp_time)

    def _segment(
        self,
        fast: bool,
        segments: Iterator[TcpSegment],
        reader: PcapReader,
        data: bytes,
        starts: I64,
        i: int,
        ts: float,
        first: int,
    ) -> TcpSegment | None:
        """A record's segment: pre-built on the fast path, else from the per-packet decoder
        (None when the decoder has nothing for the flow table: UDP, a fragment, damage)."""
        if fast:
            self.stats.per_packet += 1
            return next(segments)
        self.stats.fallback += 1
        return self.decoder.decode(self._record(reader, data, int(starts[i]), ts, first + i))

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

    def _apply_bulk(
        self, plan: BlockPlan, touched: dict[int, tuple[int, Flow]], ts_list: list[float]
    ) -> None:
        """Counts, the reassembler's counting of discarded payload, and last-seen times of the
        block's bulk records, per flow direction (``sensor.decode.plan.Bulk``)."""
        stats, note_stream = self.stats, self.table.note_stream
        for bulk in plan.bulk:
            flow, direction = bulk.flow, bulk.direction
            side = flow.side(direction)
            side.packets += bulk.packets
            side.bytes += bulk.payload
            if bulk.seqs:
                stream = side.stream
                seqs, lengths = bulk.seqs, bulk.lengths
                done = stream.skip_in_order(seqs, lengths)  # no retransmission, no gap: no letter
                for seq, length in zip(seqs[done:], lengths[done:], strict=True):
                    before = stream.retransmitted_bytes
                    note_stream(flow, direction, before, stream.skip(seq, length))
                stats.bulk_payload_bytes += bulk.payload
            last = bulk.last
            seen = touched.get(id(flow))
            if seen is None or seen[0] < last:
                flow.last = ts_list[last]
                touched[id(flow)] = (last, flow)
            stats.bulk += bulk.packets
            stats.segments += bulk.packets
