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


def _block(block_type: int, body: bytes, order: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def pcapng_section(order: str = "<") -> bytes:
    return _block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def pcapng_interface(linktype: int = 1, tsresol: int | None = None, order: str = "<") -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, 65535)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3
        body += struct.pack(order + "HH", 0, 0)
    return _block(1, body, order)


def pcapng_epb(data: bytes, interface: int = 0, ticks: int = 0, order: str = "<") -> bytes:
    header = struct.pack(
        order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return _block(6, header + data, order)


def pcapng_spb(data: bytes, order: str = "<") -> bytes:
    return _block(3, struct.pack(order + "I", len(data)) + data, order)


def pcapng_name_resolution(order: str = "<") -> bytes:
    return _block(4, struct.pack(order + "HH", 0, 0), order)


def tcp_dialogue(
    client: tuple[str, int],
    server: tuple[str, int],
    messages: list[tuple[bool, bytes]],
    segment: int = 1400,
) -> bytes:
    """A classic pcap of one TCP connection: handshake, each (from_client, bytes) message cut into
    ``segment``-byte segments with running sequence numbers, then FINs from both sides."""
    (cip, cport), (sip, sport) = client, server
    seq = {True: 100, False: 500}
    frames = [
        ethernet_ipv4_tcp(cip, sip, cport, sport, 99, 0x02),
        ethernet_ipv4_tcp(sip, cip, sport, cport, 499, 0x12),
    ]
    for from_client, data in messages:
        src, dst, sp, dp = (cip, sip, cport, sport) if from_client else (sip, cip, sport, cport)
        for at in range(0, len(data), segment):
            piece = data[at : at + segment]
            frames.append(ethernet_ipv4_tcp(src, dst, sp, dp, seq[from_client], 0x18, piece))
            seq[from_client] += len(piece)
    frames += [
        ethernet_ipv4_tcp(cip, sip, cport, sport, seq[True], 0x11),
        ethernet_ipv4_tcp(sip, cip, sport, cport, seq[False], 0x11),
    ]
    return global_header() + b"".join(
        record(f, ts=1_700_000_000, frac=i) for i, f in enumerate(frames)
    )
