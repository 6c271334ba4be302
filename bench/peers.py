"""Peers and physical limits, measured on the same capture: ``python -m bench.peers KIND CAPTURE``.

Each peer runs as its own process (pinned like the suite) and prints JSON with the seconds of its
work loop (imports excluded), so the suite can turn it into MB/s:

* ``dpkt``: a straightforward per-packet pipeline: ``dpkt`` parses Ethernet, VLAN, IPv4/IPv6 and
  TCP, and one ``re`` pattern (resident IDs, mobiles, e-mails) runs over every payload. No
  reassembly, so it does less than egress.
* ``dpkt-parse``: the same loop without the ``re`` scan (header parsing only).
* ``scapy`` and ``pyshark``: the same loop over the first ``N`` packets only (they are 10 to
  1000 times slower); the suite extrapolates per packet to the whole capture.
* ``hyperscan``: the raw scan rate of egress's own compiled signature database over the TCP
  payload bytes of the capture (headers parsed beforehand, not timed), with a callback that only
  counts: the ceiling for detection.

``tshark --export-objects`` and ``cat`` are plain commands the suite times itself.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import time
from pathlib import Path
from typing import Any

PATTERN = re.compile(
    rb"(?<!\d)\d{17}[\dXx](?!\d)"  # resident ID shape
    rb"|(?<!\d)1[3-9]\d{9}(?!\d)"  # mainland mobile
    rb"|[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail
)


def subsample(capture: Path, out: Path, packets: int) -> int:
    """Write the first ``packets`` records of a classic pcap to ``out``; how many were written."""
    with capture.open("rb") as f:
        head = f.read(24)
        order = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        parts, count = [head], 0
        while count < packets:
            record = f.read(16)
            if len(record) < 16:
                break
            caplen = struct.unpack(order + "IIII", record)[2]
            parts.append(record + f.read(caplen))
            count += 1
    out.write_bytes(b"".join(parts))
    return count


def run_dpkt(capture: Path, scan: bool = True) -> dict[str, Any]:
    import dpkt

    packets = matches = 0
    start = time.perf_counter()
    with capture.open("rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            packets += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            tcp = ip.data
            if scan and isinstance(tcp, dpkt.tcp.TCP) and tcp.data:
                matches += sum(1 for _ in PATTERN.finditer(tcp.data))
    return {"seconds": time.perf_counter() - start, "packets": packets, "matches": matches}


def run_scapy(capture: Path) -> dict[str, Any]:
    from scapy.layers.inet import TCP
    from scapy.utils import PcapReader

    packets = matches = 0
    start = time.perf_counter()
    with PcapReader(str(capture)) as reader:
        for pkt in reader:
            packets += 1
            if TCP in pkt:
                payload = bytes(pkt[TCP].payload)
                if payload:
                    matches += sum(1 for _ in PATTERN.finditer(payload))
    return {"seconds": time.perf_counter() - start, "packets": packets, "matches": matches}


def run_pyshark(capture: Path) -> dict[str, Any]:
    import pyshark

    packets = matches = 0
    start = time.perf_counter()
    cap = pyshark.FileCapture(str(capture), keep_packets=False)
    try:
        for pkt in cap:
            packets += 1
            tcp = getattr(pkt, "tcp", None)
            raw = tcp.get_field_value("payload") if tcp is not None else None
            if raw:
                payload = bytes.fromhex(str(raw).replace(":", ""))
                matches += sum(1 for _ in PATTERN.finditer(payload))
    finally:
        cap.close()
    return {"seconds": time.perf_counter() - start, "packets": packets, "matches": matches}


def run_hyperscan(capture: Path) -> dict[str, Any]:
    import numpy as np

    from detectors.catalogue import load_catalogue
    from detectors.engine import DetectionEngine
    from sensor.anomalies import AnomalyCounter
    from sensor.capture import open_capture
    from sensor.decode.batch import BlockHeaders, supports

    # the product's compiled database and match collection (C when built), without post-work
    matcher = DetectionEngine(load_catalogue((), frozenset())).matcher
    reader = open_capture(capture, AnomalyCounter())
    if not supports(reader) or not matcher.specs:
        raise SystemExit("hyperscan peer: needs a classic Ethernet pcap and a signature set")
    buffers: list[bytes] = []
    for block in reader.blocks():
        h = BlockHeaders(block.data, block.starts, reader.byte_order, reader.ts_divisor)
        keep = np.flatnonzero(h.fast & (h.payload_len > 0))
        starts, lengths = h.payload_start[keep].tolist(), h.payload_len[keep].tolist()
        data = block.data
        buffers.append(b"".join(data[s : s + n] for s, n in zip(starts, lengths, strict=True)))
    reader.close()
    hits = 0
    start = time.perf_counter()
    for buf in buffers:
        hits += len(matcher.matches(buf))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "payload_bytes": sum(map(len, buffers)), "matches": hits}


RUNNERS = {
    "dpkt": run_dpkt,
    "dpkt-parse": lambda capture: run_dpkt(capture, scan=False),
    "scapy": run_scapy,
    "pyshark": run_pyshark,
    "hyperscan": run_hyperscan,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in RUNNERS:
        print(f"usage: python -m bench.peers {{{','.join(RUNNERS)}}} CAPTURE", file=sys.stderr)
        return 2
    json.dump(RUNNERS[args[0]](Path(args[1])), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
