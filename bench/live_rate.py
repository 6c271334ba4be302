"""Highest tcpreplay rate ``egress sensor`` keeps up with, with zero kernel drops (root only).

    .venv/bin/python -m bench.live_rate --pcap FILE --workers 2 --mbps 10,20,50,100 --seconds 10

Builds a private veth pair between two network namespaces of its own (no addresses, nothing
routed), starts the sensor on the capture end, and for each rate replays FILE in a loop with new
addresses each loop (``--unique-ip``, so every loop is new flows, not retransmissions) for about
``--seconds``; after each step it reads the sensor's stats line and reports frames, kernel drops,
tcpreplay's achieved rate and the 1-minute load average. The ring is deliberately small (8 MiB per
socket by default) so the number measures sustained throughput, not what a large ring absorbs.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sensor.anomalies import AnomalyCounter
from sensor.capture import open_capture


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout


def _capture_size(pcap: Path) -> tuple[int, int]:
    reader = open_capture(pcap, AnomalyCounter())
    try:
        frames = [len(r.data) for r in reader]
    finally:
        reader.close()
    return len(frames), sum(frames)


def _stats(log: Path) -> dict[str, int]:
    lines = [ln for ln in log.read_text().splitlines() if "egress sensor: stats " in ln]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])} if lines else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pcap", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mbps", default="5,10,20,40,80")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ring-block-size", type=int, default=1 << 20)
    parser.add_argument("--ring-blocks", type=int, default=8)
    args = parser.parse_args()
    frames, size = _capture_size(args.pcap)
    tag = uuid.uuid4().hex[:8]
    send_ns, cap_ns, send_if, cap_if = f"egs-{tag}", f"egc-{tag}", f"egs{tag}", f"egc{tag}"
    work = Path(tempfile.mkdtemp(prefix="egress-bench-"))
    log = work / "sensor.log"
    sensor = None
    try:
        for ns in (send_ns, cap_ns):
            _sh("ip", "netns", "add", ns)
            for key in ("all", "default"):
                _sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1")  # fmt: skip
        _sh("ip", "-n", send_ns, "link", "add", send_if, "type", "veth", "peer", "name", cap_if, "netns", cap_ns)  # fmt: skip
        _sh("ip", "-n", send_ns, "link", "set", send_if, "up")
        _sh("ip", "-n", cap_ns, "link", "set", cap_if, "up")
        cmd = ["ip", "netns", "exec", cap_ns, sys.executable, "-m", "sensor.cli", "sensor"]
        cmd += ["-i", cap_if, "--workers", str(args.workers), "--out", str(work / "case")]
        cmd += ["--metrics-port", "0", "--stats-interval", "0.5"]
        cmd += ["--ring-block-size", str(args.ring_block_size), "--ring-blocks", str(args.ring_blocks)]  # fmt: skip
        with log.open("w") as err:
            sensor = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        while "capturing on" not in log.read_text():
            time.sleep(0.2)
        print(f"capture {args.pcap.name}: {frames} frames, {size} bytes per loop")
        print(f"sensor: {args.workers} worker(s), ring {args.ring_blocks} x {args.ring_block_size}")
        print("| Mbit/s asked | Mbit/s sent | frames | kernel drops | load avg 1m |")
        print("| --- | --- | --- | --- | --- |")
        for mbps in [float(x) for x in args.mbps.split(",")]:
            loops = max(1, round(mbps * 1e6 / 8 * args.seconds / size))
            before = _stats(log)
            replay = _sh(
                "ip", "netns", "exec", send_ns, "tcpreplay", "-q", "--unique-ip", f"--loop={loops}",
                f"--mbps={mbps}", "-i", send_if, str(args.pcap),
            )  # fmt: skip
            sent = re.search(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps", replay)
            expected = before.get("kernel_packets", 0) + loops * frames
            deadline = time.monotonic() + 120
            while _stats(log).get("kernel_packets", 0) < expected and time.monotonic() < deadline:
                time.sleep(0.5)
            idle = _stats(log)
            while True:  # let the workers drain the ring before the next step
                time.sleep(1.0)
                now = _stats(log)
                if now.get("packets") == idle.get("packets"):
                    break
                idle = now
            drops = now.get("kernel_drops", 0) - before.get("kernel_drops", 0)
            got = now.get("kernel_packets", 0) - before.get("kernel_packets", 0)
            load = os.getloadavg()[0]
            print(
                f"| {mbps:g} | {sent.group(1) if sent else '?'} | {got} | {drops} | {load:.2f} |",
                flush=True,
            )
    finally:
        if sensor is not None:
            sensor.send_signal(signal.SIGTERM)
            sensor.wait(timeout=120)
        for ns in (send_ns, cap_ns):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        print(f"sensor log and case folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
