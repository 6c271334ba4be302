"""``python -m sensor.live.probe -i IF``: count what the AF_PACKET ring delivers, nothing more.

A diagnostic for ring sizing and filters (and the live-capture tests): it opens the same capture
as a sensor worker, prints ``ready`` on stderr once the sockets are bound, reads until ``--count``
frames, ``--idle`` seconds without frames (after the first) or ``--max-seconds``, and prints one
JSON document: frame and byte counts, the kernel's counters, and with ``--frames`` the sha256,
VLAN id and lengths of every frame in arrival order, and the tag the kernel had stripped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time
from typing import Any

from sensor.capture.afpacket import AfPacketCapture, RingConfig
from sensor.errors import EgressError


def _vlan(data: bytes) -> int | None:
    if len(data) >= 16 and data[12:14] in (b"\x81\x00", b"\x88\xa8"):
        return int(struct.unpack_from("!H", data, 14)[0]) & 0x0FFF
    return None


def probe(args: argparse.Namespace) -> dict[str, Any]:
    capture = AfPacketCapture(
        args.interface,
        RingConfig(args.block_size, args.blocks, args.block_timeout_ms),
        promiscuous=True,
        bpf=args.bpf,
    )
    print("ready", file=sys.stderr, flush=True)
    frames: list[dict[str, Any]] = []
    start = last = time.monotonic()
    try:
        while True:
            got = False
            for batch in capture.blocks(0.05):
                got = True
                if args.frames:
                    columns = zip(
                        batch.records(),
                        batch.caplens.tolist(),
                        batch.vlan_tpid.tolist(),
                        strict=True,
                    )
                    frames.extend(
                        {
                            "sha256": hashlib.sha256(r.data).hexdigest(),
                            "vlan": _vlan(r.data),
                            "wire_length": r.wire_length,
                            "kernel_caplen": caplen,  # as delivered, without a stripped tag
                            "stripped_tpid": tpid,
                        }
                        for r, caplen, tpid in columns
                    )
            now = time.monotonic()
            if got:
                last = now
            if args.count and capture.packets >= args.count:
                break
            if capture.packets and now - last >= args.idle:
                break
            if now - start >= args.max_seconds:
                break
        stats = capture.update_stats()
    finally:
        capture.close()
    return {
        "packets": capture.packets,
        "bytes": capture.bytes,
        "kernel": {"packets": stats.packets, "drops": stats.drops, "freezes": stats.freezes},
        "frames": frames,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sensor.live.probe", description=__doc__)
    parser.add_argument("-i", "--interface", action="append", required=True)
    parser.add_argument("--bpf")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--idle", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--block-size", type=int, default=1 << 16)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--block-timeout-ms", type=int, default=10)
    parser.add_argument("--frames", action="store_true", help="list every frame's sha256 and VLAN")
    args = parser.parse_args(argv)
    try:
        result = probe(args)
    except EgressError as exc:
        print(f"probe: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
