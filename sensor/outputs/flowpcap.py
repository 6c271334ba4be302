"""The packets of alerted flows, found by a second pass over the capture.

Keeping every packet of every flow in case it later alerts would tax the hot path and memory for
the few flows that do. An offline audit can read its input twice instead: the first pass notes the
alerted flows' keys (the canonical address/port pair) and time span; after it, ``collect_flows``
re-reads the capture with the same reader and decoder and keeps only the frames of those flows,
which ``pcap_bytes`` writes as a small classic pcap per flow.

Limits: ``max_bytes_per_flow`` caps one flow's pcap (``evidence.pcap_truncated`` when hit). A
segment rebuilt from IP fragments is represented by its last fragment's frame only. Flows that
differ only by VLAN or tunnel and overlap in time on the same address pair would be merged.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sensor.anomalies import AnomalyCounter
from sensor.capture import CaptureRecord, open_capture
from sensor.decode.decoder import PacketDecoder
from sensor.decode.link import LINKTYPE_ETHERNET

PCAP_SNAPLEN = 262_144
Endpoints = tuple[str, int, str, int]


def canonical(ip_a: str, port_a: int, ip_b: str, port_b: int) -> Endpoints:
    """The same key for both directions of a connection."""
    low, high = sorted([(ip_a, port_a), (ip_b, port_b)])
    return (low[0], low[1], high[0], high[1])


@dataclass
class FlowPackets:
    """One alerted flow: how to recognise its frames, and the frames found."""

    uid: str
    endpoints: Endpoints
    start: float = float("-inf")
    end: float = float("inf")
    records: list[CaptureRecord] = field(default_factory=list)
    captured_bytes: int = 0
    truncated: bool = False


def _port_pairs(by_key: dict[Endpoints, list[FlowPackets]]) -> frozenset[bytes]:
    """The 4 bytes (source port, destination port) a TCP header of a wanted flow starts with."""
    pairs = set()
    for _a, port_a, _b, port_b in by_key:
        pairs.add(struct.pack("!HH", port_a, port_b))
        pairs.add(struct.pack("!HH", port_b, port_a))
    return frozenset(pairs)


def _ports_at(data: bytes) -> bytes | None:
    """The port bytes of a plain Ethernet (one optional VLAN tag) IPv4-without-options or IPv6
    TCP frame; None for anything else, which is then decoded in full."""
    at = 12
    if data[at : at + 2] == b"\x81\x00":
        at += 4
    kind = data[at : at + 2]
    if kind == b"\x08\x00" and len(data) > at + 11 and data[at + 2] == 0x45 and data[at + 11] == 6:
        if data[at + 8 : at + 10] not in (b"\x00\x00", b"\x40\x00"):
            return None  # a fragment: decode, the decoder reassembles
        return data[at + 22 : at + 26]
    if kind == b"\x86\xdd" and len(data) > at + 8 and data[at + 8] == 6:
        return data[at + 42 : at + 46]
    return None


def collect_flows(
    path: Path, flows: Iterable[FlowPackets], anomalies: AnomalyCounter, max_bytes_per_flow: int
) -> None:
    """Second pass over ``path``: append each wanted flow's frames to its ``records``.

    The pass decodes with its own anomaly counter (the first pass already counted the capture's
    anomalies); only evidence limits are counted in ``anomalies``.
    """
    by_key: dict[Endpoints, list[FlowPackets]] = {}
    for flow in flows:
        by_key.setdefault(flow.endpoints, []).append(flow)
    if not by_key:
        return
    scratch = AnomalyCounter()
    reader = open_capture(path, scratch)
    decoder = PacketDecoder(scratch)
    wanted = _port_pairs(by_key)
    try:
        for record in reader:
            ports = _ports_at(record.data) if record.linktype == LINKTYPE_ETHERNET else None
            if ports is not None and ports not in wanted:
                continue  # a plain TCP frame of another connection: no need to decode it
            seg = decoder.decode(record)
            if seg is None:
                continue
            candidates = by_key.get(canonical(seg.src, seg.sport, seg.dst, seg.dport))
            if not candidates:
                continue
            for flow in candidates:
                if flow.start <= seg.timestamp <= flow.end:
                    if flow.captured_bytes + len(record.data) > max_bytes_per_flow:
                        if not flow.truncated:
                            flow.truncated = True
                            anomalies.count("evidence.pcap_truncated", flow.uid)
                        break
                    flow.records.append(record)
                    flow.captured_bytes += len(record.data)
                    break
    finally:
        reader.close()


def pcap_bytes(records: list[CaptureRecord]) -> bytes:
    """A classic little-endian microsecond pcap of ``records`` (all of the first one's link type)."""
    linktype = records[0].linktype if records else 1
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, PCAP_SNAPLEN, linktype)]
    for record in records:
        if record.linktype != linktype:
            continue  # a pcap holds one link type; mixed-link flows are counted by the caller
        micros = round(record.timestamp * 1_000_000)
        sec, usec = divmod(micros, 1_000_000)
        data = record.data
        parts.append(struct.pack("<IIII", sec, usec, len(data), max(record.wire_length, len(data))))
        parts.append(data)
    return b"".join(parts)
