"""What decoding produces: ``TcpSegment`` and the ``Tunnel`` layers it rode in, plus TCP flags.

``decode_tcp`` is the stateless one-frame entry point kept for callers that decode single frames;
it cannot reassemble IP fragments (it counts them as ``decode.ip_fragment_not_reassembled``).
Capture processing uses ``sensor.decode.decoder.PacketDecoder``, one per capture.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.anomalies import AnomalyCounter
from sensor.decode.link import LINKTYPE_ETHERNET

__all__ = ["LINKTYPE_ETHERNET", "TcpSegment", "Tunnel", "decode_tcp"]

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10


@dataclass(frozen=True, slots=True)
class Tunnel:
    """One IP-level tunnel a segment was carried in, told apart the same way in both directions.

    The outer endpoints are sorted (``a <= b``), so a connection's two directions, which travel
    the tunnel in opposite directions, share one value and one flow. ``ident`` is the GRE key, the
    VXLAN/Geneve VNI or the ERSPAN session (-1 when there is none). Teredo records no endpoints:
    the inner addresses are global already, and the two directions may pass different relays.
    """

    kind: str  # "ip-in-ip", "gre", "erspan", "vxlan", "geneve", "teredo"
    a: str = ""
    b: str = ""
    ident: int = -1


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
    tunnel: tuple[Tunnel, ...] = ()  # outermost first; part of the flow key
    snapped: int = 0  # payload bytes the IP length announces but the capture cut off (snaplen)


def decode_tcp(
    linktype: int, frame: bytes, timestamp: float, anomalies: AnomalyCounter, frame_index: int = -1
) -> TcpSegment | None:
    """Decode one frame without fragment state; its TCP segment, or None."""
    from sensor.decode.decoder import PacketDecoder  # the decoder imports this module

    decoder = PacketDecoder(anomalies, reassemble_fragments=False)
    return decoder.decode_frame(linktype, frame, timestamp, frame_index)
