"""One file rebuilt from HTTP range responses (sensor/protocols/http_ranges.py)."""

from __future__ import annotations

import hashlib
import itertools
import random

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.objects import FlowContext, TransferObject
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
