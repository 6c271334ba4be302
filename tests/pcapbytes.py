"""Tiny classic-pcap byte builders for reader tests that need malformed files."""

from __future__ import annotations

import struct


def global_header(
    order: str = "<", nanos: bool = False, snaplen: int = 65535, linktype: int = 1
) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def record(
    data: bytes, ts: int = 1_700_000_000, frac: int = 0, order: str = "<", caplen: int | None = None
) -> bytes:
    length = len(data) if caplen is None else caplen
    return struct.pack(order + "IIII", ts, frac, length, len(data)) + data


def ethernet_ipv4_tcp(
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    sport: int = 40000,
    dport: int = 80,
    seq: int = 1,
    flags: int = 0x18,
    payload: bytes = b"",
    vlan: int | None = None,
) -> bytes:
    """A minimal Ethernet/IPv4/TCP frame (checksums left zero: the sensor does not check them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(tcp),
        1,
        0,
        64,
        6,
        0,
        bytes(int(x) for x in src.split(".")),
        bytes(int(x) for x in dst.split(".")),
    )
    eth = b"\x02" * 6 + b"\x04" * 6
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    return eth + b"\x08\x00" + ip + tcp
