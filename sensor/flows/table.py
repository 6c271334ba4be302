"""The flow table: one ``Flow`` per TCP connection, both directions reassembled.

Flows are keyed by the canonical (sorted) address/port pair plus VLAN tags and the tunnels the
packets rode in (``TcpSegment.tunnel``), so both directions of a connection land in the same entry.
The originator is the side that sent the SYN; when the handshake was not captured, the side that
sent the SYN-ACK is the responder, and failing that the side using the lower port (the well-known
service port) is taken as the responder.

The table is bounded: when ``max_flows`` is reached the least recently active flow is closed and
handed downstream as if it had ended (``flows.evicted`` is counted), so memory stays bounded under a
SYN flood. Flows end when they have been idle for ``idle_timeout`` seconds of capture time, or
``close_linger`` seconds after FIN in both directions or a RST (late retransmissions and the final
ACKs still belong to them). Each flow's stream events go to a ``FlowHandler`` created by the factory
the caller gives.

A mirror port often tags only one direction with a VLAN: a packet whose 5-tuple matches a flow with
other VLAN tags joins it if that flow has not seen this direction yet (``flows.vlan_asymmetric``).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sensor.anomalies import AnomalyCounter
from sensor.decode.packet import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TcpSegment, Tunnel
from sensor.flows.reassembly import StreamData, StreamEvent, StreamGap, StreamReassembler


class Direction(enum.Enum):
    """Direction of data relative to the originator of the connection."""

    TO_RESPONDER = "to_responder"  # the originator's upload (client to server)
    TO_ORIGINATOR = "to_originator"  # the responder's answer (server to client)


FlowKey = tuple[str, int, str, int, tuple[int, ...], tuple[Tunnel, ...]]


@dataclass(slots=True)
class FlowSide:
    """Per-direction counters and reassembly state."""

    stream: StreamReassembler
    packets: int = 0
    bytes: int = 0  # TCP payload bytes on the wire, retransmissions included
    fin: bool = False


@dataclass(slots=True)
class Flow:
    """One TCP connection as seen on the wire."""

    uid: str
    orig_ip: str
    orig_port: int
    resp_ip: str
    resp_port: int
    vlan: tuple[int, ...]
    start: float
    last: float
    to_responder: FlowSide
    to_originator: FlowSide
    saw_syn: bool = False
    # Zeek-style: S h A D F R T(retransmission) G(gap), upper case from the originator, lower
    # from the responder; a leading ^ says the originator was inferred from a first packet that
    # came from the responder (a SYN-ACK, or the port heuristic).
    history: str = ""
    close_reason: str = ""
    handler: FlowHandler | None = field(default=None, repr=False)
    key: FlowKey | None = field(default=None, repr=False)  # the table entry, for batch updates

    def side(self, direction: Direction) -> FlowSide:
        return self.to_responder if direction is Direction.TO_RESPONDER else self.to_originator

    def discard_payload(self, direction: Direction | None = None) -> None:
        """The application layer's signal that it no longer needs a direction's bytes (both
        directions when ``direction`` is None): from now on they are counted, not copied."""
        for d in (direction,) if direction is not None else tuple(Direction):
            self.side(d).stream.discard()


class FlowHandler(Protocol):
    """What the application layer implements to receive a flow's streams.

    A handler may also set a class attribute ``coalesce = True``: it then accepts that the batch
    path delivers a direction's in-order run of segments within a block as one chunk, at the
    place of the run's last segment (same bytes, offsets and gaps per direction; other flows'
    events, the flow's other direction and ``Flow.last`` no longer interleave with its bytes as
    on the wire). Without it, every segment's bytes arrive at their own place
    (docs/performance.md). A coalescing handler that also has ``quiet(direction) -> int`` bounds
    the run: asked when a block starts, it says how many of the direction's next bytes may
    arrive so (the application layer's plain body bytes, ``sensor.app.AppLayerHandler.quiet``);
    the segments past that arrive one by one at their own place.
    """

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None: ...

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None: ...

    def on_close(self, flow: Flow) -> None: ...


HandlerFactory = Callable[[Flow], FlowHandler]


def _without_vlan(key: FlowKey) -> tuple[object, ...]:
    """The key minus its VLAN tags: a reply tagged differently on an asymmetric SPAN shares it,
    while the tunnel context still separates flows that only look alike after decapsulation."""
    return key[:4] + key[5:]


class FlowTable:
    """Tracks TCP flows, reassembles their streams and feeds a handler per flow."""

    def __init__(
        self,
        handler_factory: HandlerFactory,
        anomalies: AnomalyCounter,
        max_flows: int = 100_000,
        max_buffered_bytes_per_direction: int = 4 << 20,
        on_flow_end: Callable[[Flow], None] | None = None,
        idle_timeout: float = 300.0,
        close_linger: float = 5.0,
    ) -> None:
        self._factory = handler_factory
        self._on_flow_end = on_flow_end
        self._anomalies = anomalies
        self._max_flows = max_flows
        self._max_buffered = max_buffered_bytes_per_direction
        self._flows: OrderedDict[FlowKey, Flow] = OrderedDict()  # least recently active first
        self._closing_at: OrderedDict[FlowKey, float] = OrderedDict()  # ended flows, by deadline
        self._key_by_tuple: dict[tuple[object, ...], FlowKey] = {}
        self._vlan_alias: dict[FlowKey, FlowKey] = {}  # other-direction VLAN key -> flow's key
        self._idle_timeout = idle_timeout
        self._close_linger = close_linger
        self._next_uid = 0
        self.flows_seen = 0
        self.flows_evicted = 0

    def __len__(self) -> int:
        return len(self._flows)

    def buffered_bytes(self) -> int:
        """Out-of-order payload bytes held by every open flow's reassemblers (a metric; O(flows),
        so read it every few seconds, not per packet)."""
        return sum(
            f.to_responder.stream.buffered_bytes + f.to_originator.stream.buffered_bytes
            for f in self._flows.values()
        )

    def process(self, seg: TcpSegment) -> Flow:
        """Account one segment to its flow and deliver any stream data it completes."""
        self._expire(seg.timestamp)
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        low, high = min(a, b), max(a, b)
        key: FlowKey = (low[0], low[1], high[0], high[1], seg.vlan, seg.tunnel)
        key = self._vlan_alias.get(key, key)
        flow = self._flows.get(key)
        if flow is None:
            key, flow = self._asymmetric_vlan_match(key, seg)
        is_syn = bool(seg.flags & TCP_SYN) and not seg.flags & TCP_ACK
        if flow is not None and is_syn and flow.close_reason:
            self._close(key, flow, flow.close_reason)  # 5-tuple reused: the old flow is over
            flow = None
        if flow is None:
            flow = self._open(key, seg)
        else:
            self._flows.move_to_end(key)
        flow.last = seg.timestamp
        direction = (
            Direction.TO_RESPONDER
            if (seg.src, seg.sport) == (flow.orig_ip, flow.orig_port)
            else Direction.TO_ORIGINATOR
        )
        side = flow.side(direction)
        side.packets += 1
        side.bytes += len(seg.payload) + seg.snapped
        self._note_history(flow, direction, seg)
        if seg.flags & TCP_SYN:
            flow.saw_syn = True
            side.stream.syn(seg.seq)
        if seg.payload or seg.snapped:  # a discarded direction is counted, not copied
            retransmitted = side.stream.retransmitted_bytes
            events = side.stream.segment(seg.seq, seg.payload, seg.snapped)
            self.note_stream(flow, direction, retransmitted, events)
            self._dispatch(flow, direction, events)
        if seg.flags & TCP_RST:
            self._closing(key, flow, "rst", seg.timestamp)
        elif seg.flags & TCP_FIN:
            side.fin = True
            side.stream.fin(seg.seq + len(seg.payload) + seg.snapped)
            if flow.to_responder.fin and flow.to_originator.fin:
                self._closing(key, flow, "fin", seg.timestamp)
        return flow

    # -- for the batch path (sensor.decode.batch), which accounts some segments in bulk ---------

    def lookup(
        self, src: str, sport: int, dst: str, dport: int, vlan: tuple[int, ...]
    ) -> Flow | None:
        """The open flow a tunnel-less segment with these fields would join, if it exists now."""
        a, b = (src, sport), (dst, dport)
        low, high = min(a, b), max(a, b)
        key: FlowKey = (low[0], low[1], high[0], high[1], vlan, ())
        return self._flows.get(self._vlan_alias.get(key, key))

    def in_order(
        self,
        flow: Flow,
        direction: Direction,
        seq: int,
        payload: bytes,
        packets: int,
        timestamp: float,
    ) -> bool:
        """Account ``packets`` data segments of an open flow that carry exactly ``payload``
        (their payloads joined, contiguous from ``seq``), without SYN, FIN or RST, whose
        history letter the flow already shows, when the direction's reassembler can deliver
        them at once (``StreamReassembler.take``): what ``process`` would do for each, with
        the expiry and activity order left to the caller (``advance``, ``touch``). False, and
        nothing done, when the reassembler cannot take them so: ``process`` them instead."""
        side = flow.to_responder if direction is Direction.TO_RESPONDER else flow.to_originator
        offset = side.stream.take(seq, payload)
        if offset < 0:
            return False
        flow.last = timestamp
        side.packets += packets
        side.bytes += len(payload)
        handler = flow.handler
        if handler is not None:
            handler.on_data(flow, direction, offset, payload)
        return True

    def next_close_deadline(self) -> float:
        """Capture time at which the first ended flow will be closed (inf if none lingers)."""
        for deadline in self._closing_at.values():
            return deadline
        return float("inf")

    def earliest_idle_expiry(self) -> float:
        """Capture time at which the least recently active flow would time out (inf if none)."""
        for flow in self._flows.values():
            return flow.last + self._idle_timeout
        return float("inf")

    @property
    def max_flows(self) -> int:
        return self._max_flows

    @property
    def close_linger(self) -> float:
        return self._close_linger

    def advance(self, now: float) -> None:
        """Run the expiry a segment at capture time ``now`` would run."""
        self._expire(now)

    def touch(self, flows: list[Flow]) -> None:
        """Mark ``flows`` active in this order (most recent last), as their segments would."""
        for flow in flows:
            if flow.key is not None and self._flows.get(flow.key) is flow:
                self._flows.move_to_end(flow.key)

    def flush(self) -> None:
        """End of input: close every flow still open."""
        for key, flow in list(self._flows.items()):
            self._close(key, flow, flow.close_reason or "end_of_capture")

    # -- internals --------------------------------------------------------------------------

    def _asymmetric_vlan_match(self, key: FlowKey, seg: TcpSegment) -> tuple[FlowKey, Flow | None]:
        """A SPAN port often tags only one direction: join the reply to a flow that differs only
        by VLAN if that flow has not yet seen this direction."""
        other_key = self._key_by_tuple.get(_without_vlan(key))
        if other_key is None:
            return key, None
        flow = self._flows[other_key]
        sender_is_orig = (seg.src, seg.sport) == (flow.orig_ip, flow.orig_port)
        seen = flow.to_responder.packets if sender_is_orig else flow.to_originator.packets
        if seen:
            return key, None
        self._anomalies.count("flows.vlan_asymmetric", f"{flow.uid}: {flow.vlan} vs {seg.vlan}")
        self._vlan_alias[key] = other_key
        return other_key, flow

    def _closing(self, key: FlowKey, flow: Flow, reason: str, now: float) -> None:
        """The connection ended; keep it briefly for late retransmissions and the last ACKs."""
        if not flow.close_reason:
            flow.close_reason = reason
        self._closing_at[key] = now + self._close_linger
        self._closing_at.move_to_end(key)

    def _expire(self, now: float) -> None:
        """Close flows that ended and lingered, or that went idle, on the capture clock."""
        while self._closing_at:
            key, deadline = next(iter(self._closing_at.items()))
            if deadline > now:
                break
            self._close(key, self._flows[key], self._flows[key].close_reason)
        horizon = now - self._idle_timeout
        while self._flows:
            key, flow = next(iter(self._flows.items()))
            if flow.last > horizon:
                break
            self._close(key, flow, "idle_timeout")

    def _open(self, key: FlowKey, seg: TcpSegment) -> Flow:
        if len(self._flows) >= self._max_flows:
            old_key, old_flow = next(iter(self._flows.items()))
            self.flows_evicted += 1
            self._anomalies.count("flows.evicted", f"flow table full ({self._max_flows} flows)")
            self._close(old_key, old_flow, "evicted")
        sender_is_orig = self._sender_is_originator(seg)
        orig, resp = ((seg.src, seg.sport), (seg.dst, seg.dport))
        if not sender_is_orig:
            orig, resp = resp, orig
        self._next_uid += 1
        self.flows_seen += 1
        flow = Flow(
            uid=f"F{self._next_uid:08d}",
            orig_ip=orig[0],
            orig_port=orig[1],
            resp_ip=resp[0],
            resp_port=resp[1],
            vlan=seg.vlan,
            start=seg.timestamp,
            last=seg.timestamp,
            to_responder=FlowSide(StreamReassembler(self._anomalies, self._max_buffered)),
            to_originator=FlowSide(StreamReassembler(self._anomalies, self._max_buffered)),
        )
        if not sender_is_orig:
            flow.history = "^"
        flow.key = key
        flow.handler = self._factory(flow)
        self._flows[key] = flow
        self._key_by_tuple[_without_vlan(key)] = key
        return flow

    @staticmethod
    def _note_history(flow: Flow, direction: Direction, seg: TcpSegment) -> None:
        flags = seg.flags
        if flags & TCP_SYN:
            letter = "H" if flags & TCP_ACK else "S"
        elif flags & TCP_RST:
            letter = "R"
        elif flags & TCP_FIN:
            letter = "F"
        elif seg.payload or seg.snapped:
            letter = "D"
        elif flags & TCP_ACK:
            letter = "A"
        else:
            return
        if direction is Direction.TO_ORIGINATOR:
            letter = letter.lower()
        if letter not in flow.history:
            flow.history += letter
        if (seg.payload or seg.snapped) and letter not in "Dd":
            data_letter = "D" if direction is Direction.TO_RESPONDER else "d"
            if data_letter not in flow.history:
                flow.history += data_letter

    def note_stream(
        self, flow: Flow, direction: Direction, retransmitted_before: int, events: list[StreamEvent]
    ) -> None:
        """History letters for what the reassembler just did: ``T`` retransmission, ``G`` gap
        (the batch path calls this after bulk ``skip`` too, so both paths write the same history)."""
        if flow.side(direction).stream.retransmitted_bytes > retransmitted_before:
            self._note_letter(flow, direction, "T")
        if any(isinstance(e, StreamGap) for e in events):
            self._note_letter(flow, direction, "G")

    @staticmethod
    def _note_letter(flow: Flow, direction: Direction, letter: str) -> None:
        """Add a history letter (upper case from the originator) the first time it happens."""
        if direction is Direction.TO_ORIGINATOR:
            letter = letter.lower()
        if letter not in flow.history:
            flow.history += letter

    @staticmethod
    def _sender_is_originator(seg: TcpSegment) -> bool:
        if seg.flags & TCP_SYN:
            return not seg.flags & TCP_ACK  # SYN: sender originates; SYN-ACK: sender responds
        return seg.sport > seg.dport  # missed handshake: the lower port is the service

    def _dispatch(self, flow: Flow, direction: Direction, events: list[StreamEvent]) -> None:
        handler = flow.handler
        if handler is None:
            return
        for event in events:
            if isinstance(event, StreamData):
                handler.on_data(flow, direction, event.offset, event.data)
            else:
                handler.on_gap(flow, direction, event.offset, event.length)

    def _close(self, key: FlowKey, flow: Flow, reason: str) -> None:
        flow.close_reason = reason
        for direction in (Direction.TO_RESPONDER, Direction.TO_ORIGINATOR):
            events = flow.side(direction).stream.close()
            if any(isinstance(e, StreamGap) for e in events):
                self._note_letter(flow, direction, "G")
            self._dispatch(flow, direction, events)
        if flow.handler is not None:
            flow.handler.on_close(flow)
        self._flows.pop(key, None)
        self._closing_at.pop(key, None)
        if self._key_by_tuple.get(_without_vlan(key)) == key:
            del self._key_by_tuple[_without_vlan(key)]
            for alias in [a for a, target in self._vlan_alias.items() if target == key]:
                del self._vlan_alias[alias]
        if self._on_flow_end is not None:
            self._on_flow_end(flow)
        flow.handler = (
            None  # the handler holds the flow: without this, only the cyclic GC frees them
        )
