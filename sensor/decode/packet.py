"""Per-packet decoder: link layer -> IP -> TCP.

This is the walking skeleton's decoder: Ethernet (with 802.1Q/802.1ad tags), raw IP, IPv4 and IPv6
without extension headers, TCP. The reassembly issue replaces the hot path with a batch decoder over
numpy arrays; this function stays as the plain-Python reference it is tested against.

Header fields that lie (lengths shorter than the header, longer than the packet) are counted as
anomalies and the packet is skipped. Frames that are simply not TCP are counted by the caller as
statistics, not anomalies.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8
IPPROTO_TCP = 6
MAX_VLAN_TAGS = 4  # QinQ uses two; more than four tags is a malformed or hostile frame

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

_TCP_HEADER = struct.Struct("!HHIIBBHHH")


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """The parts of a TCP/IP packet the flow table and reassembler need."""

    timestamp: float
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    vlan: tuple[int, ...] = ()
    frame_index: int = -1  # record number in the capture, for evidence


def _strip_link(
    linktype: int, frame: bytes, anomalies: AnomalyCounter
) -> tuple[int, int, tuple[int, ...]] | None:
    """Return (ethertype, offset of the network header, vlan ids) or None if not IP."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            anomalies.count("decode.truncated_ethernet")
            return None
        ethertype = int.from_bytes(frame[12:14], "big")
        offset = 14
        vlans: list[int] = []
        while ethertype in (ETHERTYPE_VLAN, ETHERTYPE_QINQ):
            if len(vlans) == MAX_VLAN_TAGS or len(frame) < offset + 4:
                anomalies.count("decode.bad_vlan_stack")
                return None
            vlans.append(int.from_bytes(frame[offset : offset + 2], "big") & 0x0FFF)
            ethertype = int.from_bytes(frame[offset + 2 : offset + 4], "big")
            offset += 4
        return ethertype, offset, tuple(vlans)
    if linktype == LINKTYPE_RAW:
        if not frame:
            return None
        version = frame[0] >> 4
        return (ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6), 0, ()
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            anomalies.count("decode.truncated_sll")
            return None
        return int.from_bytes(frame[14:16], "big"), 16, ()
    if linktype == LINKTYPE_NULL:
        if len(frame) < 4:
            return None
        family = int.from_bytes(frame[:4], "little")
        if family == 2:
            return ETHERTYPE_IPV4, 4, ()
        if family in (10, 24, 28, 30):
            return ETHERTYPE_IPV6, 4, ()
        return None
    anomalies.count("decode.unsupported_linktype", f"link type {linktype}")
    return None


def decode_tcp(
    linktype: int, frame: bytes, timestamp: float, anomalies: AnomalyCounter, frame_index: int = -1
) -> TcpSegment | None:
    """Decode one frame; return its TCP segment, or None if it is not (well-formed) TCP."""
    link = _strip_link(linktype, frame, anomalies)
    if link is None:
        return None
    ethertype, off, vlans = link
    if ethertype == ETHERTYPE_IPV4:
        if len(frame) < off + 20:
            anomalies.count("decode.truncated_ipv4")
            return None
        ihl = (frame[off] & 0x0F) * 4
        total_length = int.from_bytes(frame[off + 2 : off + 4], "big")
        if frame[off] >> 4 != 4 or ihl < 20 or total_length < ihl:
            anomalies.count("decode.bad_ipv4_header", f"frame {frame_index}")
            return None
        if int.from_bytes(frame[off + 6 : off + 8], "big") & 0x3FFF:
            anomalies.count("decode.ipv4_fragment_unsupported", f"frame {frame_index}")
            return None
        if frame[off + 9] != IPPROTO_TCP:
            return None
        src = str(ipaddress.IPv4Address(bytes(frame[off + 12 : off + 16])))
        dst = str(ipaddress.IPv4Address(bytes(frame[off + 16 : off + 20])))
        end = off + total_length
        if end > len(frame):
            anomalies.count("decode.ip_length_exceeds_capture", f"frame {frame_index}")
            end = len(frame)
        tcp = off + ihl
    elif ethertype == ETHERTYPE_IPV6:
        if len(frame) < off + 40:
            anomalies.count("decode.truncated_ipv6")
            return None
        if frame[off + 6] != IPPROTO_TCP:
            return None  # extension headers arrive with the reassembly issue
        src = str(ipaddress.IPv6Address(bytes(frame[off + 8 : off + 24])))
        dst = str(ipaddress.IPv6Address(bytes(frame[off + 24 : off + 40])))
        end = off + 40 + int.from_bytes(frame[off + 4 : off + 6], "big")
        if end > len(frame):
            anomalies.count("decode.ip_length_exceeds_capture", f"frame {frame_index}")
            end = len(frame)
        tcp = off + 40
    else:
        return None
    if end - tcp < 20:
        anomalies.count("decode.truncated_tcp", f"frame {frame_index}")
        return None
    sport, dport, seq, ack, data_offset, flags, _win, _sum, _urg = _TCP_HEADER.unpack_from(
        frame, tcp
    )
    header_len = (data_offset >> 4) * 4
    if header_len < 20 or tcp + header_len > end:
        anomalies.count("decode.bad_tcp_data_offset", f"frame {frame_index}")
        return None
    return TcpSegment(
        timestamp,
        src,
        dst,
        sport,
        dport,
        seq,
        ack,
        flags,
        bytes(frame[tcp + header_len : end]),
        vlans,
        frame_index,
    )
