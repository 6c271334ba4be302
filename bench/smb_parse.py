"""SMB parsing throughput: object bytes per second through ``SmbTransfers`` on one core (CPU time, so other load on the machine does not count).

Builds one SMB2 connection in memory (create, 64 KiB WRITEs of a 32 MiB file in shuffled order,
the same file read back, close) and feeds it in 64 KiB segments, as the reassembler would; prints
MB/s of object bytes (uploaded plus downloaded). Optionally compares with tshark's SMB export on
the loopback capture from ``tests/test_smb_loopback.py``: ``python -m bench.smb_parse [PCAP PORT]``.
"""

from __future__ import annotations

import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from sensor.protocols.http.events import Side
from sensor.protocols.smb import SmbLimits, SmbTransfers
from tests import smbbytes as b

FILE_BYTES = 32 * 1024 * 1024
PIECE = 65536
SEGMENT = 65536


def conversation() -> tuple[bytes, bytes]:
    fid = bytes(range(16))
    data = random.Random(1).randbytes(FILE_BYTES)
    offsets = list(range(0, FILE_BYTES, PIECE))
    random.Random(2).shuffle(offsets)
    client = [b.nbss(b.create_request(1, "big.bin"))]
    server = [b.nbss(b.create_response(1, fid))]
    mid = 2
    for off in offsets:
        client.append(b.nbss(b.write_request(mid, fid, off, data[off : off + PIECE])))
        mid += 1
    for off in range(0, FILE_BYTES, PIECE):
        client.append(b.nbss(b.read_request(mid, fid, off, PIECE)))
        server.append(b.nbss(b.read_response(mid, data[off : off + PIECE])))
        mid += 1
    client.append(b.nbss(b.close_request(mid, fid)))
    server.append(b.nbss(b.close_response(mid)))
    return b"".join(client), b"".join(server)


def parse(client: bytes, server: bytes) -> tuple[float, int]:
    objects: list[TransferObject] = []
    smb = SmbTransfers(
        uid="Fbench",
        vlan=(),
        client=("10.0.0.1", 1),
        server=("10.0.0.2", 445),
        clock=lambda: 0.0,
        sink=objects.append,
        anomalies=AnomalyCounter(),
        max_object_bytes=64 << 20,
        limits=SmbLimits(max_file_bytes=64 << 20),
    )
    start = time.process_time()
    for side, stream in ((Side.CLIENT, client), (Side.SERVER, server)):
        view = memoryview(stream)
        for at in range(0, len(stream), SEGMENT):
            smb.data(side, bytes(view[at : at + SEGMENT]))
    smb.close()
    elapsed = time.process_time() - start
    return elapsed, sum(o.size for o in objects)


def main() -> None:
    client, server = conversation()
    best = min(parse(client, server) for _ in range(3))
    elapsed, size = best
    print(
        f"smb parse: {size / elapsed / 1e6:.0f} MB/s of object bytes ({size} bytes, {elapsed:.2f} s)"
    )
    if len(sys.argv) == 3:
        pcap, port = sys.argv[1], sys.argv[2]
        with tempfile.TemporaryDirectory() as tmp:
            start = time.process_time()
            Audit(EgressConfig(), Path(tmp) / "case").run([Path(pcap)])
            ours = time.process_time() - start
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(
                [
                    *("tshark", "-r", pcap, "-d", f"tcp.port=={port},nbss", "-q"),
                    "--export-objects",
                    f"smb,{tmp}/ts",
                ],
                capture_output=True,
                check=False,
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            theirs = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(f"CPU s: whole audit (detection included) {ours:.2f}, tshark smb export {theirs:.2f}")


if __name__ == "__main__":
    main()
