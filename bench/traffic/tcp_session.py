"""Crafted TCP/IPv4-over-Ethernet sessions and a byte-for-byte reproducible pcap writer.

Real captures are messy in specific ways: segments are retransmitted, arrive out of order, and
sequence numbers wrap at 2^32. Tests of the reassembler and of the whole sensor need those cases
on demand and with known content, so this module builds one complete session (handshake, client
data cut at an MSS, server response, FIN teardown) with exactly the disorder asked for.

Packets are built with scapy (which fills in lengths and checksums) and kept as raw bytes with
integer microsecond timestamps, so the same arguments always give identical pcap bytes. Nothing
is ever sent: this only builds frames in memory and writes files.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

SEQ_MOD = 1 << 32
LINKTYPE_ETHERNET = 1
PCAP_MAGIC_US = 0xA1B2C3D4

FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


@dataclass(frozen=True)
class Frame:
    """One captured frame: Ethernet bytes, capture time, and a note for humans and tests."""

    timestamp_us: int
    data: bytes
    note: str

    @property
    def time(self) -> float:
        return self.timestamp_us / 1_000_000


def split_segments(payload: bytes, mss: int) -> list[bytes]:
    """Cut ``payload`` into MSS-sized pieces (the last may be shorter)."""
    if mss <= 0:
        raise ValueError("mss must be positive")
    return [payload[i : i + mss] for i in range(0, len(payload), mss)]


def send_order(count: int, swap: Iterable[tuple[int, int]]) -> list[int]:
    """Segment indices in the order they go on the wire after applying the position swaps."""
    order = list(range(count))
    for a, b in swap:
        if not (0 <= a < count and 0 <= b < count):
            raise ValueError(f"swap ({a}, {b}) outside segments 0..{count - 1}")
        order[a], order[b] = order[b], order[a]
    return order


class _Builder:
    """Keeps the per-direction IP ids and the clock while frames are appended in wire order."""

    def __init__(
        self,
        client: tuple[str, str, int],
        server: tuple[str, str, int],
        start_us: int,
        step_us: int,
    ) -> None:
        self.client, self.server = client, server
        self.clock_us, self.step_us = start_us, step_us
        self.ip_id = {True: 1, False: 1}
        self.frames: list[Frame] = []

    def add(
        self,
        from_client: bool,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes = b"",
        note: str = "",
        options: Sequence[tuple[str, int]] = (),
    ) -> None:
        (smac, sip, sport), (dmac, dip, dport) = (
            (self.client, self.server) if from_client else (self.server, self.client)
        )
        packet = (
            Ether(src=smac, dst=dmac)
            / IP(
                src=sip,
                dst=dip,
                id=self.ip_id[from_client],
                flags="DF",
                ttl=64 if from_client else 52,
            )
            / TCP(
                sport=sport,
                dport=dport,
                seq=seq % SEQ_MOD,
                ack=(ack % SEQ_MOD) if flags & ACK else 0,
                flags=flags,
                window=64240 if from_client else 65160,
                options=list(options),
            )
        )
        if payload:
            packet = packet / Raw(load=payload)
        self.ip_id[from_client] = (self.ip_id[from_client] + 1) & 0xFFFF
        self.frames.append(Frame(self.clock_us, bytes(packet), note))
        self.clock_us += self.step_us


def tcp_session(
    client_payload: bytes,
    server_payload: bytes = b"",
    *,
    mss: int = 536,
    retransmit: Iterable[int] = (),
    swap: Iterable[tuple[int, int]] = (),
    start_time: float = 1_700_000_000.0,
    time_step: float = 0.001,
    client_mac: str = "02:00:0a:14:1e:28",
    server_mac: str = "02:00:00:00:00:fe",
    client_ip: str = "10.20.30.40",
    server_ip: str = "63.10.20.30",
    client_port: int = 50001,
    server_port: int = 80,
    client_isn: int = 1_000_000,
    server_isn: int = 2_000_000,
) -> list[Frame]:
    """All frames of one TCP session, in wire order, with timestamps ``start_time + k*time_step``.

    ``client_payload`` is cut into ``mss``-byte segments numbered 0..n-1. ``swap`` exchanges the
    wire positions of pairs of segments (out-of-order delivery); ``retransmit`` lists segment
    numbers sent a second time, same sequence number and bytes, after all client data (a spurious
    retransmission). The server acknowledges every client segment cumulatively (duplicate ACKs
    while a hole is open), then sends ``server_payload`` cut at the same MSS; the client closes
    with FIN/ACK, the server answers FIN/ACK and the client's last ACK ends the session.
    ISNs may be anything in 0..2^32-1; sequence numbers wrap modulo 2^32.
    """
    if not (0 <= client_isn < SEQ_MOD and 0 <= server_isn < SEQ_MOD):
        raise ValueError("initial sequence numbers must be in 0..2^32-1")
    segments = split_segments(client_payload, mss)
    order = send_order(len(segments), swap)
    resend = list(retransmit)
    for index in resend:
        if not 0 <= index < len(segments):
            raise ValueError(f"retransmit index {index} outside segments 0..{len(segments) - 1}")

    start_us = round(start_time * 1_000_000)
    step_us = round(time_step * 1_000_000)
    b = _Builder(
        (client_mac, client_ip, client_port),
        (server_mac, server_ip, server_port),
        start_us,
        step_us,
    )
    c_seq, s_seq = client_isn + 1, server_isn + 1  # first data byte of each direction

    b.add(True, SYN, client_isn, 0, note="syn", options=[("MSS", mss)])
    b.add(False, SYN | ACK, server_isn, c_seq, note="syn-ack", options=[("MSS", 1460)])
    b.add(True, ACK, c_seq, s_seq, note="ack")

    offsets = [i * mss for i in range(len(segments))]
    received: set[int] = set()

    def contiguous_end() -> int:
        end = 0
        for i in range(len(segments)):
            if i not in received:
                break
            end = offsets[i] + len(segments[i])
        return end

    last = len(segments) - 1
    for note, index in [
        *((f"client data {i}", i) for i in order),
        *((f"retransmit {i}", i) for i in resend),
    ]:
        flags = PSH | ACK if index == last else ACK
        b.add(True, flags, c_seq + offsets[index], s_seq, segments[index], note)
        received.add(index)
        b.add(False, ACK, s_seq, c_seq + contiguous_end(), note=f"server ack after {note}")

    c_end = c_seq + len(client_payload)
    for i, piece in enumerate(reply := split_segments(server_payload, mss)):
        flags = PSH | ACK if i == len(reply) - 1 else ACK
        b.add(False, flags, s_seq + i * mss, c_end, piece, f"server data {i}")
        b.add(True, ACK, c_end, s_seq + i * mss + len(piece), note=f"client ack of server data {i}")

    s_end = s_seq + len(server_payload)
    b.add(True, FIN | ACK, c_end, s_end, note="client fin")
    b.add(False, FIN | ACK, s_end, c_end + 1, note="server fin")
    b.add(True, ACK, c_end + 1, s_end + 1, note="last ack")
    return b.frames


def pcap_bytes(frames: Iterable[Frame], snaplen: int = 65535) -> bytes:
    """A classic little-endian, microsecond-resolution pcap with linktype Ethernet (1)."""
    out = bytearray(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))
    for frame in frames:
        seconds, micros = divmod(frame.timestamp_us, 1_000_000)
        captured = frame.data[:snaplen]
        out += struct.pack("<IIII", seconds, micros, len(captured), len(frame.data))
        out += captured
    return bytes(out)


def write_pcap(path: str | Path, packets: Iterable[Frame], snaplen: int = 65535) -> int:
    """Write ``packets`` as a classic pcap (see :func:`pcap_bytes`); returns the file size."""
    data = pcap_bytes(packets, snaplen)
    Path(path).write_bytes(data)
    return len(data)
