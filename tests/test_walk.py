"""The C record walk and header parser (sensor/capture/_walk.c) against their Python references.

``PcapReader.blocks`` and ``BlockHeaders`` use the C extension when it was built and
``EGRESS_NATIVE_WALK`` is not ``0``; the Python walk and the numpy parser stay the reference. These
tests run both on odd captures (absurd captured lengths, lengths above the snaplen, records cut
short, zero-length records, both byte orders, blocks far smaller than a record) and on frames
built and mutated to hit every branch of the fast-path test, and require the same records, the
same anomaly counts and messages, and the same header arrays. Per-record iteration (``__iter__``)
is the reference for the records and anomalies.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.traffic.mix import MixOptions, write_mix
from sensor.anomalies import AnomalyCounter
from sensor.capture import open_capture
from sensor.capture.pcap import PcapReader
from sensor.capture.walk import gather, native
from sensor.decode.headers import BlockHeaders
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record

BUILT = native() is not None
needs_c = pytest.mark.skipif(not BUILT, reason="sensor.capture._walk not built (no C compiler)")
FIELDS = (
    "timestamps", "fast", "v6", "sport", "dport", "seq", "ack", "flags", "payload_start",
    "payload_len", "tags", "vlan1", "vlan2", "src16", "dst16", "src_hi", "src_lo", "dst_hi",
    "dst_lo",
)  # fmt: skip


class AllMessages(AnomalyCounter):
    """Keeps every message, so that two runs are compared message by message."""

    MAX_EXAMPLES_PER_NAME = 1 << 30


@contextmanager
def walker(use_c: bool) -> Iterator[None]:
    with mock.patch.dict(os.environ, {"EGRESS_NATIVE_WALK": "1" if use_c else "0"}):
        assert (native() is not None) == use_c
        yield


def _reader(path: Path, anomalies: AnomalyCounter) -> PcapReader:
    reader = open_capture(path, anomalies)
    assert isinstance(reader, PcapReader)
    return reader


def _by_blocks(path: Path, block_bytes: int, use_c: bool) -> tuple[list[object], object, int]:
    """Records (index, timestamp, data, wire length) as the blocks give them, the anomalies with
    every message, and where the reader says it stopped."""
    anomalies = AllMessages()
    reader = _reader(path, anomalies)
    header = struct.Struct(reader.byte_order + "IIII")
    out: list[object] = []
    with walker(use_c):
        for block in reader.blocks(block_bytes):
            assert block.starts.dtype == np.int64
            for k, at in enumerate(block.starts.tolist()):
                sec, frac, caplen, wire = header.unpack_from(block.data, at)
                frame = block.data[at + 16 : at + 16 + caplen]
                out.append((block.first_index + k, sec + frac / reader.ts_divisor, frame, wire))
    reader.close()
    return out, anomalies.as_dict(), reader.bytes_read


def _by_records(path: Path) -> tuple[list[object], object, int]:
    anomalies = AllMessages()
    reader = _reader(path, anomalies)
    out: list[object] = [(r.index, r.timestamp, r.data, r.wire_length) for r in reader]
    reader.close()
    return out, anomalies.as_dict(), reader.bytes_read


def _frame(n: int) -> bytes:
    return ethernet_ipv4_tcp(sport=1000 + n, seq=n, payload=bytes([n % 251]) * (n % 97))


def _capture(order: str, snaplen: int, layout: list[tuple[str, int]], tail: int) -> bytes:
    """A capture from ``layout``: ("frame", n) a TCP frame, ("empty", _) a zero-length record,
    ("big", size) a record above a small snaplen, ("absurd", _) a header with an impossible
    captured length and a frame after it; ``tail`` bytes of one more record are left at the end."""
    parts = [global_header(order, snaplen=snaplen)]
    for kind, n in layout:
        if kind == "frame":
            parts.append(record(_frame(n), ts=n, frac=n * 7, order=order))
        elif kind == "empty":
            parts.append(record(b"", ts=n, order=order))
        elif kind == "big":
            parts.append(record(_frame(n) + bytes(n), ts=n, order=order))
        else:
            parts.append(struct.pack(order + "IIII", 1, 2, 300_000 + n, 60) + _frame(n))
    last = record(_frame(7), ts=99, order=order)
    parts.append(last[:tail])
    return b"".join(parts)


KINDS = st.sampled_from(["frame", "frame", "frame", "empty", "big", "absurd"])


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["<", ">"]),
    st.sampled_from([0, 120, 65535]),
    st.lists(st.tuples(KINDS, st.integers(0, 300)), max_size=30),
    st.integers(0, 80),
    st.sampled_from([16, 40, 100, 333, 1 << 16]),
)
def test_walkers_agree_with_iteration(
    order: str, snaplen: int, layout: list[tuple[str, int]], tail: int, block_bytes: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odd.pcap"
        path.write_bytes(_capture(order, snaplen, layout, tail))
        reference = _by_records(path)
        python = _by_blocks(path, block_bytes, use_c=False)
        assert python == reference
        if BUILT:
            assert _by_blocks(path, block_bytes, use_c=True) == reference


@needs_c
def test_every_anomaly_kind_is_hit(tmp_path: Path) -> None:
    """The odd captures above do reach each of the walk's stops, in both walkers alike."""
    cases = {
        "capture.caplen_exceeds_snaplen": _capture("<", 120, [("frame", 1), ("big", 200)], 0),
        "capture.absurd_caplen": _capture(">", 0, [("empty", 1), ("absurd", 3)], 0),
        "capture.record_exceeds_file": _capture("<", 0, [("frame", 5)], 30),
        "capture.truncated_record_header": _capture("<", 0, [("frame", 5), ("empty", 2)], 9),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.pcap"
        path.write_bytes(content)
        for use_c in (False, True):
            records, anomalies, _ = _by_blocks(path, 64, use_c)
            assert name in anomalies, (name, use_c)  # type: ignore[operator]
            assert records == _by_records(path)[0]


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("walk") / "mix.pcap"
    options = MixOptions(pi_density=0.2, ipv6_share=0.5, vlan_share=0.3, disorder_share=0.5)
    write_mix(path, 2 << 20, seed=3, options=options)  # IPv4 and IPv6, tagged and not
    return path


def _headers(data: bytes, starts: np.ndarray, order: str, use_c: bool) -> BlockHeaders:
    with walker(use_c):
        return BlockHeaders(data, starts, order, 1_000_000)


def _assert_same_headers(a: BlockHeaders, b: BlockHeaders) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y), name
    assert np.array_equal(a.flow_hash(), b.flow_hash())


@needs_c
def test_headers_agree_on_the_mix(mix: Path) -> None:
    reader = _reader(mix, AnomalyCounter())
    fast = v6 = tagged = 0
    for block in reader.blocks(256 << 10):
        c = _headers(block.data, block.starts, "<", True)
        _assert_same_headers(c, _headers(block.data, block.starts, "<", False))
        fast += int(c.fast.sum())
        v6 += int(c.v6.sum())
        tagged += int((c.tags > 0).sum())
    assert fast > 1000 and v6 > 100 and tagged > 100


def _eth(et: int, body: bytes, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    head = b"\x02" * 6 + b"\x04" * 6
    for tpid, vid in tags:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", et) + body


def _tcp(payload: bytes, offset: int = 5) -> bytes:
    options = bytes(max(offset - 5, 0) * 4)
    head = struct.pack("!HHIIBBHHH", 443, 51000, 0xFFFFFFF0, 7, offset << 4, 0x18, 1, 0, 0)
    return head + options + payload


def _ipv4(tcp: bytes, first: int = 0x45, total: int | None = None, frag: int = 0, proto: int = 6) -> bytes:  # fmt: skip
    options = bytes((first & 0x0F) * 4 - 20) if (first & 0x0F) >= 5 else b""
    size = 20 + len(options) + len(tcp) if total is None else total
    head = struct.pack("!BBHHHBBH", first, 0, size, 1, frag, 64, proto, 0)
    return head + b"\x0a\x00\x00\x01\xc0\xa8\x01\x02" + options + tcp


def _ipv6(tcp: bytes, nxt: int = 6, plen: int | None = None) -> bytes:
    size = len(tcp) if plen is None else plen
    return struct.pack("!IHBB", 0x60000000, size, nxt, 64) + bytes(range(32)) + tcp


def _odd_frames() -> list[bytes]:
    """One frame per branch of the fast-path test, accepted and refused."""
    tcp = _tcp(b"hello world")
    v4, v6 = _ipv4(tcp), _ipv6(tcp)
    return [
        _eth(0x0800, v4),
        _eth(0x86DD, v6),
        _eth(0x0800, v4, ((0x8100, 0x1064),)),
        _eth(0x0800, v4, ((0x88A8, 5), (0x8100, 0xF007))),
        _eth(0x86DD, v6, ((0x9100, 9), (0x8100, 8))),
        _eth(0x0800, v4, ((0x88A8, 5), (0x8100, 6), (0x8100, 7))),  # a third tag
        _eth(0x0800, v4) + bytes(6),  # Ethernet padding after the datagram
        _eth(0x0800, v4)[:53],  # too short
        _eth(0x0800, _ipv4(_tcp(b""))),  # exactly 54 bytes
        _eth(0x0800, _ipv4(_tcp(b"x"), first=0x46)),  # IP options
        _eth(0x0800, _ipv4(tcp, frag=0x2000)),  # more fragments
        _eth(0x0800, _ipv4(tcp, frag=0x4000)),  # don't fragment: fine
        _eth(0x0800, _ipv4(tcp, proto=17)),
        _eth(0x0800, _ipv4(tcp, total=39)),
        _eth(0x0800, _ipv4(tcp, total=2000)),  # cut by the snaplen
        _eth(0x0800, _ipv4(_tcp(b"abc", offset=4))),  # data offset below 20 bytes
        _eth(0x0800, _ipv4(_tcp(b"", offset=15)[:24])),  # data offset past the datagram
        _eth(0x0800, _ipv4(_tcp(b"a" * 40, offset=15))),  # TCP options
        _eth(0x86DD, _ipv6(tcp, nxt=0)),  # an extension header
        _eth(0x86DD, _ipv6(tcp, plen=19)),
        _eth(0x86DD, _ipv6(tcp, plen=4000)),
        _eth(0x86DD, _ipv6(tcp))[:60],
        _eth(0x0806, bytes(28)),  # ARP
        _eth(0x8100, b"\x00\x05"),  # a tag and nothing after it
        _eth(0x8100, struct.pack("!HH", 5, 0x0800) + v4)[:57],  # the tag's minimum is 58
        _eth(0x8100, struct.pack("!HH", 5, 0x0800) + v4)[:58],
        b"",
    ]


def _block(frames: list[bytes], order: str) -> tuple[bytes, np.ndarray]:
    data, starts = bytearray(), []
    for n, frame in enumerate(frames):
        starts.append(len(data))
        data += struct.pack(order + "IIII", 1_700_000_000 + n, 999_999 - n, len(frame), 1500)
        data += frame
    return bytes(data), np.array(starts, dtype=np.int64)


@needs_c
@pytest.mark.parametrize("order", ["<", ">"])
def test_headers_agree_on_odd_frames(order: str) -> None:
    frames = _odd_frames()
    data, starts = _block(frames, order)
    c = _headers(data, starts, order, True)
    _assert_same_headers(c, _headers(data, starts, order, False))
    # the accepted ones, so the comparison is not between two arrays of refusals
    assert c.fast.tolist()[:5] == [True] * 5 and c.tags.tolist()[:5] == [0, 0, 1, 2, 2]
    assert c.vlan1.tolist()[2:5] == [0x064, 5, 9] and c.vlan2.tolist()[3] == 0x007
    assert c.payload_len.tolist()[0] == 11 and c.payload_len.tolist()[6] == 11
    assert c.seq.tolist()[0] == 0xFFFFFFF0 and c.sport.tolist()[1] == 443
    assert int(c.fast.sum()) == 9


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_odd_frames()) - 1),
            st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), max_size=4),
            st.integers(0, 120),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["<", ">"]),
)
def test_headers_agree_on_mutated_frames(
    picks: list[tuple[int, list[tuple[int, int]], int]], order: str
) -> None:
    """Frames with bytes overwritten in their headers and cut at any length."""
    templates = _odd_frames()
    frames = []
    for which, changes, cut in picks:
        frame = bytearray(templates[which])
        for at, value in changes:
            if at < len(frame):
                frame[at] = value
        frames.append(bytes(frame[: max(len(frame) - cut, 0)] if cut > 60 else frame))
    data, starts = _block(frames, order)
    _assert_same_headers(_headers(data, starts, order, True), _headers(data, starts, order, False))


@needs_c
def test_native_headers_refuse_records_outside_the_block() -> None:
    data, starts = _block(_odd_frames()[:3], "<")
    with pytest.raises(ValueError):
        _headers(data[:-1], starts, "<", True)
    with pytest.raises(ValueError):
        _headers(data, starts + len(data), "<", True)


@needs_c
def test_gather_agrees() -> None:
    """The evidence pass's record rebuild: the same bytes from C and Python, every frame whole."""
    frames = _odd_frames()
    data, starts = _block(frames, ">")
    keep = np.array([0, 2, 3, 7, len(frames) - 1], dtype=np.int64)
    sizes = np.array([len(frames[k]) for k in keep.tolist()], dtype=np.int64)
    heads = bytes(range(16 * len(keep)))
    c = gather(data, starts[keep], sizes, heads, native())
    assert c == gather(data, starts[keep], sizes, heads, None)
    expected = b"".join(
        heads[16 * i : 16 * i + 16] + frames[k] for i, k in enumerate(keep.tolist())
    )
    assert c == expected
    assert gather(data, starts[:0], sizes[:0], b"", native()) == b""
    with pytest.raises(ValueError):
        gather(data, starts[keep] + len(data), sizes, heads, native())
