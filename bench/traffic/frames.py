"""Fast raw frame building for large generated captures: Ethernet, VLAN, IPv4/IPv6, TCP, UDP.

``tcp_session`` builds frames with scapy, which is right for small fixtures but costs about 100 µs
a packet; the standard mix has millions of packets, so this module packs headers with ``struct``
and computes real IPv4/TCP/UDP checksums (a checksum-validating peer must not drop the frames).
``tests/test_bench_mix.py`` checks the bytes against scapy's for the same packet.
"""

from __future__ import annotations

import ipaddress
import struct
from functools import lru_cache

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8
PROTO_TCP = 6
PROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")


@lru_cache(maxsize=4096)
def ip_bytes(text: str) -> bytes:
    """Packed form of an IPv4 or IPv6 address (cached: a mix reuses few addresses)."""
    return ipaddress.ip_address(text).packed


@lru_cache(maxsize=1024)
def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def checksum(data: bytes) -> int:
    """Internet checksum (RFC 1071) of ``data``, as the 16-bit value to pack big-endian."""
    if len(data) & 1:
        data += b"\0"
    # Sum in native (little-endian) order and swap at the end: one's complement sums commute
    # with byte swapping, and memoryview.cast avoids an unpack per word.
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    value = ~total & 0xFFFF
    return ((value & 0xFF) << 8) | (value >> 8)


def ethernet(src_mac: str, dst_mac: str, vlans: tuple[int, ...], ethertype: int) -> bytes:
    """Ethernet header; with two VLAN ids the outer tag is 802.1ad (QinQ)."""
    head = mac_bytes(dst_mac) + mac_bytes(src_mac)
    for i, vid in enumerate(vlans):
        tpid = ETHERTYPE_QINQ if len(vlans) > 1 and i == 0 else ETHERTYPE_VLAN
        head += struct.pack("!HH", tpid, vid & 0x0FFF)
    return head + struct.pack("!H", ethertype)


def ip_packet(src: str, dst: str, proto: int, transport: bytes, ip_id: int, ttl: int = 64) -> bytes:
    """An IPv4 (DF set) or IPv6 header followed by ``transport`` (its checksum already set)."""
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        header = _IPV4.pack(
            0x45, 0, 20 + len(transport), ip_id & 0xFFFF, 0x4000, ttl, proto, 0, s, d
        )
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + transport
    return _IPV6.pack(6 << 28, len(transport), proto, ttl, s, d) + transport


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    s, d = ip_bytes(src), ip_bytes(dst)
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!IxxxB", length, proto)


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 64240,
    mss_option: int = 0,
) -> bytes:
    """A TCP header (with an MSS option on request) and payload, checksum filled in."""
    options = struct.pack("!BBH", 2, 4, mss_option) if mss_option else b""
    offset = (20 + len(options)) // 4
    header = _TCP.pack(
        sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0
    )
    segment = header + options + payload
    value = checksum(_pseudo(src, dst, PROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", value) + segment[18:]


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    length = 8 + len(payload)
    datagram = _UDP.pack(sport, dport, length, 0) + payload
    value = checksum(_pseudo(src, dst, PROTO_UDP, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", value) + datagram[8:]


def frame(
    src_mac: str,
    dst_mac: str,
    vlans: tuple[int, ...],
    src: str,
    dst: str,
    proto: int,
    transport: bytes,
    ip_id: int,
    ttl: int = 64,
) -> bytes:
    """A whole Ethernet frame carrying one IP packet."""
    v6 = ":" in src
    return ethernet(src_mac, dst_mac, vlans, ETHERTYPE_IPV6 if v6 else ETHERTYPE_IPV4) + ip_packet(
        src, dst, proto, transport, ip_id, ttl
    )
