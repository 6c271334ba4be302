"""IPv4 and IPv6 headers, IPv6 extension headers and IPsec AH: where the transport starts.

``ipv4``/``ipv6`` return an ``IpHeader``: addresses (raw bytes), the upper-layer protocol, where
its bytes lie, and the fragment fields when the packet is a fragment (then ``payload`` is the
start of the fragment's data and ``proto`` what the first fragment will carry). Length fields are
checked against the header and the capture: a total/payload length beyond the captured bytes is
clamped and counted (snap length or a lie), anything shorter than the header is dropped.

The flow destination of an IPv6 packet with a routing header (type 0, 2 or segment routing) and
segments left is the final destination in that header, so the two directions of a source-routed
connection still meet in one flow.

Anomalies: ``decode.truncated_ipv4``, ``decode.bad_ipv4_header``, ``decode.truncated_ipv6``,
``decode.bad_ipv6_header``, ``decode.ip_length_exceeds_capture``,
``decode.ipv4_zero_total_length`` (taken as "up to the end of the capture", as Wireshark does for
TCP segmentation offload),
``decode.truncated_ipv6_ext_header``, ``decode.ipv6_too_many_ext_headers``,
``decode.truncated_ah``.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter

IPPROTO_HOPOPTS = 0
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_AH = 51
IPPROTO_DSTOPTS = 60
IPPROTO_MOBILITY = 135
IPPROTO_HIP = 139
IPPROTO_SHIM6 = 140
MAX_IPV6_EXT_HEADERS = 16  # RFC 8200 order uses at most ~8; more is a crafted parser trap
MAX_IP_DATAGRAM = 65535  # largest IPv4 total length, largest IPv6 payload (no jumbograms)

_EXT_HEADERS = frozenset(
    {
        IPPROTO_HOPOPTS,
        IPPROTO_ROUTING,
        IPPROTO_FRAGMENT,
        IPPROTO_AH,
        IPPROTO_DSTOPTS,
        IPPROTO_MOBILITY,
        IPPROTO_HIP,
        IPPROTO_SHIM6,
    }
)
_IPV4 = struct.Struct("!BxHHHxB2x4s4s")
_ROUTING_TYPE0 = 0
_ROUTING_TYPE2 = 2  # Mobile IPv6: one address, the home address
_ROUTING_SRH = 4  # segment routing: segment list[0] is the final destination


@dataclass(slots=True)
class IpHeader:
    """The fields the decoder needs from one IP header (and its extension headers)."""

    version: int
    src: bytes
    dst: bytes  # the final destination for IPv6 routing headers
    proto: int  # the upper-layer protocol (of the whole datagram, for a fragment)
    payload: int  # offset of the upper-layer data, or of the fragment's data
    end: int  # end of the datagram in the buffer
    header_len: int  # bytes that count against the 64 KiB datagram limit before ``payload``
    truncated: bool = False  # the capture holds fewer bytes than the header says
    snapped: int = 0  # how many: bytes the header announces beyond the end of the capture
    fragment: bool = False
    frag_ident: int = 0
    frag_offset: int = 0  # in bytes
    frag_more: bool = False


def ipv4(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> IpHeader | None:
    """An IPv4 header at ``off``; options skipped."""
    if end - off < 20:
        anomalies.count("decode.truncated_ipv4", f"frame {index}")
        return None
    first, total, ident, frag, proto, src, dst = _IPV4.unpack_from(buf, off)
    ihl = (first & 0x0F) * 4
    if total == 0:  # segmentation offload: a host capture sees the length before the NIC sets it
        anomalies.count("decode.ipv4_zero_total_length", f"frame {index}")
        total = end - off
    if first >> 4 != 4 or ihl < 20 or total < ihl:
        anomalies.count("decode.bad_ipv4_header", f"frame {index}")
        return None
    if off + ihl > end:
        anomalies.count("decode.truncated_ipv4", f"frame {index}")
        return None
    stop = off + total
    truncated = stop > end
    snapped = stop - end if truncated else 0
    if truncated:
        anomalies.count("decode.ip_length_exceeds_capture", f"frame {index}")
        stop = end
    header = IpHeader(4, src, dst, proto, off + ihl, stop, ihl, truncated, snapped)
    if frag & 0x3FFF:  # more-fragments flag or a non-zero offset
        header.fragment = True
        header.frag_ident = ident
        header.frag_offset = (frag & 0x1FFF) * 8
        header.frag_more = bool(frag & 0x2000)
    return header


def ipv6(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> IpHeader | None:
    """An IPv6 header at ``off`` and its extension headers, up to the transport or a fragment."""
    if end - off < 40:
        anomalies.count("decode.truncated_ipv6", f"frame {index}")
        return None
    if buf[off] >> 4 != 6:
        anomalies.count("decode.bad_ipv6_header", f"frame {index}")
        return None
    payload_length = int.from_bytes(buf[off + 4 : off + 6], "big")
    next_header = buf[off + 6]
    src, dst = buf[off + 8 : off + 24], buf[off + 24 : off + 40]
    stop = off + 40 + payload_length
    if payload_length == 0 and next_header == IPPROTO_HOPOPTS:
        stop = end  # a jumbogram (RFC 2675): its length is in a hop-by-hop option
    truncated = stop > end
    snapped = stop - end if truncated else 0
    if truncated:
        anomalies.count("decode.ip_length_exceeds_capture", f"frame {index}")
        stop = end
    header = IpHeader(6, src, dst, next_header, off + 40, stop, 0, truncated, snapped)
    if next_header in _EXT_HEADERS and not ipv6_extensions(header, buf, anomalies, index):
        return None
    header.header_len = header.payload - off - 40
    return header


def ipv6_extensions(header: IpHeader, buf: bytes, anomalies: AnomalyCounter, index: int) -> bool:
    """Walk extension headers from ``header.payload``; stop at the transport or a fragment header.

    Updates ``proto``, ``payload``, ``dst`` (routing) and the fragment fields; False if a header
    lies about its length or there are too many.
    """
    p, stop, nh = header.payload, header.end, header.proto
    for _ in range(MAX_IPV6_EXT_HEADERS):
        if nh not in _EXT_HEADERS:
            header.proto, header.payload = nh, p
            return True
        if p + 8 > stop:
            anomalies.count("decode.truncated_ipv6_ext_header", f"frame {index}")
            return False
        following = buf[p]
        if nh == IPPROTO_FRAGMENT:
            field = int.from_bytes(buf[p + 2 : p + 4], "big")
            if field & 0xFFF9:  # an offset or the more flag: a real fragment
                header.fragment = True
                header.frag_ident = int.from_bytes(buf[p + 4 : p + 8], "big")
                header.frag_offset = field & 0xFFF8
                header.frag_more = bool(field & 1)
                header.proto, header.payload = following, p + 8
                return True
            length = 8  # an atomic fragment (RFC 6946): a whole packet, decode it as one
        elif nh == IPPROTO_AH:
            length = (buf[p + 1] + 2) * 4
        else:
            length = (buf[p + 1] + 1) * 8
        if p + length > stop:
            anomalies.count("decode.truncated_ipv6_ext_header", f"frame {index}")
            return False
        if nh == IPPROTO_ROUTING and buf[p + 3]:  # segments left: the destination is elsewhere
            header.dst = _final_destination(buf, p, length, header.dst)
        nh = following
        p += length
    if nh not in _EXT_HEADERS:
        header.proto, header.payload = nh, p
        return True
    anomalies.count("decode.ipv6_too_many_ext_headers", f"frame {index}")
    return False


def _final_destination(buf: bytes, p: int, length: int, dst: bytes) -> bytes:
    """The last stop of a routing header (type 0, 2 or SRH); ``dst`` for other types."""
    routing_type = buf[p + 2]
    if routing_type in (_ROUTING_TYPE0, _ROUTING_TYPE2) and length >= 24:
        last = p + 8 + ((length - 8) // 16 - 1) * 16
        return buf[last : last + 16]
    if routing_type == _ROUTING_SRH and length >= 24:
        return buf[p + 8 : p + 24]
    return dst


def skip_ah(buf: bytes, p: int, end: int, anomalies: AnomalyCounter, index: int) -> tuple[int, int]:
    """Skip an IPsec AH header over IPv4 (IPv6 walks it as an extension header).

    (next protocol, offset after AH), or (-1, end) if truncated.
    """
    if p + 8 > end or p + (buf[p + 1] + 2) * 4 > end:
        anomalies.count("decode.truncated_ah", f"frame {index}")
        return -1, end
    return buf[p], p + (buf[p + 1] + 2) * 4


def address(raw: bytes) -> str:
    """Text form of a 4- or 16-byte address, as ``ipaddress`` writes it."""
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    return str(ipaddress.IPv6Address(raw))
