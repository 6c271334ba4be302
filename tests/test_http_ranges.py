"""One file rebuilt from HTTP range responses (sensor/protocols/http_ranges.py)."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.objects import FlowContext, TransferObject, overflow_scanning
from sensor.protocols.http_ranges import RangeStitcher, parse_content_range

FILE = bytes(random.Random(206).getrandbits(8) for _ in range(10_000))
FLOWS = [FlowContext(f"F{i}", "tcp", "93.184.216.34", 80, "10.0.0.5", 40000 + i) for i in range(3)]


def piece(first: int, end: int, flow: int = 0, total: int = len(FILE)) -> TransferObject:
    obj = TransferObject(FLOWS[flow], "http", "download", 0, 1.0, "GET", "/big.csv?x=1", "h")
    obj.content_range = f"bytes {first}-{end - 1}/{total}"
    obj.append(FILE[first:end], 1 << 20)
    obj.seal()
    return obj


def run(
    pieces: list[TransferObject], max_bytes: int = 1 << 20
) -> tuple[list[TransferObject], AnomalyCounter]:
    out: list[TransferObject] = []
    anomalies = AnomalyCounter()
    stitcher = RangeStitcher(out.append, max_bytes, anomalies)
    assert all(stitcher.take(p) for p in pieces)
    stitcher.flush()
    return out, anomalies


def test_pieces_over_several_connections_in_any_order_make_the_file() -> None:
    cuts = [0, 1000, 4096, 4097, 9000, len(FILE)]
    pieces = [piece(a, b, i % 3) for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    pieces.append(piece(500, 1500, 2))  # an overlapping retry
    random.Random(1).shuffle(pieces)
    (whole,) = run(pieces)[0]
    assert whole.sha256 == hashlib.sha256(FILE).hexdigest()
    assert whole.complete and whole.gap_bytes == 0 and "range_stitched" in whole.flags


def test_missing_ranges_are_zero_filled_and_counted_at_the_end() -> None:
    (whole,) = run([piece(0, 3000), piece(7000, 10_000)])[0]
    assert whole.gap_bytes == 4000 and not whole.complete and "range_holes" in whole.flags
    assert bytes(whole.body) == FILE[:3000] + bytes(4000) + FILE[7000:]


def test_other_objects_and_oversized_files_are_left_alone() -> None:
    stitcher = RangeStitcher(lambda o: None, 5000, AnomalyCounter())
    upload = piece(0, 100)
    upload.direction = "upload"
    assert not stitcher.take(upload)
    assert not stitcher.take(piece(0, 100))  # total 10,000 > 5,000
    bad = piece(0, 100)
    bad.content_range = "bytes */10000"
    assert not stitcher.take(bad)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("bytes 0-99/1000", (0, 100, 1000)), ("BYTES 5-5/6", (5, 6, 6)), ("bytes 9-3/10", None),
     ("bytes 0-99/*", None), ("bytes 0-100/100", None)],
)  # fmt: skip
def test_content_range_values(value: str, parsed: tuple[int, int, int] | None) -> None:
    assert parse_content_range(value) == parsed


# --- files larger than the object limit: the ranges past it are streamed in offset order --------


class _Recorder:
    """Stands in for the audit's stream scanner: records what it is fed, in order."""

    def __init__(self, start: int, kept: bytearray) -> None:
        self.start, self.history = start, bytes(kept)
        self.events: list[tuple[str, bytes | int]] = []

    def feed(self, chunk: bytes) -> None:
        self.events.append(("feed", chunk))

    def gap(self, length: int) -> None:
        self.events.append(("gap", length))

    def fed(self) -> bytes:
        return b"".join(e for kind, e in self.events if kind == "feed" and isinstance(e, bytes))

    def gaps(self) -> list[int]:
        return [e for kind, e in self.events if kind == "gap" and isinstance(e, int)]


def streamed(
    pieces: list[TransferObject], limit: int
) -> tuple[list[TransferObject], list[_Recorder], AnomalyCounter]:
    sinks: list[_Recorder] = []

    def factory(start: int, kept: bytearray) -> _Recorder:
        sinks.append(_Recorder(start, kept))
        return sinks[-1]

    with overflow_scanning(factory):
        out, anomalies = run(pieces, limit)
    return out, sinks, anomalies


def test_a_file_past_the_limit_streams_its_ranges_in_offset_order() -> None:
    # three connections race: ranges complete out of order, fewer than ``limit`` bytes wait
    order = [(4096, 4097), (1000, 2500), (0, 1000), (2500, 4096), (8000, 9000), (6000, 8000)]
    order += [(4097, 6000), (9000, 10_000)]
    pieces = [piece(a, b, i % 3) for i, (a, b) in enumerate(order)]
    limit = 3000
    (whole,), (sink,), anomalies = streamed(pieces, limit)
    assert sink.start == limit and sink.history == FILE[:limit]
    assert sink.fed() == FILE[limit:] and sink.gaps() == []
    assert bytes(whole.body) == FILE[:limit] and whole.truncated
    assert whole.size == len(FILE) and whole.sha256 == hashlib.sha256(FILE).hexdigest()
    assert whole.complete and whole.gap_bytes == 0
    assert {"range_stitched", "range_streamed"} <= set(whole.flags)
    assert anomalies["http.range_streamed_past_limit"] == 1
    assert anomalies["http.range_overlap"] == 0


def test_a_repeated_range_is_counted_and_read_once() -> None:
    cuts = [0, 2000, 4000, 6000, 8000, len(FILE)]
    pieces = [piece(a, b) for a, b in itertools.pairwise(cuts)]
    pieces.insert(3, piece(3500, 5000, 1))  # a retry over bytes already streamed
    pieces.insert(1, piece(500, 1500, 2))  # and one over bytes kept below the limit
    (whole,), (sink,), anomalies = streamed(pieces, 3000)
    assert sink.fed() == FILE[3000:]
    assert anomalies["http.range_overlap"] == 2
    assert whole.sha256 == hashlib.sha256(FILE).hexdigest() and "range_overlap" in whole.flags


def test_a_missing_range_past_the_limit_is_a_gap_for_the_scanner() -> None:
    cuts = [0, 2000, 4000, 6000, 8000, len(FILE)]
    pieces = [piece(a, b) for a, b in itertools.pairwise(cuts) if a != 6000]
    (whole,), (sink,), _ = streamed(pieces, 3000)
    assert sink.gaps() == [2000] and sink.fed() == FILE[3000:6000] + FILE[8000:]
    assert whole.gap_bytes == 2000 and whole.size == len(FILE) - 2000 and not whole.complete
    assert "range_holes" in whole.flags
    assert whole.sha256 == hashlib.sha256(FILE[:6000] + FILE[8000:]).hexdigest()


def test_the_missing_end_of_a_file_is_a_gap_too() -> None:
    (whole,), (sink,), _ = streamed([piece(0, 5000)], 3000)
    assert sink.fed() == FILE[3000:5000] and sink.gaps() == [len(FILE) - 5000]
    assert whole.gap_bytes == len(FILE) - 5000 and whole.size == 5000


def test_ranges_waiting_past_the_bound_are_read_after_a_gap() -> None:
    # the ranges past 4000 arrive before 3000-4000; more than the limit (3000) wait, so the
    # scanner skips the missing bytes; the range arriving afterwards is an overlap, dropped
    ahead = [piece(a, a + 1000) for a in range(4000, 8000, 1000)]
    pieces = [piece(0, 3000), *ahead, piece(3000, 4000), piece(8000, 10_000)]
    (whole,), (sink,), anomalies = streamed(pieces, 3000)
    assert sink.gaps() == [1000] and sink.fed() == FILE[4000:]
    assert anomalies["http.range_pending_limit"] == 1
    assert anomalies["http.range_overlap"] == 1
    assert whole.gap_bytes == 1000


def test_a_range_cut_at_its_own_limit_is_inspected_on_its_own() -> None:
    big = piece(3000, 10_000)
    big.truncated = True  # as if the 206 body had outgrown the object limit itself
    out: list[TransferObject] = []
    anomalies = AnomalyCounter()
    stitcher = RangeStitcher(out.append, 3000, anomalies)
    with overflow_scanning(lambda start, kept: _Recorder(start, kept)):
        assert stitcher.take(piece(0, 3000))
        assert not stitcher.take(big)
        stitcher.flush()
    (whole,) = out
    assert anomalies["http.range_piece_alone"] == 1 and "range_pieces_alone=1" in whole.flags
    assert whole.gap_bytes == 7000 and bytes(whole.body) == FILE[:3000]


def test_ranges_past_the_limit_wait_for_the_head_and_go_once_it_is_whole() -> None:
    out: list[TransferObject] = []
    sinks: list[_Recorder] = []
    stitcher = RangeStitcher(out.append, 3000, AnomalyCounter())

    def factory(start: int, kept: bytearray) -> _Recorder:
        sinks.append(_Recorder(start, kept))
        return sinks[-1]

    with overflow_scanning(factory):
        for first, end in [(3000, 6000), (1000, 3000)]:
            assert stitcher.take(piece(first, end))
        assert not sinks  # the head is not whole yet: nothing read past the limit
        assert stitcher.take(piece(0, 1000))  # the last range of the head: 3000-6000 goes
        assert sinks[0].fed() == FILE[3000:6000] and not out
        assert stitcher.take(piece(6000, 10_000))
        assert len(out) == 1  # the file is whole: emitted before the end of the capture
    assert sinks[0].fed() == FILE[3000:] and out[0].sha256 == hashlib.sha256(FILE).hexdigest()
