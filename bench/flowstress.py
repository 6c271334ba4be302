"""Flow-table stress captures: a million concurrent flows, and a SYN flood.

Both are built with numpy structured arrays (one row per packet, fixed layout: pcap record header,
Ethernet, IPv4 without options, TCP without options, optional payload), so a million flows take
seconds to write. IPv4 header checksums are real; TCP checksums are left zero (egress does not
validate them by default, and no checksum-validating peer reads these files).

* ``million_flows``: ``flows`` client connections to one server, all opened before any
  finishes: every SYN, then every SYN-ACK, then every client ACK carrying a small HTTP GET.
  With the default ``limits.max_flows`` (100,000) the table must evict and stay bounded.
* ``syn_flood``: ``flows`` SYNs from random addresses and ports to one server port, none
  answered: each one is a new flow.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.traffic.tcp_session import LINKTYPE_ETHERNET, PCAP_MAGIC_US

SERVER_IP = 0x3F0A141E  # 63.10.20.30 (US), as in the sample
START_SECONDS = 1_700_000_000
GET = b"GET / HTTP/1.1\r\nHost: 63.10.20.30\r\n\r\n"

_FIELDS: list[tuple[str, str]] = [
    ("ts_sec", "<u4"),
    ("ts_usec", "<u4"),
    ("caplen", "<u4"),
    ("wirelen", "<u4"),
    ("dst_mac", "V6"),
    ("src_mac", "V6"),
    ("ethertype", ">u2"),
    ("ver_ihl", "u1"),
    ("tos", "u1"),
    ("total", ">u2"),
    ("ident", ">u2"),
    ("frag", ">u2"),
    ("ttl", "u1"),
    ("proto", "u1"),
    ("ip_sum", ">u2"),
    ("src", ">u4"),
    ("dst", ">u4"),
    ("sport", ">u2"),
    ("dport", ">u2"),
    ("seq", ">u4"),
    ("ack", ">u4"),
    ("offset", "u1"),
    ("flags", "u1"),
    ("window", ">u2"),
    ("tcp_sum", ">u2"),
    ("urgent", ">u2"),
]


def _packets(n: int, payload: bytes = b"") -> npt.NDArray[np.void]:
    fields = list(_FIELDS)
    if payload:
        fields.append(("payload", f"V{len(payload)}"))
    rows = np.zeros(n, dtype=np.dtype(fields))
    rows["caplen"] = rows["wirelen"] = 54 + len(payload)
    rows["ethertype"] = 0x0800
    rows["ver_ihl"] = 0x45
    rows["total"] = 40 + len(payload)
    rows["frag"] = 0x4000
    rows["ttl"] = 64
    rows["proto"] = 6
    rows["offset"] = 5 << 4
    rows["window"] = 64240
    if payload:
        rows["payload"] = np.void(payload)
    return rows


def _finish(rows: npt.NDArray[np.void], first_usec: int) -> bytes:
    """Timestamps one microsecond apart and IPv4 header checksums; the records as bytes."""
    micros = first_usec + np.arange(len(rows), dtype=np.int64)
    rows["ts_sec"] = START_SECONDS + micros // 1_000_000
    rows["ts_usec"] = micros % 1_000_000
    raw = rows.view(np.uint8).reshape(len(rows), -1)
    words = raw[:, 30:50].copy().view(">u2").astype(np.uint32).sum(axis=1)
    words = (words & 0xFFFF) + (words >> 16)
    words = (words & 0xFFFF) + (words >> 16)
    rows["ip_sum"] = (~words) & 0xFFFF
    return rows.tobytes()


def _header() -> bytes:
    return np.array(
        [PCAP_MAGIC_US, 0x00040002, 0, 0, 65535, LINKTYPE_ETHERNET], dtype="<u4"
    ).tobytes()


def million_flows(path: Path, flows: int, seed: int = 1) -> int:
    """Write the concurrent-flows capture; returns the number of packets."""
    rng = np.random.default_rng(seed)
    index = np.arange(flows, dtype=np.int64)
    client = (0x0A000001 + index // 50_000).astype(np.uint32)  # 50,000 ports per client address
    ports = (1024 + index % 50_000).astype(np.uint16)
    client_isn = rng.integers(0, 1 << 32, flows, dtype=np.uint64).astype(np.uint32)
    server_isn = rng.integers(0, 1 << 32, flows, dtype=np.uint64).astype(np.uint32)
    with path.open("wb") as out:
        out.write(_header())
        usec = 0
        for phase in ("syn", "synack", "get"):
            rows = _packets(flows, GET if phase == "get" else b"")
            rows["ident"] = index & 0xFFFF
            if phase == "synack":
                rows["src"], rows["dst"] = SERVER_IP, client
                rows["sport"], rows["dport"] = 80, ports
                rows["seq"], rows["ack"] = server_isn, client_isn + np.uint32(1)
                rows["flags"] = 0x12
            else:
                rows["src"], rows["dst"] = client, SERVER_IP
                rows["sport"], rows["dport"] = ports, 80
                if phase == "syn":
                    rows["seq"], rows["flags"] = client_isn, 0x02
                else:
                    rows["seq"] = client_isn + np.uint32(1)
                    rows["ack"] = server_isn + np.uint32(1)
                    rows["flags"] = 0x18
            out.write(_finish(rows, usec))
            usec += flows
    return 3 * flows


def syn_flood(path: Path, flows: int, seed: int = 2) -> int:
    """Write the SYN flood capture; returns the number of packets."""
    rng = random.Random(seed)
    rows = _packets(flows)
    gen = np.random.default_rng(rng.getrandbits(32))
    rows["src"] = gen.integers(0x01000000, 0xDF000000, flows, dtype=np.uint64).astype(np.uint32)
    rows["dst"] = SERVER_IP
    rows["sport"] = gen.integers(1024, 65536, flows, dtype=np.uint64).astype(np.uint16)
    rows["dport"] = 80
    rows["seq"] = gen.integers(0, 1 << 32, flows, dtype=np.uint64).astype(np.uint32)
    rows["flags"] = 0x02
    rows["ident"] = gen.integers(0, 1 << 16, flows, dtype=np.uint64).astype(np.uint16)
    with path.open("wb") as out:
        out.write(_header())
        out.write(_finish(rows, 0))
    return flows
