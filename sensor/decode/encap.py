"""Encapsulations below and above IP: MPLS, PPP/PPPoE, GRE (with ERSPAN), VXLAN, Geneve, Teredo.

Each function is a pure decoder over ``buf[off:end]``: it returns what is inside as an
``Inner(kind, off, end, ident)`` (``kind`` is an EtherType or ``KIND_ETHERNET``/``KIND_PPP`` from
``sensor.decode.link``) or None. Payloads that are simply not user traffic (PPP control
protocols, MPLS OAM) are None without an anomaly; headers that lie are counted.

Guesses made, the same as Suricata's and Wireshark's defaults:

- MPLS has no next-protocol field. Below the bottom label, the explicit-null labels 0 and 2 mean
  IPv4 and IPv6; otherwise the first nibble decides: 4 is IPv4, 6 is IPv6, 0 is an Ethernet
  pseudowire, 1 the PW associated channel (OAM, skipped). A nibble 0 is the control word
  (RFC 4385) unless only the reading without one finds a known EtherType at byte 12, since many
  MAC addresses start with 0 too. An Ethernet pseudowire *without* control word whose destination
  MAC starts with 4 or 6 is taken for IP and fails IP validation; RFC 4385 asks for the control
  word exactly to avoid this, so the guess holds where PWs are run by the book.
- Teredo is decoded on UDP port 3544 and, like Zeek, on any port when the payload is an IPv6
  header whose payload length matches exactly and whose source or destination is in the Teredo
  prefix 2001:0::/32 (after a relay hands the client off, the peer talks from arbitrary ports).

Anomalies: ``decode.bad_mpls_stack``, ``decode.mpls_reserved_label``,
``decode.mpls_unknown_payload``, ``decode.truncated_ppp``, ``decode.truncated_pppoe``,
``decode.bad_pppoe_header``, ``decode.pppoe_length_exceeds_capture``, ``decode.truncated_gre``,
``decode.bad_gre_header``, ``decode.gre_source_routing``, ``decode.truncated_erspan``,
``decode.bad_erspan_header``, ``decode.truncated_vxlan``, ``decode.bad_vxlan_flags``,
``decode.truncated_geneve``, ``decode.bad_geneve_header``, ``decode.bad_teredo``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from sensor.anomalies import AnomalyCounter
from sensor.decode.link import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_MPLS,
    ETHERTYPE_MPLS_MULTICAST,
    KIND_ETHERNET,
    KIND_PPP,
)

MAX_MPLS_LABELS = 8  # transport + VPN + entropy pair + a few more; deeper stacks are crafted
ETHERTYPE_TRANSPARENT_ETHERNET = 0x6558
ETHERTYPE_PPP = 0x880B  # PPP in GRE (PPTP)
ETHERTYPE_ERSPAN_II = 0x88BE  # type I as well, told apart by the GRE sequence-number flag
ETHERTYPE_ERSPAN_III = 0x22EB
UDP_PORT_TEREDO = 3544
UDP_PORTS_VXLAN = frozenset({4789, 8472})  # IANA; Linux's pre-IANA default, used by flannel
UDP_PORT_GENEVE = 6081

_PPP_IPV4 = 0x0021
_PPP_IPV6 = 0x0057
_PPP_MPLS = 0x0281
_GRE_CHECKSUM = 0x8000
_GRE_ROUTING = 0x4000
_GRE_KEY = 0x2000
_GRE_SEQ = 0x1000
_GRE_ACK = 0x0080  # version 1 (PPTP) only
_ERSPAN_II_HEADER = 8
_ERSPAN_III_HEADER = 12
_ERSPAN_III_SUBHEADER = 8  # optional platform-specific subheader, flagged by the O bit
_TEREDO_PREFIX = b"\x20\x01\x00\x00"
_PSEUDOWIRE_ETHERTYPES = frozenset(
    {ETHERTYPE_IPV4, ETHERTYPE_IPV6, 0x0806, 0x8100, 0x88A8, 0x8847, 0x8848, 0x8864}
)
_WORD = struct.Struct("!I")
_TWO_SHORTS = struct.Struct("!HH")


class Inner(NamedTuple):
    """What an encapsulation carries: its kind, where it lies and the tunnel's identifier."""

    kind: int
    off: int
    end: int
    ident: int = -1


def mpls(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> Inner | None:
    """Skip the label stack and guess the payload (see the module docstring)."""
    for _ in range(MAX_MPLS_LABELS):
        if off + 4 > end:
            anomalies.count("decode.bad_mpls_stack", f"frame {index}")
            return None
        (entry,) = _WORD.unpack_from(buf, off)
        off += 4
        if entry & 0x100:  # bottom of stack
            break
    else:
        anomalies.count("decode.bad_mpls_stack", f"frame {index}")
        return None
    label = entry >> 12
    if label == 0:
        return Inner(ETHERTYPE_IPV4, off, end)
    if label == 2:
        return Inner(ETHERTYPE_IPV6, off, end)
    if label == 13:
        return None  # GAL: an OAM message follows, not user traffic
    if label < 16:
        anomalies.count("decode.mpls_reserved_label", f"frame {index}")
        return None
    if off >= end:
        anomalies.count("decode.bad_mpls_stack", f"frame {index}")
        return None
    nibble = buf[off] >> 4
    if nibble == 4:
        return Inner(ETHERTYPE_IPV4, off, end)
    if nibble == 6:
        return Inner(ETHERTYPE_IPV6, off, end)
    if nibble == 0:
        return Inner(KIND_ETHERNET, _pseudowire_ethernet(buf, off, end), end)
    if nibble == 1:
        return None  # PW associated channel: OAM
    anomalies.count("decode.mpls_unknown_payload", f"frame {index}")
    return None


def _pseudowire_ethernet(buf: bytes, off: int, end: int) -> int:
    """Where an Ethernet pseudowire's frame starts: after a control word (first nibble 0), unless
    only the reading without one finds a known EtherType (many MAC addresses start with 0 too)."""
    after_word = off + 4
    if _known_ethertype(buf, after_word + 12, end) or not _known_ethertype(buf, off + 12, end):
        return after_word
    return off


def _known_ethertype(buf: bytes, at: int, end: int) -> bool:
    return at + 2 <= end and int.from_bytes(buf[at : at + 2], "big") in _PSEUDOWIRE_ETHERTYPES


def ppp(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> Inner | None:
    """PPP: optional FF 03 address/control, a 1- or 2-byte protocol (field compression)."""
    if off + 2 <= end and buf[off] == 0xFF and buf[off + 1] == 0x03:
        off += 2
    if off >= end:
        anomalies.count("decode.truncated_ppp", f"frame {index}")
        return None
    if buf[off] & 1:  # odd first byte: the compressed one-byte form
        protocol = buf[off]
        off += 1
    elif off + 2 <= end:
        protocol = int.from_bytes(buf[off : off + 2], "big")
        off += 2
    else:
        anomalies.count("decode.truncated_ppp", f"frame {index}")
        return None
    if protocol == _PPP_IPV4:
        return Inner(ETHERTYPE_IPV4, off, end)
    if protocol == _PPP_IPV6:
        return Inner(ETHERTYPE_IPV6, off, end)
    if protocol == _PPP_MPLS:
        return Inner(ETHERTYPE_MPLS, off, end)
    return None  # LCP, IPCP, compressed or encrypted data: nothing to decode


def pppoe(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> Inner | None:
    """PPPoE session stage: a 6-byte header whose length bounds the PPP frame."""
    if off + 6 > end:
        anomalies.count("decode.truncated_pppoe", f"frame {index}")
        return None
    if buf[off] != 0x11 or buf[off + 1] != 0:  # version 1, type 1; code 0 for session data
        anomalies.count("decode.bad_pppoe_header", f"frame {index}")
        return None
    stop = off + 6 + int.from_bytes(buf[off + 4 : off + 6], "big")
    if stop > end:
        anomalies.count("decode.pppoe_length_exceeds_capture", f"frame {index}")
        stop = end
    return ppp(buf, off + 6, stop, anomalies, index)


def gre(
    buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int
) -> tuple[str, Inner] | None:
    """GRE (RFC 2784/2890, PPTP's version 1): ("gre" or "erspan", what it carries) or None.

    The key identifies a version-0 tunnel; version 1 puts the peer's call id there, which differs
    by direction, so it is not kept.
    """
    if off + 4 > end:
        anomalies.count("decode.truncated_gre", f"frame {index}")
        return None
    flags, protocol = _TWO_SHORTS.unpack_from(buf, off)
    version = flags & 0x7
    p = off + 4
    key = -1
    if version == 0:
        if flags & _GRE_ROUTING:
            anomalies.count("decode.gre_source_routing", f"frame {index}")  # RFC 1701, deprecated
            return None
        if flags & _GRE_CHECKSUM:
            p += 4
        if flags & _GRE_KEY:
            if p + 4 > end:
                anomalies.count("decode.truncated_gre", f"frame {index}")
                return None
            (key,) = _WORD.unpack_from(buf, p)
            p += 4
    elif version == 1:
        if protocol != ETHERTYPE_PPP or not flags & _GRE_KEY:
            anomalies.count("decode.bad_gre_header", f"frame {index}")
            return None
        p += 4 + (4 if flags & _GRE_ACK else 0)
    else:
        anomalies.count("decode.bad_gre_header", f"frame {index}")
        return None
    if flags & _GRE_SEQ:
        p += 4
    if p > end:
        anomalies.count("decode.truncated_gre", f"frame {index}")
        return None
    if protocol in (ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST):
        return "gre", Inner(protocol, p, end, key)
    if protocol == ETHERTYPE_TRANSPARENT_ETHERNET:
        return "gre", Inner(KIND_ETHERNET, p, end, key)
    if protocol == ETHERTYPE_PPP:
        return "gre", Inner(KIND_PPP, p, end, key)
    if protocol == ETHERTYPE_ERSPAN_II:
        if not flags & _GRE_SEQ:
            return "erspan", Inner(KIND_ETHERNET, p, end)  # type I: no ERSPAN header at all
        return _erspan(buf, p, end, 1, anomalies, index)
    if protocol == ETHERTYPE_ERSPAN_III:
        return _erspan(buf, p, end, 2, anomalies, index)
    return None


def _erspan(
    buf: bytes, off: int, end: int, version: int, anomalies: AnomalyCounter, index: int
) -> tuple[str, Inner] | None:
    """ERSPAN type II (version 1, 8 bytes) or III (version 2, 12 bytes + optional 8)."""
    header = _ERSPAN_II_HEADER if version == 1 else _ERSPAN_III_HEADER
    if off + header > end:
        anomalies.count("decode.truncated_erspan", f"frame {index}")
        return None
    word0, word1 = _TWO_SHORTS.unpack_from(buf, off)
    if word0 >> 12 != version:
        anomalies.count("decode.bad_erspan_header", f"frame {index}")
        return None
    session = word1 & 0x3FF
    kind = KIND_ETHERNET
    p = off + header
    if version == 2:
        last = int.from_bytes(buf[off + 10 : off + 12], "big")
        frame_type = (last >> 10) & 0x1F  # 0: Ethernet frame, 2: IP packet without L2
        if last & 1:
            p += _ERSPAN_III_SUBHEADER
        if frame_type == 2:
            if p >= end:
                anomalies.count("decode.truncated_erspan", f"frame {index}")
                return None
            kind = ETHERTYPE_IPV4 if buf[p] >> 4 == 4 else ETHERTYPE_IPV6
        elif frame_type != 0:
            anomalies.count("decode.bad_erspan_header", f"frame {index}")
            return None
    if p > end:
        anomalies.count("decode.truncated_erspan", f"frame {index}")
        return None
    return "erspan", Inner(kind, p, end, session)


def vxlan(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> Inner | None:
    """VXLAN (RFC 7348): 8 bytes with the VNI, then an Ethernet frame."""
    if off + 8 > end:
        anomalies.count("decode.truncated_vxlan", f"frame {index}")
        return None
    if not buf[off] & 0x08:  # the I flag says the VNI is valid; it must be set
        anomalies.count("decode.bad_vxlan_flags", f"frame {index}")
        return None
    return Inner(KIND_ETHERNET, off + 8, end, int.from_bytes(buf[off + 4 : off + 7], "big"))


def geneve(buf: bytes, off: int, end: int, anomalies: AnomalyCounter, index: int) -> Inner | None:
    """Geneve (RFC 8926): 8 bytes plus options, an EtherType and the VNI."""
    if off + 8 > end:
        anomalies.count("decode.truncated_geneve", f"frame {index}")
        return None
    if buf[off] >> 6 != 0:
        anomalies.count("decode.bad_geneve_header", f"frame {index}")
        return None
    p = off + 8 + (buf[off] & 0x3F) * 4
    if p > end:
        anomalies.count("decode.truncated_geneve", f"frame {index}")
        return None
    protocol = int.from_bytes(buf[off + 2 : off + 4], "big")
    vni = int.from_bytes(buf[off + 4 : off + 7], "big")
    if protocol == ETHERTYPE_TRANSPARENT_ETHERNET:
        return Inner(KIND_ETHERNET, p, end, vni)
    if protocol in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
        return Inner(protocol, p, end, vni)
    return None


def teredo(
    buf: bytes, off: int, end: int, on_port: bool, anomalies: AnomalyCounter, index: int
) -> Inner | None:
    """Teredo (RFC 4380): optional authentication and origin headers, then IPv6.

    ``on_port``: the datagram used UDP 3544. Elsewhere only a strict match is decoded, and a
    mismatch is simply not Teredo (no anomaly).
    """
    p = off
    if p + 4 <= end and buf[p] == 0 and buf[p + 1] == 1:  # authentication header
        p += 13 + buf[p + 2] + buf[p + 3]  # 4 + client id + auth value + nonce (8) + conf (1)
    if p + 2 <= end and buf[p] == 0 and buf[p + 1] == 0:  # origin indication
        p += 8
    if p + 40 > end or buf[p] >> 4 != 6:
        if on_port:
            anomalies.count("decode.bad_teredo", f"frame {index}")
        return None
    if not on_port and (
        int.from_bytes(buf[p + 4 : p + 6], "big") != end - p - 40
        or (buf[p + 8 : p + 12] != _TEREDO_PREFIX and buf[p + 24 : p + 28] != _TEREDO_PREFIX)
    ):
        return None
    return Inner(ETHERTYPE_IPV6, p, end)
