"""IP fragment reassembly: orders, duplicates, the first-wins overlap policy, limits, corpus.

The reassembler is exercised directly (offsets and bytes), then through ``PacketDecoder`` with
fragments scapy makes (IPv4, IPv6, inside VLANs and tunnels, and tunnels whose outer packets are
fragmented), and on the shared corpus against tshark, which reassembles by default.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN

from sensor.anomalies import AnomalyCounter
from sensor.capture import open_capture
from sensor.decode.decoder import PacketDecoder
from sensor.decode.fragments import (
    FRAGMENT_TIMEOUT,
    MAX_FRAGMENTS_PER_DATAGRAM,
    FragmentKey,
    FragmentReassembler,
)
from sensor.decode.packet import TcpSegment, Tunnel, decode_tcp

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
KEY: FragmentKey = (4, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 7, 6, ((), ()))
DATA = bytes(range(256)) * 8  # 2 KiB with a pattern, so misplaced bytes show
Fragment = tuple[int, bool, bytes]  # offset, more fragments, data


def split(data: bytes, size: int) -> list[Fragment]:
    return [(o, o + size < len(data), data[o : o + size]) for o in range(0, len(data), size)]


def feed(
    reassembler: FragmentReassembler, fragments: list[Fragment], key: FragmentKey = KEY
) -> list[tuple[int, bytes]]:
    done = []
    for offset, more, data in fragments:
        result = reassembler.add(key, 0.0, offset, more, data, 6, 20, "frame 0")
        if result is not None:
            done.append(result)
    return done


def test_in_order_and_reverse_order() -> None:
    for order in (1, -1):
        anomalies = AnomalyCounter()
        reassembler = FragmentReassembler(anomalies)
        assert feed(reassembler, split(DATA, 512)[::order]) == [(6, DATA)]
        assert len(reassembler) == 0 and reassembler.buffered_bytes == 0
        assert anomalies.total() == 0


@settings(max_examples=100, deadline=None)
@given(st.permutations(split(DATA, 128)))
def test_any_order_gives_the_same_datagram(fragments: list[Fragment]) -> None:
    assert feed(FragmentReassembler(AnomalyCounter()), fragments) == [(6, DATA)]


def test_duplicates_are_counted_and_complete_once() -> None:
    anomalies = AnomalyCounter()
    fragments = split(DATA, 512)
    done = feed(FragmentReassembler(anomalies), [fragments[0], fragments[0], *fragments[1:]])
    assert done == [(6, DATA)]
    assert anomalies["decode.frag_overlap"] == 1
    assert anomalies["decode.frag_overlap_different_data"] == 0


def test_overlap_with_different_data_keeps_the_first_bytes() -> None:
    first, later = (0, True, b"A" * 16), (8, False, b"B" * 16)
    for fragments, expected in (
        ([first, later], b"A" * 16 + b"B" * 8),
        ([later, first], b"A" * 8 + b"B" * 16),
    ):
        anomalies = AnomalyCounter()
        assert feed(FragmentReassembler(anomalies), fragments) == [(6, expected)]
        assert anomalies["decode.frag_overlap_different_data"] == 1


def test_later_fragment_fills_only_the_holes_around_held_pieces() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies)
    feed(reassembler, [(64, True, b"x" * 64), (192, True, b"y" * 64), (320, False, b"z" * 8)])
    done = feed(reassembler, [(0, True, b"e" * 320)])  # spans both pieces and both holes
    assert done == [(6, b"e" * 64 + b"x" * 64 + b"e" * 64 + b"y" * 64 + b"e" * 64 + b"z" * 8)]
    assert anomalies["decode.frag_overlap_different_data"] == 1


def test_timeout_on_the_capture_clock() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies)
    first, *rest = split(DATA, 512)
    reassembler.add(KEY, 100.0, *first, 6, 20, "frame 1")
    reassembler.expire(100.0 + FRAGMENT_TIMEOUT)
    assert len(reassembler) == 1  # not yet: the timeout is "older than"
    reassembler.expire(100.0 + FRAGMENT_TIMEOUT + 0.5)
    assert len(reassembler) == 0 and reassembler.buffered_bytes == 0
    assert anomalies.as_dict()["decode.frag_timeout"] == {"count": 1, "examples": ["frame 1"]}
    assert feed(reassembler, rest) == []  # the first fragment is gone


def test_memory_limit_evicts_the_oldest_datagram() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies, max_bytes=3000)
    key1, key2, key3 = ((*KEY[:3], ident, *KEY[4:]) for ident in (1, 2, 3))
    for key in (key1, key2, key3):
        feed(reassembler, [split(DATA, 1024)[0]], key)
    assert anomalies["decode.frag_memory_limit"] == 1
    assert reassembler.buffered_bytes <= 3000
    assert feed(reassembler, [split(DATA, 1024)[1]], key1) == []  # evicted: cannot complete
    assert feed(reassembler, [split(DATA, 1024)[1]], key3) == [(6, DATA)]


def test_datagram_beyond_64k_is_dropped() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies)
    feed(reassembler, [(0, True, DATA[:1024])])
    assert feed(reassembler, [(65528, False, b"x" * 16)]) == []
    assert anomalies["decode.frag_too_large"] == 1 and len(reassembler) == 0


def test_too_many_fragments_drop_the_datagram() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies)
    feed(reassembler, [(0, True, b"x" * 64)] * (MAX_FRAGMENTS_PER_DATAGRAM + 1))
    assert anomalies["decode.frag_too_many"] == 1 and len(reassembler) == 0


def test_tiny_misaligned_and_contradicting_fragments() -> None:
    anomalies = AnomalyCounter()
    reassembler = FragmentReassembler(anomalies)
    assert feed(reassembler, [(0, True, b"a" * 20), (16, False, b"b" * 8)]) == [
        (6, b"a" * 16 + b"b" * 8)  # trimmed to 16 like Linux, so the next fragment fits
    ]
    assert anomalies["decode.frag_misaligned"] == 1 and anomalies["decode.frag_tiny"] == 1
    feed(reassembler, [(0, True, b"c" * 64), (128, False, b"d" * 8)])  # the end is 136 now
    assert feed(reassembler, [(128, False, b"d" * 16)]) == []  # a second, longer end
    assert feed(reassembler, [(136, True, b"e" * 64)]) == []  # data beyond the end
    assert anomalies["decode.frag_bad_offset"] == 2


# -- through the decoder ----------------------------------------------------------------------

ETH = 1
BODY = bytes(range(256)) * 12  # 3 KiB of TCP payload: three or four fragments


def eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def tcp4(ident: int = 99, body: bytes = BODY) -> IP:
    return IP(src="10.0.0.1", dst="10.0.0.2", id=ident) / TCP(sport=40000, dport=80) / body


def decode_all(frames: list[bytes], linktype: int = ETH) -> tuple[list[TcpSegment], AnomalyCounter]:
    anomalies = AnomalyCounter()
    decoder = PacketDecoder(anomalies)
    found = [decoder.decode_frame(linktype, frame, float(i), i) for i, frame in enumerate(frames)]
    return [seg for seg in found if seg is not None], anomalies


def test_ipv4_fragments_give_one_segment_when_complete() -> None:
    frames = [bytes(eth() / f) for f in fragment(tcp4(), fragsize=1024)]
    (seg,), anomalies = decode_all(frames[::-1])
    assert seg.payload == BODY and seg.frame_index == len(frames) - 1
    assert anomalies.total() == 0


def test_ipv6_fragments_with_destination_options_inside() -> None:
    packet = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrFragment(id=5)
        / IPv6ExtHdrDestOpt()
        / TCP(sport=40000, dport=80)
        / BODY
    )
    frames = [bytes(eth() / f) for f in fragment6(packet, 1280)]
    assert len(frames) > 2
    (seg,), anomalies = decode_all(frames)
    assert (seg.src, seg.payload) == ("2001:db8::1", BODY) and anomalies.total() == 0


def test_equal_ids_in_two_vlans_do_not_mix() -> None:
    a = [bytes(eth() / Dot1Q(vlan=1) / f) for f in fragment(tcp4(body=b"a" * 3000), 1024)]
    b = [bytes(eth() / Dot1Q(vlan=2) / f) for f in fragment(tcp4(body=b"b" * 3000), 1024)]
    segments, anomalies = decode_all([x for pair in zip(a, b, strict=True) for x in pair])
    assert sorted(s.payload[:1] + bytes(s.vlan) for s in segments) == [b"a\x01", b"b\x02"]
    assert anomalies.total() == 0


def test_fragments_inside_a_tunnel_and_a_fragmented_tunnel() -> None:
    outer = IP(src="192.0.2.1", dst="192.0.2.2")
    inside = [
        bytes(eth() / outer / UDP(dport=4789) / VXLAN(vni=7) / eth() / f)
        for f in fragment(tcp4(), 1024)
    ]
    big_gre = IP(src="192.0.2.1", dst="192.0.2.2", id=5) / GRE() / tcp4()
    outside = [bytes(eth() / f) for f in fragment(big_gre, 1024)]
    segments, anomalies = decode_all(inside + outside)
    assert [s.payload == BODY for s in segments] == [True, True]
    assert segments[0].tunnel == (Tunnel("vxlan", "192.0.2.1", "192.0.2.2", 7),)
    assert segments[1].tunnel == (Tunnel("gre", "192.0.2.1", "192.0.2.2"),)
    assert anomalies.total() == 0


def test_decoder_times_out_fragments_on_record_time() -> None:
    anomalies = AnomalyCounter()
    decoder = PacketDecoder(anomalies)
    first, *rest = [bytes(eth() / f) for f in fragment(tcp4(), 1024)]
    decoder.decode_frame(ETH, first, 0.0, 0)
    late = [decoder.decode_frame(ETH, f, FRAGMENT_TIMEOUT + 1, 1) for f in rest]
    assert late == [None] * len(rest)
    assert anomalies["decode.frag_timeout"] == 1
    decoder.finish()
    assert anomalies["decode.frag_incomplete_at_end"] == 1  # the rest, still waiting


def test_stateless_decode_tcp_counts_fragments_it_cannot_keep() -> None:
    anomalies = AnomalyCounter()
    frames = [bytes(eth() / f) for f in fragment(tcp4(), 1024)]
    assert [decode_tcp(ETH, f, 0.0, anomalies) for f in frames] == [None] * len(frames)
    assert anomalies["decode.ip_fragment_not_reassembled"] == len(frames)


FOUR_FRAGMENTS = [bytes(eth() / f) for f in fragment(tcp4(), 800)]


@settings(max_examples=300, deadline=None)
@given(
    order=st.permutations(range(len(FOUR_FRAGMENTS))),
    cuts=st.lists(st.integers(0, 80), min_size=4, max_size=4),
)
def test_truncated_fragments_never_raise(order: list[int], cuts: list[int]) -> None:
    frames = FOUR_FRAGMENTS
    decode_all([frames[i][: len(frames[i]) - cut] for i, cut in zip(order, cuts, strict=True)])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 70_000), st.booleans(), st.integers(0, 3000), st.integers(0, 2)),
        max_size=40,
    )
)
def test_random_fragments_keep_the_books_straight(
    fragments: list[tuple[int, bool, int, int]],
) -> None:
    """Any offsets, lengths and ids: no exception, memory within the limit and back to zero."""
    reassembler = FragmentReassembler(AnomalyCounter(), max_bytes=20_000)
    for offset, more, length, ident in fragments:
        key = (*KEY[:3], ident, *KEY[4:])
        reassembler.add(key, 0.0, offset & ~7, more, DATA[:length], 6, 20, "frame 0")
        assert 0 <= reassembler.buffered_bytes <= 20_000
    reassembler.finish()
    assert reassembler.buffered_bytes == 0 and len(reassembler) == 0


# -- the shared corpus ------------------------------------------------------------------------


def _ipfrag_entries() -> list[dict]:  # type: ignore[type-arg]
    path = CORPUS / "manifest.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text())
    return [e for e in entries if any(c.startswith("ipfrag") for c in e["categories"])]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
@pytest.mark.parametrize("entry", _ipfrag_entries(), ids=lambda e: e["file"])
def test_corpus_fragments_match_tshark(entry: dict) -> None:  # type: ignore[type-arg]
    """The frames where tshark's reassembly ends in TCP are the frames we give a segment."""
    path = CORPUS / entry["file"]
    fields = ["frame.number", "tcp.srcport", "tcp.dstport", "tcp.len"]
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tcp", "-T", "fields"]
        + [x for f in fields for x in ("-e", f)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    theirs = [tuple(int(x) for x in line.split("\t")) for line in out.splitlines()]
    anomalies = AnomalyCounter()
    decoder = PacketDecoder(anomalies)
    ours = []
    for record in open_capture(path, anomalies):
        seg = decoder.decode(record)
        if seg is not None:
            ours.append((record.index + 1, seg.sport, seg.dport, len(seg.payload)))
    assert ours == theirs
    assert anomalies["decode.frag_overlap_different_data"] == 0


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_corpus_largest_datagram_and_overlap() -> None:
    anomalies = AnomalyCounter()
    decoder = PacketDecoder(anomalies)
    for record in open_capture(CORPUS / "suricata/ipv4-frag-gre-ppp-max.pcap", anomalies):
        decoder.decode(record)
    assert decoder.fragments is not None and decoder.fragments.reassembled == 1
    assert anomalies.total() == 0  # 1024 fragments, 65,535 bytes: the limit, not beyond it
    for record in open_capture(CORPUS / "zeek/ipv4-frag-overlap.pcap", anomalies):
        decoder.decode(record)
    assert anomalies["decode.frag_overlap"] == 1  # Zeek: fragment_overlap
    assert anomalies["decode.frag_tiny"] == 2  # Zeek: excessively_small_fragment


@pytest.mark.skipif(
    not CORPUS.exists(), reason="shared corpus not present at ../shared/corpus/real"
)
def test_fragment_limits_come_from_the_configuration(tmp_path: Path) -> None:
    """``limits.fragments`` reaches the audit's decoder: off, the fragmented SYN is counted as
    not reassembled and opens no flow; on (the default), the flow is there."""
    from sensor.audit import Audit
    from sensor.config import EgressConfig

    capture = CORPUS / "suricata" / "ipv4-frag-tcp-syn.pcap"
    off = EgressConfig.model_validate({"limits": {"fragments": {"reassemble": False}}})
    summary = Audit(off, tmp_path / "off").run([capture])
    assert summary["anomalies"]["decode.ip_fragment_not_reassembled"]["count"] == 3
    assert summary["counts"]["flows"] == 0
    summary = Audit(EgressConfig(), tmp_path / "on").run([capture])
    assert "decode.ip_fragment_not_reassembled" not in summary["anomalies"]
    assert summary["counts"]["flows"] == 1
