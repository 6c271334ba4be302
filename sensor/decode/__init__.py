"""Decoding link, network and transport headers into TCP segments."""

from sensor.decode.packet import LINKTYPE_ETHERNET, TcpSegment, decode_tcp

__all__ = ["LINKTYPE_ETHERNET", "TcpSegment", "decode_tcp"]
