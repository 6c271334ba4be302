"""The numpy batch path gives exactly the per-packet path's results.

The batch path (sensor/decode/batch.py) decodes headers with numpy, accounts pure ACKs and
discarded payload in bulk and hands in-order data to the flow table without a ``TcpSegment`` (one
chunk per run for handlers that accept coalescing); these tests audit the same captures with and
without it and compare the case folders byte for byte: the bundled sample, generated mixes (with
reordering and retransmissions, with records dropped so streams have gaps, with a tiny flow table
so evictions happen, and with timestamps going backwards) and every capture of the real corpus.
A coalescing stream consumer must get the same bytes and gaps per direction, and the same flows.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.spine import StrictCounter, Totals
from bench.traffic.mix import MixOptions, write_mix
from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit, bundled_sample
from sensor.capture import open_capture
from sensor.config import EgressConfig, LimitsConfig
from sensor.decode import batch
from sensor.decode.decoder import PacketDecoder
from sensor.flows.reassembly import StreamReassembler
from sensor.flows.records import flow_record
from sensor.flows.table import Direction, Flow, FlowTable

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
OUTPUTS = ("flows.jsonl", "objects.jsonl", "alerts.jsonl", "summary.json")


def _audit(
    capture: Path, out: Path, block_bytes: int, config: EgressConfig
) -> tuple[dict[str, str], batch.BatchStats | None]:
    audit = Audit(config, out)
    audit.batch = block_bytes
    audit.run([capture])
    outputs = {name: (out / name).read_text(encoding="utf-8") for name in OUTPUTS}
    return outputs, audit.batch_stats


def _assert_same(
    capture: Path, tmp_path: Path, config: EgressConfig | None = None
) -> batch.BatchStats | None:
    """The case folders agree; the batch path's figures, to see which shortcuts it took."""
    config = config or EgressConfig()
    plain, _ = _audit(capture, tmp_path / "plain", 0, config)
    # Small blocks: more flows exist when a block starts, so more segments go in bulk.
    fast, stats = _audit(capture, tmp_path / "batch", 64 << 10, config)
    for name in OUTPUTS:
        assert fast[name] == plain[name], f"{capture.name}: {name} differs"
    return stats


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "mix.pcap"
    options = MixOptions(pi_density=0.2, ipv6_share=0.3, vlan_share=0.3, disorder_share=0.5)
    write_mix(path, 4 << 20, seed=7, options=options)
    return path


def test_sample_identical(tmp_path: Path) -> None:
    _assert_same(bundled_sample(), tmp_path)


def test_mix_identical_and_bulk_used(mix: Path, tmp_path: Path) -> None:
    stats = _assert_same(mix, tmp_path)
    # the application layer took plain body bytes in runs (``AppLayerHandler.quiet``)
    assert stats is not None and stats.runs and stats.coalesced > 2 * stats.runs
    anomalies = AnomalyCounter()
    reader = open_capture(mix, anomalies)
    assert batch.supports(reader)
    table = FlowTable(lambda flow: _Discarding(flow), anomalies)
    stats = batch.BatchRunner(PacketDecoder(anomalies), table, 64 << 10).run(reader)
    table.flush()
    assert stats.records == stats.fallback + stats.per_packet + stats.bulk + stats.in_order
    assert stats.segments == stats.records - _not_tcp(mix)
    assert stats.bulk > stats.per_packet  # every payload discarded: most segments go in bulk
    assert stats.bulk_payload_bytes > 1 << 20


def test_mix_identical_with_evictions(mix: Path, tmp_path: Path) -> None:
    _assert_same(mix, tmp_path, EgressConfig(limits=LimitsConfig(max_flows=3)))


def test_mix_identical_with_time_going_backwards(mix: Path, tmp_path: Path) -> None:
    raw, starts = _records(mix)
    data = bytearray(raw)
    rng = random.Random(3)
    for pos in rng.sample(starts, 40):  # some records jump back by up to 10 minutes
        seconds = struct.unpack_from("<I", data, pos)[0]
        struct.pack_into("<I", data, pos, seconds - rng.randint(1, 600))
    shuffled = tmp_path / "backwards.pcap"
    shuffled.write_bytes(bytes(data))
    _assert_same(shuffled, tmp_path)


def _records(capture: Path) -> tuple[bytes, list[int]]:
    data = capture.read_bytes()
    pos, starts = 24, []
    while pos < len(data):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return data, starts


@pytest.fixture(scope="module")
def gappy(mix: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mix with one data-carrying record in 40 dropped: streams with holes mid-block."""
    data, starts = _records(mix)
    ends = [*starts[1:], len(data)]
    kept = [data[:24]]
    for n, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if not (n % 40 == 7 and b - a > 16 + 200):
            kept.append(data[a:b])
    path = tmp_path_factory.mktemp("gappy") / "gappy.pcap"
    path.write_bytes(b"".join(kept))
    return path


def test_gappy_mix_identical(gappy: Path, tmp_path: Path) -> None:
    _assert_same(gappy, tmp_path)


class _Recorder(StrictCounter):
    """Keeps every direction's delivered bytes and gaps, and checks offsets are contiguous."""

    def __init__(self, totals: Totals, streams: dict[tuple[str, str], list[object]]) -> None:
        super().__init__(totals)
        self.streams = streams

    def _next(self, flow: Flow, direction: Direction, offset: int) -> list[object]:
        events = self.streams.setdefault((flow.uid, direction.value), [0])
        assert offset == events[0], "events must follow each other in the stream"
        return events

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None:
        super().on_data(flow, direction, offset, data)
        events = self._next(flow, direction, offset)
        events[0] = offset + len(data)
        if events[1:] and isinstance(events[-1], bytes):
            events[-1] += data  # chunk boundaries are not part of the result
        else:
            events.append(data)

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None:
        super().on_gap(flow, direction, offset, length)
        events = self._next(flow, direction, offset)
        events[0] = offset + length
        events.append((offset, length))


class _CoalescingRecorder(_Recorder):
    coalesce = True


def _streams(
    capture: Path, kind: type[_Recorder], block_bytes: int
) -> tuple[list[dict[str, object]], dict[tuple[str, str], list[object]], batch.BatchStats | None]:
    anomalies = AnomalyCounter()
    streams: dict[tuple[str, str], list[object]] = {}
    flows: list[dict[str, object]] = []
    table = FlowTable(
        lambda flow: kind(Totals(), streams),
        anomalies,
        on_flow_end=lambda flow: flows.append(flow_record(flow, "", "s", "c")),
    )
    decoder = PacketDecoder(anomalies)
    reader = open_capture(capture, anomalies)
    stats = None
    if block_bytes:
        assert batch.supports(reader)
        stats = batch.BatchRunner(decoder, table, block_bytes).run(reader)
    else:
        for record in reader:
            segment = decoder.decode(record)
            if segment is not None:
                table.process(segment)
    table.flush()
    return flows, streams, stats


@pytest.mark.parametrize("which", ["mix", "gappy"])
def test_coalesced_runs_give_the_same_streams(which: str, request: pytest.FixtureRequest) -> None:
    capture = request.getfixturevalue(which)
    flows, streams, _ = _streams(capture, _Recorder, 0)
    for kind in (_Recorder, _CoalescingRecorder):
        got_flows, got_streams, stats = _streams(capture, kind, 64 << 10)
        assert got_flows == flows, kind.__name__
        assert got_streams == streams, kind.__name__
        assert stats is not None
        assert stats.records == (
            stats.fallback + stats.per_packet + stats.bulk + stats.in_order + stats.coalesced
        )
        if kind is _CoalescingRecorder:
            assert stats.runs and stats.coalesced > stats.runs  # runs of several segments
        else:
            assert stats.in_order and not stats.coalesced
    gaps = any(isinstance(e, tuple) for events in streams.values() for e in events[1:])
    assert gaps == (which == "gappy")


def _corpus() -> list[Path]:
    manifest = CORPUS / "manifest.json"
    if not manifest.exists():
        return []
    return [CORPUS / entry["file"] for entry in json.loads(manifest.read_text())]


@pytest.mark.skipif(not _corpus(), reason="corpus of real captures not present")
def test_corpus_identical(tmp_path: Path) -> None:
    for i, capture in enumerate(_corpus()):
        _assert_same(capture, tmp_path / str(i))


def test_blocks_match_iteration_on_damaged_files(mix: Path, tmp_path: Path) -> None:
    data = mix.read_bytes()[: 3 << 20]
    cases = {
        "cut_in_record": data[:-7],
        "cut_in_header": data[: 24 + 16 + struct.unpack_from("<I", data, 32)[0] + 9],
        "absurd_caplen": data[:24] + struct.pack("<IIII", 1, 2, 1 << 30, 60) + data[24:],
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(content)
        a1, a2 = AnomalyCounter(), AnomalyCounter()
        r1, r2 = open_capture(path, a1), open_capture(path, a2)
        records = list(r1)  # type: ignore[union-attr]
        assert batch.supports(r2)
        blocks = list(r2.blocks(block_bytes=1 << 16))
        assert sum(len(b.starts) for b in blocks) == len(records), name
        assert a1.as_dict() == a2.as_dict(), name
        assert r1.bytes_read == r2.bytes_read, name


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 400)), min_size=1, max_size=40),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, 30),
    st.integers(200, 5000),
)
def test_skip_counts_like_segment(
    pieces: list[tuple[int, int]], isn: int, switch: int, limit: int
) -> None:
    """Counting mode keeps the same offsets, delivered, missing and retransmitted bytes."""
    full = StreamReassembler(AnomalyCounter(), limit)
    counting = StreamReassembler(AnomalyCounter(), limit)
    full.syn(isn)
    counting.syn(isn)
    for n, (offset, length) in enumerate(pieces):
        seq = (isn + 1 + offset) % (1 << 32)
        if n == switch:
            counting.discard()
        if counting.discarding:
            counting.skip(seq, length)
        else:
            counting.segment(seq, bytes(length))
        full.segment(seq, bytes(length))
    full.close()
    counting.close()
    for attr in ("next_offset", "bytes_delivered", "bytes_missing", "retransmitted_bytes"):
        assert getattr(counting, attr) == getattr(full, attr), attr


class _Discarding:
    """An application layer that needs no payload at all (as for TLS after the ClientHello)."""

    def __init__(self, flow: object) -> None:
        flow.discard_payload()  # type: ignore[attr-defined]

    def on_data(self, *args: object) -> None:
        raise AssertionError("discarded payload must not be delivered")

    def on_gap(self, *args: object) -> None:
        raise AssertionError("discarded payload must not be delivered")

    def on_close(self, flow: object) -> None:
        pass


def _not_tcp(capture: Path) -> int:
    """Records the per-packet decoder finds no TCP segment in (DNS over UDP in the mix)."""
    anomalies = AnomalyCounter()
    decoder = PacketDecoder(anomalies)
    reader = open_capture(capture, anomalies)
    return sum(decoder.decode(record) is None for record in reader)
