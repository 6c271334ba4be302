"""One direction of a TCP connection rebuilt into an ordered byte stream.

Sans-IO: ``segment()`` takes a sequence number and payload and returns the events that became
deliverable; ``close()`` flushes what is left. Offsets are positions in the stream (0 = first byte
after the SYN, or the first byte seen when the handshake was missed), kept as Python ints so they
never wrap even when the 32-bit sequence number does.

Policies (documented in docs/architecture.md):

* Retransmitted bytes already delivered are dropped. If they differ from what was delivered, the
  first data wins (what the receiver's stack most likely kept) and ``tcp.overlap_different_data`` is
  counted.
* Out-of-order segments wait in a buffer bounded by ``max_buffered_bytes``. When the buffer is full,
  the hole before the earliest waiting segment is declared a gap and delivery continues.
* Holes never get stitched over: they are delivered as ``StreamGap(offset, length)``.

When the application layer no longer needs a direction's bytes (a stream it does not parse, TLS
after the ClientHello), ``discard()`` switches the direction to counting: ``skip(seq, length)``
then tracks sequence numbers, retransmissions, buffered lengths and gaps exactly as ``segment``
would (the flow record's delivered and missed bytes do not change) without keeping or copying any
payload. Retransmitted bytes can no longer be compared, so ``tcp.overlap_different_data`` is not
counted for discarded directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter

_SEQ_MOD = 1 << 32
_HALF = 1 << 31
# Delivered bytes kept to compare retransmissions with: a retransmission reaching further back
# than this is not checked. The buffer grows to twice this before it is trimmed, so keeping it
# costs O(1) per delivered byte instead of a 64 KiB copy per segment.
TAIL_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes of the stream starting at ``offset``."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamGap:
    """``length`` bytes starting at ``offset`` were never seen."""

    offset: int
    length: int


StreamEvent = StreamData | StreamGap


class StreamReassembler:
    """Reassembles one direction; see the module docstring for the policies."""

    def __init__(self, anomalies: AnomalyCounter, max_buffered_bytes: int = 4 << 20) -> None:
        self.anomalies = anomalies
        self.max_buffered_bytes = max_buffered_bytes
        self._next_seq: int | None = None  # raw 32-bit sequence number of the next expected byte
        self._next_offset = 0  # stream offset of the next expected byte
        self._pending: dict[int, bytes] = {}  # stream offset -> out-of-order payload
        self._pending_bytes = 0
        self._delivered_tail = bytearray()  # last bytes delivered (TAIL_BYTES to 2x TAIL_BYTES)
        self.bytes_delivered = 0
        self.bytes_missing = 0
        self.retransmitted_bytes = 0
        self._lengths: dict[int, int] | None = None  # counting mode: offset -> buffered length

    @property
    def discarding(self) -> bool:
        """True once the payload is no longer needed and only counted."""
        return self._lengths is not None

    def discard(self) -> None:
        """Stop keeping bytes: buffered segments become lengths, later ones go to ``skip``."""
        if self._lengths is None:
            self._lengths = {offset: len(p) for offset, p in self._pending.items()}
            self._pending = {}
            self._delivered_tail = bytearray()

    def skip(self, seq: int, length: int) -> None:
        """``segment`` for a discarded direction: the same accounting from a length, no bytes."""
        lengths = self._lengths
        if lengths is None or length <= 0:
            return
        if self._next_seq is None:
            self._next_seq = seq
        diff = (seq - self._next_seq) % _SEQ_MOD
        if diff >= _HALF:
            diff -= _SEQ_MOD
        offset = self._next_offset + diff
        if offset > self._next_offset:
            existing = lengths.get(offset)
            if existing is not None:
                if existing >= length:
                    self.retransmitted_bytes += length
                    return
                self._pending_bytes -= existing
            lengths[offset] = length
            self._pending_bytes += length
            while self._pending_bytes > self.max_buffered_bytes and lengths:
                self.anomalies.count("tcp.reassembly_buffer_full")
                self._gap(min(lengths) - self._next_offset, None)  # > 0: drained otherwise
                self._count_drain()
            return
        already = self._next_offset - offset
        if already > 0:
            self.retransmitted_bytes += min(already, length)
        if length > already:
            self._count_deliver(length - already)
            self._count_drain()

    def _count_deliver(self, length: int) -> None:
        self._next_offset += length
        self._next_seq = ((self._next_seq or 0) + length) % _SEQ_MOD
        self.bytes_delivered += length

    def _count_drain(self) -> None:
        lengths = self._lengths
        assert lengths is not None
        while lengths:
            first = min(lengths)
            if first > self._next_offset:
                return
            length = lengths.pop(first)
            self._pending_bytes -= length
            already = self._next_offset - first
            if already > 0:
                self.retransmitted_bytes += min(already, length)
            if length > already:
                self._count_deliver(length - already)

    def syn(self, seq: int) -> None:
        """The SYN fixes the initial sequence number; data starts one after it."""
        if self._next_seq is None:
            self._next_seq = (seq + 1) % _SEQ_MOD

    def segment(self, seq: int, payload: bytes) -> list[StreamEvent]:
        """Accept one segment's payload; return the events it made deliverable, in order."""
        if not payload:
            return []
        if self._next_seq is None:  # handshake not seen: pick the stream up mid-way
            self._next_seq = seq
        diff = (seq - self._next_seq) % _SEQ_MOD
        if diff >= _HALF:
            diff -= _SEQ_MOD
        offset = self._next_offset + diff
        events: list[StreamEvent] = []
        if offset <= self._next_offset:
            fresh = self._trim_delivered(offset, payload)
            if fresh:
                self._deliver(fresh, events)
                self._drain(events)
        else:
            self._buffer(offset, payload, events)
        return events

    def close(self) -> list[StreamEvent]:
        """End of stream: deliver everything still buffered, with gaps for the holes."""
        events: list[StreamEvent] = []
        if self._lengths is not None:
            while self._lengths:
                first = min(self._lengths)
                if first > self._next_offset:
                    self._gap(first - self._next_offset, None)
                self._count_drain()
            return events
        while self._pending:
            first = min(self._pending)
            if first > self._next_offset:
                self._gap(first - self._next_offset, events)
            self._drain(events)
        return events

    @property
    def next_offset(self) -> int:
        return self._next_offset

    # -- internals --------------------------------------------------------------------------

    def _trim_delivered(self, offset: int, payload: bytes) -> bytes:
        """Drop the part of ``payload`` that was already delivered, checking it still matches."""
        already = self._next_offset - offset
        if already <= 0:
            return payload
        overlap = min(already, len(payload))
        self.retransmitted_bytes += overlap
        tail = self._delivered_tail
        if already <= min(len(tail), TAIL_BYTES):
            start = len(tail) - already
            if tail[start : start + overlap] != payload[:overlap]:
                self.anomalies.count("tcp.overlap_different_data", f"stream offset {offset}")
        return payload[already:]

    def _deliver(self, data: bytes, events: list[StreamEvent]) -> None:
        events.append(StreamData(self._next_offset, data))
        self._next_offset += len(data)
        self._next_seq = (self._next_seq or 0) + len(data)
        self._next_seq %= _SEQ_MOD
        self.bytes_delivered += len(data)
        tail = self._delivered_tail
        tail += data
        if len(tail) > 2 * TAIL_BYTES:
            del tail[:-TAIL_BYTES]

    def _gap(self, length: int, events: list[StreamEvent] | None) -> None:
        if events is not None:
            events.append(StreamGap(self._next_offset, length))
        self._next_offset += length
        self._next_seq = ((self._next_seq or 0) + length) % _SEQ_MOD
        self.bytes_missing += length

    def _buffer(self, offset: int, payload: bytes, events: list[StreamEvent]) -> None:
        existing = self._pending.get(offset)
        if existing is not None:
            if existing[: len(payload)] != payload[: len(existing)]:
                self.anomalies.count("tcp.overlap_different_data", f"stream offset {offset}")
            if len(existing) >= len(payload):
                self.retransmitted_bytes += len(payload)
                return
            self._pending_bytes -= len(existing)
        self._pending[offset] = payload
        self._pending_bytes += len(payload)
        while self._pending_bytes > self.max_buffered_bytes and self._pending:
            self.anomalies.count("tcp.reassembly_buffer_full")
            first = min(self._pending)
            self._gap(first - self._next_offset, events)
            self._drain(events)

    def _drain(self, events: list[StreamEvent]) -> None:
        """Deliver waiting segments that now start at or before the next expected byte."""
        while self._pending:
            first = min(self._pending)
            if first > self._next_offset:
                return
            payload = self._pending.pop(first)
            self._pending_bytes -= len(payload)
            fresh = self._trim_delivered(first, payload)
            if fresh:
                self._deliver(fresh, events)
