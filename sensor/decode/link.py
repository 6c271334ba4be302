"""Link layers: where the network header starts in a captured frame, and VLAN tags.

``strip_link`` maps a capture's link type to a *kind* and the byte range it covers: either
``KIND_ETHERNET`` (an Ethernet header starts there), ``KIND_PPP`` or an EtherType (IPv4, IPv6,
MPLS, ...). Link types whose header names the network protocol (Linux SLL/SLL2, BSD loopback,
NFLOG, Cisco HDLC) are translated to an EtherType; the raw-IP link types (101, 12, 14, 228, 229)
are told apart by the IP version nibble.

Anomalies: ``decode.truncated_<link>`` (``sll``, ``sll2``, ``loopback``, ``nflog``, ``c_hdlc``,
``ip`` for an empty raw-IP frame) when a frame is shorter than its link header,
``decode.bad_ip_version`` for raw-IP frames that are neither IPv4 nor IPv6 (or not the version
their link type promises), ``decode.bad_nflog_tlv`` for NFLOG attributes whose length lies,
``decode.nflog_without_payload`` for NFLOG records that carry no packet, ``decode.bad_vlan_stack``
and ``decode.unsupported_linktype``.
"""

from __future__ import annotations

from typing import Literal

from sensor.anomalies import AnomalyCounter

LINKTYPE_NULL = 0  # BSD loopback, address family in the capturing host's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_DLT_RAW_BSD = 12  # DLT_RAW as numbered on most BSDs, found in some raw files
LINKTYPE_DLT_RAW_OPENBSD = 14  # DLT_RAW as numbered on OpenBSD
LINKTYPE_PPP_HDLC = 50
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104  # Cisco HDLC
LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_NFLOG = 239
LINKTYPE_LINUX_SLL2 = 276

KIND_ETHERNET = -1  # pseudo-EtherType: "an Ethernet header starts here"
KIND_PPP = -2  # pseudo-EtherType: "a PPP protocol field (maybe after FF 03) starts here"

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_QINQ = 0x88A8
ETHERTYPE_QINQ_OLD = 0x9100  # pre-802.1ad vendor QinQ, still seen on older switches
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_MPLS_MULTICAST = 0x8848
ETHERTYPE_PPPOE_SESSION = 0x8864
VLAN_ETHERTYPES = frozenset({ETHERTYPE_VLAN, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD})
MAX_VLAN_TAGS = 4  # QinQ uses two; more than four tags is a malformed or hostile frame

_RAW_IP_LINKTYPES = frozenset({LINKTYPE_RAW, LINKTYPE_DLT_RAW_BSD, LINKTYPE_DLT_RAW_OPENBSD})
_AF_INET = 2
_AF_INET6 = frozenset({10, 23, 24, 28, 30})  # Linux, Windows, Net/OpenBSD, FreeBSD, Darwin
_NFLOG_HEADER = 4  # family, version, resource id
_NFULA_PAYLOAD = 9  # the NFLOG attribute holding the packet
_NLA_TYPE_MASK = 0x3FFF  # the two top bits of a netlink attribute type are flags


def strip_link(
    linktype: int, frame: bytes, anomalies: AnomalyCounter, index: int
) -> tuple[int, int, int] | None:
    """Return (kind, start, end) of what the link header carries, or None if it is not IP."""
    n = len(frame)
    if linktype == LINKTYPE_ETHERNET:
        return KIND_ETHERNET, 0, n
    if linktype in _RAW_IP_LINKTYPES:
        return _raw_ip(frame, 0, n, 0, anomalies, index)
    if linktype == LINKTYPE_IPV4:
        return _raw_ip(frame, 0, n, 4, anomalies, index)
    if linktype == LINKTYPE_IPV6:
        return _raw_ip(frame, 0, n, 6, anomalies, index)
    if linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            anomalies.count("decode.truncated_sll", f"frame {index}")
            return None
        return int.from_bytes(frame[14:16], "big"), 16, n
    if linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            anomalies.count("decode.truncated_sll2", f"frame {index}")
            return None
        return int.from_bytes(frame[0:2], "big"), 20, n
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        return _loopback(frame, anomalies, index)
    if linktype == LINKTYPE_NFLOG:
        return _nflog(frame, anomalies, index)
    if linktype in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
        return KIND_PPP, 0, n
    if linktype == LINKTYPE_C_HDLC:
        if n < 4:
            anomalies.count("decode.truncated_c_hdlc", f"frame {index}")
            return None
        return int.from_bytes(frame[2:4], "big"), 4, n
    anomalies.count("decode.unsupported_linktype", f"link type {linktype}")
    return None


def _raw_ip(
    frame: bytes, off: int, end: int, expected: int, anomalies: AnomalyCounter, index: int
) -> tuple[int, int, int] | None:
    """Raw IP: the version nibble says which; ``expected`` (4 or 6) when the link type says."""
    if off >= end:
        anomalies.count("decode.truncated_ip", f"frame {index}")
        return None
    version = frame[off] >> 4
    if version not in (4, 6) or (expected and version != expected):
        anomalies.count("decode.bad_ip_version", f"frame {index}")
        return None
    return (ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6), off, end


def _loopback(frame: bytes, anomalies: AnomalyCounter, index: int) -> tuple[int, int, int] | None:
    """BSD loopback: a 4-byte address family, in either byte order (files move between hosts)."""
    if len(frame) < 4:
        anomalies.count("decode.truncated_loopback", f"frame {index}")
        return None
    family = int.from_bytes(frame[:4], "little")
    if family > 0xFFFF:  # a small number written big-endian
        family = int.from_bytes(frame[:4], "big")
    if family == _AF_INET:
        return ETHERTYPE_IPV4, 4, len(frame)
    if family in _AF_INET6:
        return ETHERTYPE_IPV6, 4, len(frame)
    return None  # another address family: not IP, not an anomaly


def _nflog(frame: bytes, anomalies: AnomalyCounter, index: int) -> tuple[int, int, int] | None:
    """NFLOG: a header, then netlink TLVs (length and type in the logging host's byte order);
    the packet is the payload attribute."""
    n = len(frame)
    if n < _NFLOG_HEADER:
        anomalies.count("decode.truncated_nflog", f"frame {index}")
        return None
    order: Literal["little", "big"] = "little"
    if n >= _NFLOG_HEADER + 4:
        first = int.from_bytes(frame[4:6], "little")
        if first < 4 or _NFLOG_HEADER + first > n:
            order = "big"  # a big-endian logger; if that lies too, the walk below counts it
    off = _NFLOG_HEADER
    while off + 4 <= n:
        length = int.from_bytes(frame[off : off + 2], order)
        kind = int.from_bytes(frame[off + 2 : off + 4], order) & _NLA_TYPE_MASK
        if length < 4 or off + length > n:
            anomalies.count("decode.bad_nflog_tlv", f"frame {index}")
            return None
        if kind == _NFULA_PAYLOAD:
            return _raw_ip(frame, off + 4, off + length, 0, anomalies, index)
        off += (length + 3) & ~3  # attributes are padded to 4 bytes
    anomalies.count("decode.nflog_without_payload", f"frame {index}")
    return None


def skip_vlans(
    ethertype: int,
    buf: bytes,
    off: int,
    end: int,
    vlans: list[int],
    anomalies: AnomalyCounter,
    index: int,
) -> tuple[int, int] | None:
    """Consume 802.1Q/802.1ad tags, appending their VLAN ids; (inner EtherType, offset) or None."""
    tags = 0
    while ethertype in VLAN_ETHERTYPES:
        if tags == MAX_VLAN_TAGS or end < off + 4:
            anomalies.count("decode.bad_vlan_stack", f"frame {index}")
            return None
        vlans.append(int.from_bytes(buf[off : off + 2], "big") & 0x0FFF)
        ethertype = int.from_bytes(buf[off + 2 : off + 4], "big")
        off += 4
        tags += 1
    return ethertype, off
