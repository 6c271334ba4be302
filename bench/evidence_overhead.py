"""What keeping evidence costs an offline audit: the same capture audited with and without it.

    .venv/bin/python -m bench.evidence_overhead --copies 2000

builds a capture of COPIES copies of the bundled sample (each copy on its own client address and
ports, 5 s apart, so every copy is a separate set of flows: 3 alerts per copy, an alert-heavy
worst case for the second pass), audits it with the evidence store on and off, and prints wall
and CPU seconds (children's user+system) for each. Numbers vary with machine load; compare CPU.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import dpkt

from tests.cli import egress_command

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


def build_capture(path: Path, copies: int) -> None:
    with SAMPLE.open("rb") as f:
        records = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]
    with path.open("wb") as out:
        writer = dpkt.pcap.Writer(out)
        for i in range(copies):
            client = bytes([10, 20, (i >> 8) & 255, i & 255])
            for ts, buf in records:
                eth = dpkt.ethernet.Ethernet(buf)
                ip, tcp = eth.data, eth.data.data
                if tcp.sport >= 50000:
                    tcp.sport = 10000 + (i * 8 + tcp.sport - 50000) % 50000
                    ip.src = client
                if tcp.dport >= 50000:
                    tcp.dport = 10000 + (i * 8 + tcp.dport - 50000) % 50000
                    ip.dst = client
                tcp.sum = ip.sum = ip.len = 0  # recomputed when packed
                writer.writepkt(bytes(eth), ts + i * 5)


def timed(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([*egress_command(), *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        capture = work / "big.pcap"
        build_capture(capture, ns.copies)
        off = work / "off.yaml"
        off.write_text("evidence:\n  enabled: false\n")
        print(f"capture: {capture.stat().st_size / 1e6:.1f} MB, {ns.copies * 3} alerts expected")
        for n in range(ns.rounds):
            for label, extra in (("evidence on ", []), ("evidence off", ["--config", str(off)])):
                out = work / f"case-{n}-{label.strip().replace(' ', '-')}"
                wall, cpu = timed([*extra, "audit", str(capture), "--out", str(out), "--quiet"])
                print(f"{label}: {wall:6.2f} s wall, {cpu:6.2f} s cpu")


if __name__ == "__main__":
    main()
