"""Decoding captured frames into TCP segments.

``PacketDecoder`` (``decoder.py``) is the entry point, one per capture: ``decode(record)`` walks the
link type (``link.py``), the encapsulations below and above IP (``encap.py``: VLAN, MPLS, PPPoE,
GRE/ERSPAN, VXLAN, Geneve, Teredo), IPv4/IPv6 with extension headers (``ip.py``) and rebuilds
fragmented datagrams (``fragments.py``), returning a ``TcpSegment`` (``packet.py``) or None.
Every module is a pure function over ``bytes`` and offsets except the fragment reassembler, whose
state is bounded and timed on the capture clock. Bad headers are counted ``decode.*`` anomalies.
"""

from sensor.decode.decoder import PacketDecoder
from sensor.decode.packet import LINKTYPE_ETHERNET, TcpSegment, Tunnel, decode_tcp

__all__ = ["LINKTYPE_ETHERNET", "PacketDecoder", "TcpSegment", "Tunnel", "decode_tcp"]
