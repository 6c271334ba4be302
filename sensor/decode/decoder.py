"""``PacketDecoder``: one captured record in, its TCP segment (if any) out.

The decoder walks the layers of a frame: link type (``link``), then EtherTypes, VLAN tags, MPLS
and PPPoE (``encap``), IP with its extension headers (``ip``), and through the tunnels IP carries
(IP-in-IP, IPv6-in-IPv4, GRE/ERSPAN, VXLAN, Geneve, Teredo) until it reaches TCP. It holds the
only state decoding needs: the fragment reassembler (``fragments``), one per capture. IP-level
tunnels are recorded on the segment (``TcpSegment.tunnel``) so the flow table keeps the same inner
5-tuple in two tunnels apart.

Anomalies besides the layer modules': ``decode.encap_depth_exceeded`` (more than
``MAX_ENCAP_DEPTH`` nested encapsulations), ``decode.truncated_ethernet``,
``decode.truncated_udp``, ``decode.bad_udp_length``, ``decode.truncated_tcp``,
``decode.bad_tcp_data_offset``, ``decode.nested_fragment`` (a reassembled IPv6 payload that
holds another fragment header) and ``decode.ip_fragment_not_reassembled`` (a fragment reaching a
decoder built without reassembly). Frames that are simply not TCP are no anomaly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from sensor.anomalies import AnomalyCounter
from sensor.capture.record import CaptureRecord
from sensor.decode import encap
from sensor.decode.fragments import FRAGMENT_TIMEOUT, MAX_FRAGMENT_BYTES, FragmentReassembler
from sensor.decode.ip import (
    IPPROTO_AH,
    IPPROTO_GRE,
    IPPROTO_IPIP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IpHeader,
    address,
    ipv4,
    ipv6,
    ipv6_extensions,
    skip_ah,
)
from sensor.decode.link import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_MPLS,
    ETHERTYPE_MPLS_MULTICAST,
    ETHERTYPE_PPPOE_SESSION,
    KIND_ETHERNET,
    KIND_PPP,
    VLAN_ETHERTYPES,
    skip_vlans,
    strip_link,
)
from sensor.decode.packet import TcpSegment, Tunnel

MAX_ENCAP_DEPTH = 8  # real stacks nest 2-3 (MPLS/PPPoE, a tunnel, an inner VLAN); beyond 8 the
#                      frame is crafted to make decoders loop, e.g. GRE in GRE in GRE ...

_TCP_HEADER = struct.Struct("!HHIIBB")
_UDP_HEADER = struct.Struct("!HHH")


@dataclass(slots=True)
class _Context:
    """What one record's walk collects on the way down."""

    timestamp: float
    index: int
    vlans: list[int] = field(default_factory=list)
    tunnels: list[Tunnel] = field(default_factory=list)
    depth: int = 0
    cut: int = 0  # bytes of the frame the capture did not keep (wire length - captured length)

    @property
    def where(self) -> str:
        """The anomaly example: built only when something is counted."""
        return f"frame {self.index}"


UdpHandler = Callable[[str, str, int, int, bytes], bool]  # True: the datagram was consumed


class PacketDecoder:
    """Decodes the records of one capture; keeps IP fragments until their datagram completes."""

    def __init__(
        self,
        anomalies: AnomalyCounter,
        *,
        reassemble_fragments: bool = True,
        fragment_timeout: float = FRAGMENT_TIMEOUT,
        max_fragment_bytes: int = MAX_FRAGMENT_BYTES,
        on_udp: UdpHandler | None = None,
    ) -> None:
        self._anomalies = anomalies
        self._on_udp = on_udp  # datagrams that are not tunnels (DNS answers, for names)
        self.fragments = (
            FragmentReassembler(anomalies, fragment_timeout, max_fragment_bytes)
            if reassemble_fragments
            else None
        )

    def decode(self, record: CaptureRecord) -> TcpSegment | None:
        """The record's TCP segment (a whole datagram's, for the last missing fragment), or None."""
        cut = max(record.wire_length - len(record.data), 0)
        return self.decode_frame(record.linktype, record.data, record.timestamp, record.index, cut)

    def decode_frame(
        self, linktype: int, frame: bytes, timestamp: float, frame_index: int = -1, cut: int = 0
    ) -> TcpSegment | None:
        """``decode`` for a frame given by its parts; ``cut`` is how many bytes of the frame the
        capture's snap length dropped (an IP length beyond the frame is only believed that far)."""
        fragments = self.fragments
        if fragments is not None and timestamp > fragments.next_expiry:
            fragments.expire(timestamp)
        ctx = _Context(timestamp, frame_index, cut=cut)
        start = strip_link(linktype, frame, self._anomalies, frame_index)
        if start is None:
            return None
        kind, off, end = start
        return self._walk(ctx, kind, frame, off, end)

    def finish(self) -> None:
        """End of the capture: count datagrams still missing fragments."""
        if self.fragments is not None:
            self.fragments.finish()

    # -- layers -----------------------------------------------------------------------------

    def _walk(self, ctx: _Context, kind: int, buf: bytes, off: int, end: int) -> TcpSegment | None:
        """Decode from a link-level ``kind`` (Ethernet, an EtherType or PPP) down to TCP."""
        anomalies = self._anomalies
        while True:
            if kind == KIND_ETHERNET:
                if end - off < 14:
                    anomalies.count("decode.truncated_ethernet", ctx.where)
                    return None
                kind = int.from_bytes(buf[off + 12 : off + 14], "big")
                off += 14
            if kind in VLAN_ETHERTYPES:
                tagged = skip_vlans(kind, buf, off, end, ctx.vlans, anomalies, ctx.index)
                if tagged is None:
                    return None
                kind, off = tagged
            if kind in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
                return self._ip(ctx, kind == ETHERTYPE_IPV6, buf, off, end)
            if kind == KIND_PPP:
                inner = encap.ppp(buf, off, end, anomalies, ctx.index)
            elif kind in (ETHERTYPE_MPLS, ETHERTYPE_MPLS_MULTICAST):
                if not self._deeper(ctx):
                    return None
                inner = encap.mpls(buf, off, end, anomalies, ctx.index)
            elif kind == ETHERTYPE_PPPOE_SESSION:
                if not self._deeper(ctx):
                    return None
                inner = encap.pppoe(buf, off, end, anomalies, ctx.index)
            else:
                return None  # ARP, LLDP, ...: not IP
            if inner is None:
                return None
            kind, off, end = inner.kind, inner.off, inner.end

    def _ip(self, ctx: _Context, v6: bool, buf: bytes, off: int, end: int) -> TcpSegment | None:
        """An IP packet: reassemble if it is a fragment, then hand its payload to the transport."""
        anomalies = self._anomalies
        header = (ipv6 if v6 else ipv4)(buf, off, end, anomalies, ctx.index)
        if header is None:
            return None
        if header.fragment:
            whole = self._reassemble(ctx, header, buf)
            if whole is None:
                return None
            proto, buf = whole
            header.proto, header.payload, header.end = proto, 0, len(buf)
            header.fragment = False
            if v6 and not ipv6_extensions(header, buf, anomalies, ctx.index):
                return None
            if header.fragment:  # the rebuilt payload holds another fragment header
                anomalies.count("decode.nested_fragment", ctx.where)
                return None
        return self._transport(ctx, header, buf)

    def _reassemble(self, ctx: _Context, header: IpHeader, buf: bytes) -> tuple[int, bytes] | None:
        if self.fragments is None:
            self._anomalies.count("decode.ip_fragment_not_reassembled", ctx.where)
            return None
        if header.truncated:
            return None  # the capture cut it; counted as ip_length_exceeds_capture
        key = (
            header.version,
            header.src,
            header.dst,
            header.frag_ident,
            header.proto if header.version == 4 else -1,  # IPv6 keys on (src, dst, id) only
            (tuple(ctx.vlans), tuple(ctx.tunnels)),
        )
        return self.fragments.add(
            key,
            ctx.timestamp,
            header.frag_offset,
            header.frag_more,
            buf[header.payload : header.end],
            header.proto,
            header.header_len,
            ctx.where,
        )

    def _transport(self, ctx: _Context, header: IpHeader, buf: bytes) -> TcpSegment | None:
        """The upper-layer protocol: TCP is the goal; tunnels lead back into ``_walk``/``_ip``."""
        proto, p, end = header.proto, header.payload, header.end
        if proto == IPPROTO_AH:  # over IPv4; IPv6 skipped it with the extension headers
            proto, p = skip_ah(buf, p, end, self._anomalies, ctx.index)
        if proto == IPPROTO_TCP:
            return self._tcp(ctx, header, buf, p, end)
        if proto == IPPROTO_UDP:
            return self._udp(ctx, header, buf, p, end)
        if proto in (IPPROTO_IPIP, IPPROTO_IPV6):
            if not self._enter(ctx, Tunnel("ip-in-ip", *_endpoints(header))):
                return None
            return self._ip(ctx, proto == IPPROTO_IPV6, buf, p, end)
        if proto == IPPROTO_GRE:
            found = encap.gre(buf, p, end, self._anomalies, ctx.index)
            if found is None:
                return None
            kind, inner = found
            if not self._enter(ctx, Tunnel(kind, *_endpoints(header), inner.ident)):
                return None
            return self._walk(ctx, inner.kind, buf, inner.off, inner.end)
        return None

    def _udp(
        self, ctx: _Context, header: IpHeader, buf: bytes, p: int, end: int
    ) -> TcpSegment | None:
        """UDP matters only as a tunnel: VXLAN, Geneve, Teredo."""
        anomalies = self._anomalies
        if end - p < 8:
            anomalies.count("decode.truncated_udp", ctx.where)
            return None
        sport, dport, length = _UDP_HEADER.unpack_from(buf, p)
        if length < 8:
            anomalies.count("decode.bad_udp_length", ctx.where)
            return None
        if p + length > end:
            anomalies.count("decode.bad_udp_length", ctx.where)
        else:
            end = p + length
        p += 8
        if self._on_udp is not None and self._on_udp(
            address(header.src), address(header.dst), sport, dport, bytes(buf[p:end])
        ):
            return None
        if dport in encap.UDP_PORTS_VXLAN:
            inner = encap.vxlan(buf, p, end, anomalies, ctx.index)
            kind = "vxlan"
        elif dport == encap.UDP_PORT_GENEVE:
            inner = encap.geneve(buf, p, end, anomalies, ctx.index)
            kind = "geneve"
        else:
            on_port = encap.UDP_PORT_TEREDO in (sport, dport)
            inner = encap.teredo(buf, p, end, on_port, anomalies, ctx.index)
            if inner is None or not self._enter(ctx, Tunnel("teredo")):
                return None
            return self._ip(ctx, True, buf, inner.off, end)
        if inner is None or not self._enter(ctx, Tunnel(kind, *_endpoints(header), inner.ident)):
            return None
        return self._walk(ctx, inner.kind, buf, inner.off, inner.end)

    def _tcp(
        self, ctx: _Context, header: IpHeader, buf: bytes, p: int, end: int
    ) -> TcpSegment | None:
        if end - p < 20:
            self._anomalies.count("decode.truncated_tcp", ctx.where)
            return None
        sport, dport, seq, ack, data_offset, flags = _TCP_HEADER.unpack_from(buf, p)
        header_len = (data_offset >> 4) * 4
        if header_len < 20 or p + header_len > end:
            self._anomalies.count("decode.bad_tcp_data_offset", ctx.where)
            return None
        return TcpSegment(
            ctx.timestamp,
            address(header.src),
            address(header.dst),
            sport,
            dport,
            seq,
            ack,
            flags,
            bytes(buf[p + header_len : end]),
            tuple(ctx.vlans),
            ctx.index,
            tuple(ctx.tunnels),
            min(header.snapped, ctx.cut),  # a lying IP length claims bytes nobody sent
        )

    # -- nesting ----------------------------------------------------------------------------

    def _deeper(self, ctx: _Context) -> bool:
        """One more encapsulation; False (and counted) past ``MAX_ENCAP_DEPTH``."""
        ctx.depth += 1
        if ctx.depth > MAX_ENCAP_DEPTH:
            self._anomalies.count("decode.encap_depth_exceeded", ctx.where)
            return False
        return True

    def _enter(self, ctx: _Context, tunnel: Tunnel) -> bool:
        if not self._deeper(ctx):
            return False
        ctx.tunnels.append(tunnel)
        return True


def _endpoints(header: IpHeader) -> tuple[str, str]:
    """The outer addresses, sorted so both directions of the tunnel give the same pair."""
    a, b = address(header.src), address(header.dst)
    return (a, b) if a <= b else (b, a)
