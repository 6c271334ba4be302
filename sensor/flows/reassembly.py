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
* Bytes a packet carried but the capture cut off (snaplen; ``snapped``) are known to be missing the
  moment the packet is seen: they become a gap as soon as the stream reaches them, without waiting
  for a retransmission that a header-only capture will never hold. At most ``MAX_HOLES`` such
  holes wait out of order; past that the earliest is delivered as a gap.
* Sequence numbers are placed relative to the furthest byte seen, so a capture that keeps one
  packet per gigabyte (each jump under 2**31) still counts every wrap of the sequence space; the
  FIN's sequence number closes the stream with a gap for data sent but never captured.

When the application layer no longer needs a direction's bytes (a stream it does not parse, TLS
after the ClientHello), ``discard()`` switches the direction to counting: ``skip(seq, length)``
then does exactly what ``segment`` would (offsets, retransmissions, buffering, gaps; the flow
record's delivered and missed bytes do not change) with lengths in place of bytes, so no payload
is kept or copied and no data event is produced. Retransmitted bytes can no longer be compared, so
``tcp.overlap_different_data`` is not counted for discarded directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter

MAX_HOLES = 4096  # snapped-payload holes waiting out of order (no bytes held, but bounded anyway)
_SEQ_MOD = 1 << 32
_HALF = 1 << 31
# Delivered bytes kept to compare retransmissions with: a retransmission reaching further back
# than this is not checked. The buffer grows to twice this before it is trimmed, so keeping it
# costs O(1) per delivered byte instead of a 64 KiB copy per segment.
TAIL_BYTES = 65_536

Piece = bytes | int  # payload kept, or only its length once the direction is discarded


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


def _size(piece: Piece) -> int:
    return piece if isinstance(piece, int) else len(piece)


class StreamReassembler:
    """Reassembles one direction; see the module docstring for the policies."""

    def __init__(self, anomalies: AnomalyCounter, max_buffered_bytes: int = 4 << 20) -> None:
        self.anomalies = anomalies
        self.max_buffered_bytes = max_buffered_bytes
        self._next_seq: int | None = None  # raw 32-bit sequence number of the next expected byte
        self._next_offset = 0  # stream offset of the next expected byte
        self._pending: dict[int, Piece] = {}  # stream offset -> out-of-order payload (or length)
        self._pending_bytes = 0
        self._holes: dict[int, int] = {}  # stream offset -> length of snapped payload
        self._end_offset: int | None = None  # where the FIN says the stream ends
        self._top_seq = 0  # the furthest byte seen: raw sequence number ...
        self._top_offset = -1  # ... and stream offset
        self._delivered_tail = bytearray()  # last bytes delivered (TAIL_BYTES to 2x TAIL_BYTES)
        self._discarding = False
        self.bytes_delivered = 0
        self.bytes_missing = 0
        self.retransmitted_bytes = 0

    @property
    def discarding(self) -> bool:
        """True once the payload is no longer needed and only counted."""
        return self._discarding

    def discard(self) -> None:
        """Stop keeping bytes: buffered segments become lengths, later ones go to ``skip``."""
        if not self._discarding:
            self._discarding = True
            self._pending = {offset: _size(p) for offset, p in self._pending.items()}
            self._delivered_tail = bytearray()

    def syn(self, seq: int) -> None:
        """The SYN fixes the initial sequence number; data starts one after it."""
        if self._next_seq is None:
            self._next_seq = (seq + 1) % _SEQ_MOD

    def segment(self, seq: int, payload: bytes, snapped: int = 0) -> list[StreamEvent]:
        """Accept one segment's payload (and the length of any payload the capture cut off);
        return the events it made deliverable, in order."""
        if self._discarding:
            return self.skip(seq, len(payload), snapped)
        return self._accept(seq, payload, len(payload), snapped)

    def skip(self, seq: int, length: int, snapped: int = 0) -> list[StreamEvent]:
        """``segment`` for a discarded direction: the same accounting from a length, no bytes;
        the events are gaps only."""
        return self._accept(seq, length, length, snapped)

    def skip_in_order(self, seqs: list[int], lengths: list[int]) -> int:
        """``skip`` for the leading segments that continue a discarded direction's stream exactly
        (each starts at the next expected byte, carries payload, nothing waits out of order): the
        same accounting in one step, no events. Returns how many it took; the caller skips the
        rest one by one. The batch path's bulk accounting (``sensor.decode.batch``) uses it."""
        if (
            not self._discarding
            or self._next_seq is None
            or self._pending
            or self._holes
            or self._top_offset > self._next_offset
        ):
            return 0
        expect, total, taken = self._next_seq, 0, 0
        for seq, length in zip(seqs, lengths, strict=True):
            if seq != expect or length <= 0:
                break
            total += length
            expect = (seq + length) % _SEQ_MOD
            taken += 1
        if total:
            self._next_offset = self._top_offset = self._next_offset + total
            self._next_seq = self._top_seq = expect
            self.bytes_delivered += total
        return taken

    def in_order_seq(self) -> int:
        """The sequence number ``take`` would accept, or -1 when it would accept none."""
        if self._next_seq is None or self._pending or self._holes or self._discarding:
            return -1
        return self._next_seq

    def take(self, seq: int, payload: bytes) -> int:
        """The batch path's in-order shortcut: when a segment at ``seq`` would be delivered at
        once, whole, with nothing else (it starts at the next expected byte, nothing waits out of
        order and the bytes are kept), deliver ``payload`` exactly as ``segment`` would and return
        its stream offset; otherwise do nothing and return -1. Contiguous segments' payloads
        joined give the same result as one by one."""
        if seq != self._next_seq or self._pending or self._holes or self._discarding or not payload:
            return -1
        offset = self._next_offset
        size = len(payload)
        end = offset + size
        self._next_offset = self._top_offset = end
        self._next_seq = self._top_seq = (seq + size) % _SEQ_MOD
        self.bytes_delivered += size
        tail = self._delivered_tail
        if size >= TAIL_BYTES:  # only the last TAIL_BYTES are ever compared
            self._delivered_tail = bytearray(payload[-TAIL_BYTES:])
        else:
            tail += payload
            if len(tail) > 2 * TAIL_BYTES:
                del tail[:-TAIL_BYTES]
        return offset

    def fin(self, seq: int) -> None:
        """The FIN's sequence number: the stream ends there, whatever the capture missed."""
        if self._next_seq is None:
            return
        end = self._offset_of(seq)
        if end >= self._next_offset:
            self._end_offset = max(end, self._end_offset or 0)

    def close(self) -> list[StreamEvent]:
        """End of stream: deliver everything still buffered, with gaps for the holes, and a gap
        up to the FIN for data sent at the end that the capture never held."""
        events: list[StreamEvent] = []
        while self._pending or self._holes:
            first = self._first_waiting()
            if first > self._next_offset:
                self._gap(first - self._next_offset, events)
            self._drain(events)
        if self._end_offset is not None and self._end_offset > self._next_offset:
            self._gap(self._end_offset - self._next_offset, events)
        return events

    @property
    def next_offset(self) -> int:
        return self._next_offset

    @property
    def buffered_bytes(self) -> int:
        """Out-of-order bytes held (lengths only, once discarded), for memory metrics."""
        return self._pending_bytes

    # -- internals --------------------------------------------------------------------------

    def _accept(self, seq: int, piece: Piece, length: int, snapped: int) -> list[StreamEvent]:
        if not length and not snapped:
            return []
        if self._next_seq is None:  # handshake not seen: pick the stream up mid-way
            self._next_seq = seq
        offset = self._offset_of(seq)
        end = offset + length + snapped
        if end > self._top_offset:
            self._top_offset, self._top_seq = end, (seq + length + snapped) % _SEQ_MOD
        events: list[StreamEvent] = []
        if not length:
            pass
        elif offset <= self._next_offset:
            fresh = self._trim_delivered(offset, piece)
            if _size(fresh):
                self._deliver(fresh, events)
                self._drain(events)
        else:
            self._buffer(offset, piece, events)
        if snapped:
            self._hole(offset + length, snapped, events)
        return events

    def _offset_of(self, seq: int) -> int:
        """Stream offset of a raw sequence number, within 2**31 of the furthest byte seen."""
        if self._top_offset < self._next_offset:  # nothing seen beyond what was delivered
            self._top_offset, self._top_seq = self._next_offset, self._next_seq or 0
        diff = (seq - self._top_seq) % _SEQ_MOD
        if diff >= _HALF:
            diff -= _SEQ_MOD
        return self._top_offset + diff

    def _trim_delivered(self, offset: int, piece: Piece) -> Piece:
        """Drop the part of ``piece`` that was already delivered, checking it still matches."""
        already = self._next_offset - offset
        if already <= 0:
            return piece
        size = _size(piece)
        overlap = min(already, size)
        self.retransmitted_bytes += overlap
        if isinstance(piece, int):
            return max(piece - already, 0)
        tail = self._delivered_tail
        if already <= min(len(tail), TAIL_BYTES):
            start = len(tail) - already
            if tail[start : start + overlap] != piece[:overlap]:
                self.anomalies.count("tcp.overlap_different_data", f"stream offset {offset}")
        return piece[already:]

    def _deliver(self, piece: Piece, events: list[StreamEvent]) -> None:
        size = _size(piece)
        if isinstance(piece, bytes):
            events.append(StreamData(self._next_offset, piece))
            tail = self._delivered_tail
            tail += piece
            if len(tail) > 2 * TAIL_BYTES:
                del tail[:-TAIL_BYTES]
        self._next_offset += size
        self._next_seq = ((self._next_seq or 0) + size) % _SEQ_MOD
        self.bytes_delivered += size

    def _gap(self, length: int, events: list[StreamEvent]) -> None:
        events.append(StreamGap(self._next_offset, length))
        self._next_offset += length
        self._next_seq = ((self._next_seq or 0) + length) % _SEQ_MOD
        self.bytes_missing += length
        self._delivered_tail = bytearray()  # what follows a gap cannot be compared with before

    def _hole(self, offset: int, length: int, events: list[StreamEvent]) -> None:
        """``length`` bytes at ``offset`` were on the wire but not in the capture."""
        end = offset + length
        if end <= self._next_offset:
            self.retransmitted_bytes += length  # a retransmission the capture also cut short
            return
        if offset <= self._next_offset:
            self._gap(end - self._next_offset, events)
            self._drain(events)
            return
        self._holes[offset] = max(length, self._holes.get(offset, 0))
        while len(self._holes) > MAX_HOLES:
            self.anomalies.count("tcp.snapped_holes_full")
            first = self._first_waiting()
            if first > self._next_offset:
                self._gap(first - self._next_offset, events)
            self._drain(events)

    def _first_waiting(self) -> int:
        return min(min(self._pending, default=1 << 62), min(self._holes, default=1 << 62))

    def _buffer(self, offset: int, piece: Piece, events: list[StreamEvent]) -> None:
        existing = self._pending.get(offset)
        if existing is not None:
            both = isinstance(existing, bytes) and isinstance(piece, bytes)
            if both and existing[: _size(piece)] != piece[: _size(existing)]:  # type: ignore[index]
                self.anomalies.count("tcp.overlap_different_data", f"stream offset {offset}")
            if _size(existing) >= _size(piece):
                self.retransmitted_bytes += _size(piece)
                return
            self._pending_bytes -= _size(existing)
        self._pending[offset] = piece
        self._pending_bytes += _size(piece)
        while self._pending_bytes > self.max_buffered_bytes and self._pending:
            self.anomalies.count("tcp.reassembly_buffer_full")
            first = min(self._pending)
            self._gap(first - self._next_offset, events)
            self._drain(events)

    def _drain(self, events: list[StreamEvent]) -> None:
        """Deliver waiting segments (and snapped holes) that now start at or before the next
        expected byte."""
        while self._pending or self._holes:
            first = self._first_waiting()
            if first > self._next_offset:
                return
            if first in self._holes:
                end = first + self._holes.pop(first)
                if end > self._next_offset:
                    self._gap(end - self._next_offset, events)
                continue
            piece = self._pending.pop(first)
            self._pending_bytes -= _size(piece)
            fresh = self._trim_delivered(first, piece)
            if _size(fresh):
                self._deliver(fresh, events)
