"""The standard traffic mix generator: reproducible, well-formed, and containing what it promises."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import dpkt
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from bench.traffic.frames import ACK, PROTO_TCP, PSH, frame, tcp_segment
from bench.traffic.mix import MixOptions, parse_size, write_mix
from sensor.audit import Audit
from sensor.config import EgressConfig


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    write_mix(a, 1 << 20, seed=11)
    write_mix(b, 1 << 20, seed=11)
    write_mix(c, 1 << 20, seed=12)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1]
    assert digest[0] != digest[2]


def test_size_target_is_met(tmp_path: Path) -> None:
    path = tmp_path / "m.pcap"
    stats = write_mix(path, 2 << 20, seed=3)
    assert stats.bytes_written == path.stat().st_size
    assert 2 << 20 <= stats.bytes_written < 12 << 20  # sessions end whole: some overshoot


@pytest.mark.parametrize(
    ("src", "dst", "vlans"),
    [
        ("10.1.2.3", "63.10.20.30", ()),
        ("fd00:10::5", "2600:1f18::10", (7,)),
        ("10.0.0.9", "61.152.10.21", (100, 200)),
    ],
)
def test_frames_match_scapy(src: str, dst: str, vlans: tuple[int, ...]) -> None:
    payload = b"GET / HTTP/1.1\r\n\r\n"
    mine = frame(
        "02:00:00:00:00:01",
        "02:00:00:00:00:fe",
        vlans,
        src,
        dst,
        PROTO_TCP,
        tcp_segment(src, dst, 40000, 80, 1234, 5678, ACK | PSH, payload),
        ip_id=77,
    )
    layer = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
    for i, vid in enumerate(vlans):
        layer = layer / (Dot1AD(vlan=vid) if len(vlans) > 1 and i == 0 else Dot1Q(vlan=vid))
    ip = IPv6(src=src, dst=dst, hlim=64) if ":" in src else IP(src=src, dst=dst, id=77, flags="DF")
    theirs = layer / ip / TCP(sport=40000, dport=80, seq=1234, ack=5678, flags="PA", window=64240)
    assert mine == bytes(theirs / Raw(payload))


def test_mix_contains_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "m.pcap"
    options = MixOptions(ipv6_share=0.3, vlan_share=0.3, disorder_share=0.5)
    stats = write_mix(path, 6 << 20, seed=5, options=options)
    assert {"dns", "short_http", "tls_bulk"} <= set(stats.sessions)
    seen: Counter[str] = Counter()
    segments: Counter[tuple[bytes, int, int, int]] = Counter()
    with path.open("rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            eth = dpkt.ethernet.Ethernet(buf)
            if getattr(eth, "vlan_tags", None):
                seen["vlan"] += 1
            ip = eth.data
            seen[type(ip).__name__] += 1
            transport = ip.data
            if isinstance(transport, dpkt.udp.UDP) and 53 in (transport.sport, transport.dport):
                seen["dns"] += 1
            if isinstance(transport, dpkt.tcp.TCP) and transport.data:
                if transport.data[:3] == b"\x16\x03\x01":
                    seen["client_hello"] += 1
                if transport.data.startswith(b"POST ") or transport.data.startswith(b"GET "):
                    seen["http_request"] += 1
                segments[(ip.src, transport.sport, transport.seq, len(transport.data))] += 1
    assert seen["IP"] and seen["IP6"] and seen["vlan"] and seen["dns"]
    assert seen["client_hello"] and seen["http_request"]
    assert any(n > 1 for n in segments.values())  # a retransmission


def test_parse_size() -> None:
    assert parse_size("300M") == 300 << 20
    assert parse_size("1G") == 1 << 30
    assert parse_size("2GB") == 2 << 30
    assert parse_size("4096") == 4096
    with pytest.raises(ValueError, match="suffix"):
        parse_size("lots")


def test_ftp_sessions_are_rebuilt_by_the_audit(tmp_path: Path) -> None:
    """The FTP dialogue is one real clients speak (PASV with the address over IPv4, EPSV over
    IPv6), so the audit finds every stored file; the generator once sent a PASV reply without the
    address and the benchmarks measured no FTP objects at all."""
    path = tmp_path / "ftp.pcap"
    options = MixOptions(ipv6_share=0.5, kinds={"ftp": 1.0})
    stats = write_mix(path, 2 << 20, seed=3, options=options)
    summary = Audit(EgressConfig(), tmp_path / "case").run([path])
    assert "ftp.bad_data_address" not in summary["anomalies"]
    objects = [
        json.loads(line) for line in (tmp_path / "case" / "objects.jsonl").read_text().splitlines()
    ]
    stored = [o for o in objects if o["network"]["protocol"] == "ftp"]
    assert len(stored) == stats.sessions["ftp"] >= 4
    families = {":" in o["source"]["ip"] for o in stored}
    assert families == {True, False}  # both the PASV and the EPSV dialogue
    assert all(o["object"]["direction"] == "upload" and o["object"]["size"] > 0 for o in stored)


def test_tls_sessions_have_a_real_server_hello(tmp_path: Path) -> None:
    """TLS bulk flows open with a parseable TLS 1.3 ServerHello (the audit reads the negotiated
    version and cipher, with no anomaly) before their encrypted records."""
    path = tmp_path / "tls.pcap"
    stats = write_mix(path, 1 << 20, seed=4, options=MixOptions(kinds={"tls_bulk": 1.0}))
    summary = Audit(EgressConfig(), tmp_path / "case").run([path])
    assert summary["anomalies"] == {}
    flows = [
        json.loads(line) for line in (tmp_path / "case" / "flows.jsonl").read_text().splitlines()
    ]
    tls = [f["tls"] for f in flows if "tls" in f]
    assert len(tls) == stats.sessions["tls_bulk"] >= 1
    assert {(t["version"], t["cipher"], t["server_name"]) for t in tls} == {
        ("TLSv13", "0x1301", "cdn.example.com")
    }
