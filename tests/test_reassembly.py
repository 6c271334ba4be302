"""TCP stream reassembly: order, retransmission, overlap policy, gaps, wrap-around."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.anomalies import AnomalyCounter
from sensor.flows.reassembly import StreamData, StreamEvent, StreamGap, StreamReassembler


def _collect(events: list[StreamEvent]) -> tuple[bytes, list[tuple[int, int]]]:
    data = bytearray()
    gaps = []
    for event in events:
        if isinstance(event, StreamData):
            assert event.offset == len(data) + sum(length for _, length in gaps)
            data += event.data
        else:
            assert isinstance(event, StreamGap)
            gaps.append((event.offset, event.length))
    return bytes(data), gaps


def _run(isn: int, segments: list[tuple[int, bytes]], max_buffered: int = 1 << 20):
    anomalies = AnomalyCounter()
    stream = StreamReassembler(anomalies, max_buffered)
    stream.syn(isn)
    events: list[StreamEvent] = []
    for offset, payload in segments:
        events += stream.segment((isn + 1 + offset) % (1 << 32), payload)
    events += stream.close()
    return _collect(events), anomalies, stream


def _cut(data: bytes, rng: random.Random) -> list[tuple[int, bytes]]:
    pieces, pos = [], 0
    while pos < len(data):
        size = rng.randint(1, 40)
        pieces.append((pos, data[pos : pos + size]))
        pos += size
    return pieces


def test_in_order_stream() -> None:
    (data, gaps), anomalies, _ = _run(1000, [(0, b"hello "), (6, b"world")])
    assert data == b"hello world" and gaps == [] and anomalies.total() == 0


def test_out_of_order_and_retransmission() -> None:
    segs = [(0, b"aaaa"), (8, b"cccc"), (4, b"bbbb"), (4, b"bbbb"), (0, b"aaaabb")]
    (data, gaps), anomalies, stream = _run(5, segs)
    assert data == b"aaaabbbbcccc" and gaps == []
    assert stream.retransmitted_bytes == 10
    assert anomalies.total() == 0


def test_overlap_with_different_data_keeps_first_and_counts() -> None:
    (data, _), anomalies, _ = _run(5, [(0, b"good"), (0, b"evil"), (4, b"!")])
    assert data == b"good!"
    assert anomalies["tcp.overlap_different_data"] == 1


def test_missing_segment_becomes_a_gap_of_the_right_length() -> None:
    (data, gaps), _, stream = _run(7, [(0, b"abc"), (10, b"xyz")])
    assert data == b"abcxyz"
    assert gaps == [(3, 7)]
    assert stream.bytes_missing == 7


def test_sequence_wraparound() -> None:
    isn = (1 << 32) - 3
    (data, gaps), _, _ = _run(isn, [(0, b"0123456789"), (10, b"abcdef")])
    assert data == b"0123456789abcdef" and gaps == []


def test_buffer_limit_declares_gap_instead_of_growing() -> None:
    segs = [(100 + i * 10, b"x" * 10) for i in range(10)]
    (data, gaps), anomalies, _ = _run(1, segs, max_buffered=50)
    assert data == b"x" * 100
    assert gaps == [(0, 100)]
    assert anomalies["tcp.reassembly_buffer_full"] >= 1


def test_midstream_pickup_without_syn() -> None:
    stream = StreamReassembler(AnomalyCounter())
    events = stream.segment(123456, b"GET / HTTP/1.1\r\n") + stream.segment(123472, b"\r\n")
    assert _collect(events) == (b"GET / HTTP/1.1\r\n\r\n", [])


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    seed=st.integers(0, 2**32 - 1),
    isn=st.integers(0, 2**32 - 1),
)
def test_property_shuffled_duplicated_segments_rebuild_the_original(
    data: bytes, seed: int, isn: int
) -> None:
    rng = random.Random(seed)
    pieces = _cut(data, rng)
    # duplicate some pieces and add overlapping re-cuts carrying identical data
    extra = [rng.choice(pieces) for _ in range(len(pieces) // 3)]
    for _ in range(len(pieces) // 4):
        start = rng.randrange(len(data))
        extra.append((start, data[start : start + rng.randint(1, 60)]))
    segments = pieces + extra
    rng.shuffle(segments)
    (rebuilt, gaps), anomalies, _ = _run(isn, segments)
    assert rebuilt == data and gaps == []
    assert anomalies["tcp.overlap_different_data"] == 0


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=3, max_size=600), seed=st.integers(0, 2**32 - 1))
def test_property_one_dropped_segment_gives_one_gap(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    pieces = _cut(data, rng)
    if len(pieces) < 3:
        return
    drop = rng.randrange(1, len(pieces) - 1)  # inside the stream, so later data reveals the hole
    dropped_offset, dropped = pieces.pop(drop)
    rng.shuffle(pieces)
    (rebuilt, gaps), _, _ = _run(99, pieces)
    assert gaps == [(dropped_offset, len(dropped))]
    assert rebuilt == data[:dropped_offset] + data[dropped_offset + len(dropped) :]


def test_snapped_payload_is_a_gap_at_once_in_order_or_not() -> None:
    """A header-only capture: each packet says how much it carried; those bytes are gaps."""
    stream = StreamReassembler(AnomalyCounter())
    stream.syn(999)
    events = stream.segment(1000, b"abc", snapped=7)  # 10 bytes sent, 3 captured
    events += stream.segment(1020, b"", snapped=5)  # out of order: waits
    events += stream.segment(1010, b"0123456789")
    events += stream.close()
    assert _collect(events) == (b"abc0123456789", [(3, 7), (20, 5)])
    assert (stream.bytes_delivered, stream.bytes_missing) == (13, 12)


def test_fin_reveals_data_sent_at_the_end_that_was_never_captured() -> None:
    stream = StreamReassembler(AnomalyCounter())
    stream.syn(0)
    events = stream.segment(1, b"hello")
    stream.fin(1 + 5 + 2902)  # the FIN's sequence number: 2902 more bytes were sent
    events += stream.close()
    assert _collect(events) == (b"hello", [(5, 2902)])


def test_sparse_capture_counts_every_wrap_of_the_sequence_space() -> None:
    """One packet every 1.9 GB: each jump is under 2**31 from the last packet seen, so the
    stream advances by the jumps' sum even when a jump is more than 2**31 past the next
    expected byte (what a capture of a 5 GB transfer with most packets dropped looks like)."""
    stream = StreamReassembler(AnomalyCounter(), max_buffered_bytes=1 << 20)
    isn = 100
    stream.syn(isn)
    step = 1_900_000_000
    events: list[StreamEvent] = []
    for k in range(4):
        events += stream.segment((isn + 1 + k * step) % (1 << 32), b"x")
    events += stream.close()
    data, gaps = _collect(events)
    assert data == b"xxxx"
    assert gaps == [(k * step + 1, step - 1) for k in range(3)]
    assert stream.bytes_delivered + stream.bytes_missing == 3 * step + 1


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 300_000),
    st.lists(st.integers(1, 100_000), min_size=1, max_size=30),
    st.integers(0, (1 << 32) - 1),
    st.sampled_from([1, 1460, 65_535, 65_536, 65_537]) | st.integers(1, 140_000),
    st.integers(1, 3_000),
)
def test_take_is_segment_for_in_order_runs(
    length: int, cuts: list[int], isn: int, back: int, size: int
) -> None:
    """``take`` (the batch path's shortcut, runs of segments joined) leaves the reassembler as
    ``segment`` would: same offsets, counts and delivered bytes, and a later retransmission that
    differs from what was delivered is caught the same way (the kept tail is the same)."""
    stream = random.Random(length).randbytes(length)
    plain, fast = StreamReassembler(AnomalyCounter()), StreamReassembler(AnomalyCounter())
    for r in (plain, fast):
        r.syn(isn)
    got: list[bytes] = []
    expected: list[bytes] = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        piece = stream[pos : pos + cut]
        if not piece:
            break
        seq = (isn + 1 + pos) % (1 << 32)
        assert fast.in_order_seq() == seq
        offset = fast.take(seq, piece)  # a run: several wire segments joined
        assert offset == pos
        got.append(piece)
        for at in range(0, len(piece), 1460):  # the same bytes one wire segment at a time
            part = piece[at : at + 1460]
            expected += [e.data for e in _data(plain.segment(seq + at, part))]
        pos += len(piece)
    assert b"".join(got) == b"".join(expected) == stream[:pos]
    assert fast.take((isn + 1 + pos + 1) % (1 << 32), b"x") == -1  # not the next byte
    # a retransmission reaching ``back`` bytes into what was delivered, with one byte changed
    start = max(0, pos - back)
    resent = bytearray(stream[start : start + size])
    resent[0] ^= 0xFF
    for r in (plain, fast):
        r.segment((isn + 1 + start) % (1 << 32), bytes(resent))
        r.close()
    for attr in ("next_offset", "bytes_delivered", "bytes_missing", "retransmitted_bytes"):
        assert getattr(fast, attr) == getattr(plain, attr), attr
    assert fast.anomalies.as_dict() == plain.anomalies.as_dict()


def _data(events: list[StreamEvent]) -> list[StreamData]:
    return [e for e in events if isinstance(e, StreamData)]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, (1 << 32) - 1),
    st.booleans(),
    st.lists(
        st.tuples(st.sampled_from([0, 0, 0, 0, -30, 25, 3000]), st.integers(0, 400)),
        min_size=1,
        max_size=50,
    ),
    st.lists(st.integers(1, 8), min_size=1, max_size=50),
    st.integers(300, 5000),
)
def test_skip_in_order_counts_like_skip(
    isn: int,
    handshake: bool,
    steps: list[tuple[int, int]],
    batch_sizes: list[int],
    limit: int,
) -> None:
    """The batch path's bulk accounting (``skip_in_order`` for the leading in-order segments of
    a batch, ``skip`` for the rest) leaves a discarded direction exactly as ``skip`` one by one:
    same counters, same events then and at the close, also near sequence wrap-around."""
    one, bulk = (
        StreamReassembler(AnomalyCounter(), limit),
        StreamReassembler(AnomalyCounter(), limit),
    )
    for stream in (one, bulk):
        if handshake:
            stream.syn(isn)
        stream.discard()
    pieces, at = [], isn + 1
    for jump, length in steps:  # mostly contiguous, some retransmissions, gaps and jumps
        at += jump
        pieces.append((at % (1 << 32), length))
        at += length
    events_one: list[StreamEvent] = []
    for seq, length in pieces:
        events_one += one.skip(seq, length)
    events_bulk: list[StreamEvent] = []
    taken, pos, sizes = 0, 0, iter(batch_sizes * 50)
    while pos < len(pieces):
        batch = pieces[pos : pos + next(sizes)]
        done = bulk.skip_in_order([s for s, _ in batch], [n for _, n in batch])
        taken += done
        for seq, length in batch[done:]:
            events_bulk += bulk.skip(seq, length)
        pos += len(batch)
    assert events_bulk == events_one
    for attr in ("next_offset", "bytes_delivered", "bytes_missing", "retransmitted_bytes"):
        assert getattr(bulk, attr) == getattr(one, attr), attr
    assert bulk.buffered_bytes == one.buffered_bytes
    assert bulk.close() == one.close()


def test_skip_in_order_takes_only_what_continues_the_stream() -> None:
    stream = StreamReassembler(AnomalyCounter())
    stream.syn(99)
    assert stream.skip_in_order([100], [10]) == 0  # payload still kept: not for this path
    stream.discard()
    assert stream.skip_in_order([100, 110, 115, 200], [10, 5, 7, 1]) == 3
    assert (stream.next_offset, stream.bytes_delivered) == (22, 22)
    assert stream.skip_in_order([122, 123], [0, 5]) == 0  # no payload: one by one
    assert stream.skip(130, 5) == []  # waits out of order
    assert stream.skip_in_order([122], [8]) == 0  # something waits: one by one
