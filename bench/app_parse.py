"""Parsing and decoding of cleartext objects (SMTP+MIME, HTTP, FTP) in MB/s of object bytes,
with the ratio to ``tshark --export-objects`` (imf, http, ftp-data) on the same capture.

    python -m bench.app_parse [--megabytes 24] [--runs 3] [--cpu 1] [--protocols smtp,http,ftp]

One seeded capture per protocol (frames packed by ``bench/traffic/mix.py``'s session builder,
1460-byte segments, written to ``--out``):

- smtp: the mail of ``bench/mailftp.py`` (GBK text, a quoted-printable part with dot-stuffed
  lines, base64 CSV and binary attachments) in one SMTP dialogue;
- http: one keep-alive connection: a Content-Length CSV upload, a chunked upload (8 KiB chunks),
  a gzip-encoded CSV download, a multipart/form-data upload of two files (CSV and binary) and a
  Content-Length binary download, each about a fifth of ``--megabytes``;
- ftp: a control connection with PASV + STOR and PASV + RETR, each file on its own data
  connection, half of ``--megabytes`` each.

For each, on one pinned core (``--cpu``; ``-1`` to not pin), ``--runs`` times (medians reported):

1. the application-layer stage of ``egress audit`` on the capture (``bench/stages.py`` timers:
   ``AppLayerHandler`` minus the object sink, so parsers, de-chunking, content and transfer
   decoding, MIME splitting, sha256 and sniffing of every object, at the segment sizes the
   reassembler really delivers), CPU time of the auditing thread, divided into the bytes of the
   objects it produced: ``app_mb_s``;
2. for SMTP and HTTP also the Sans-IO transfers object alone fed 64 KiB pieces, CPU time
   (``sans_io_mb_s``), as ``bench/mailftp.py`` and ``bench/smb_parse.py`` measure;
3. the whole audit (detection and output included), CPU time of the auditing thread;
4. ``tshark -Q -r CAPTURE --export-objects PROTO,DIR``: user+system CPU of the child, and the bytes
   of the files it exported (tshark exports a multipart body as one file and a mail as one file;
   its object bytes are its own): ``tshark_mb_s``; ``app_to_tshark`` is ``app_mb_s / tshark_mb_s``.

Object bytes: the decoded size of every object egress emits (a mail counts once whole and once per
MIME part, as ``objects.jsonl`` lists them). Prints one JSON document; nothing here is asserted by
tests. Results and the command lines are in ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.mailftp import build_mail, sans_io_rate
from bench.measure import loadavg
from bench.stages import StageTimers
from bench.traffic.mix import FTP_LOGIN, _Session
from bench.traffic.tcp_session import LINKTYPE_ETHERNET, PCAP_MAGIC_US
from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from sensor.protocols.http import Side
from sensor.protocols.http_transfers import HttpTransfers

SEED = 20261204
CLIENT, SERVER = "10.20.30.40", "63.10.20.30"
Steps = list[tuple[bool, bytes]]  # (from the client, bytes) in dialogue order
PIECE = 1 << 16


def _csv(rng: random.Random, size: int) -> bytes:
    rows = [
        f"张{i:05d},{rng.randrange(10**17, 10**18)},13{rng.randrange(10**9):09d},"
        f"user{i}@example.cn\n".encode()
        for i in range(200)
    ]
    block = b"name,id,phone,mail\n" + b"".join(rows)
    return (block * (size // len(block) + 1))[:size]


def smtp_steps(megabytes: float) -> Steps:
    stuffed = build_mail(megabytes).replace(b"\r\n.", b"\r\n..")
    return [
        (False, b"220 mx ESMTP\r\n"),
        (True, b"EHLO bench\r\n"),
        (False, b"250 mx\r\n"),
        (True, b"MAIL FROM:<bench@example.cn>\r\n"),
        (False, b"250 ok\r\n"),
        (True, b"RCPT TO:<sink@example.com>\r\n"),
        (False, b"250 ok\r\n"),
        (True, b"DATA\r\n"),
        (False, b"354 go\r\n"),
        (True, stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"),
        (False, b"250 queued\r\n"),
        (True, b"QUIT\r\n"),
        (False, b"221 bye\r\n"),
    ]


def _ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def http_steps(megabytes: float) -> Steps:
    rng = random.Random(SEED)
    fifth = int(megabytes * (1 << 20) / 5)
    host = "upload.example.com"
    csv = _csv(rng, fifth)
    blob = rng.randbytes(fifth)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(csv[i : i + 8192]), csv[i : i + 8192])
        for i in range(0, len(csv), 8192)
    )
    boundary = "----benchboundary7MA4YWxkTrZu0gW"
    multipart = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"; filename="{name}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
            + data
            + b"\r\n"
            for i, (name, ctype, data) in enumerate(
                (
                    ("名单.csv", "text/csv", csv[: fifth // 2]),
                    ("a.bin", "application/zip", blob[: fifth // 2]),
                )
            )
        )
        + f"--{boundary}--\r\n".encode()
    )
    compressed = gzip.compress(csv, compresslevel=6, mtime=0)

    def post(path: str, ctype: str, body: bytes, framing: str) -> bytes:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n{framing}\r\n"
        return head.encode() + body

    return [
        (True, post("/import", "text/csv", csv, f"Content-Length: {len(csv)}\r\n")),
        (False, _ok()),
        (True, post("/stream", "text/csv", chunked, "Transfer-Encoding: chunked\r\n")),
        (False, _ok()),
        (True, f"GET /export.csv HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()),
        (False, _ok(compressed, "Content-Encoding: gzip\r\n").replace(b"json", b"csv", 1)),
        (
            True,
            post(
                "/upload",
                f"multipart/form-data; boundary={boundary}",
                multipart,
                f"Content-Length: {len(multipart)}\r\n",
            ),
        ),
        (False, _ok()),
        (True, f"GET /backup.bin HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()),
        (False, _ok(blob).replace(b"application/json", b"application/octet-stream", 1)),
    ]


def ftp_sessions(megabytes: float) -> list[tuple[int, int, Steps]]:
    """(client port, server port, steps) per connection, the control connection first; a data
    connection runs where its control dialogue has an empty step (after the 150 reply)."""
    rng = random.Random(SEED)
    half = int(megabytes * (1 << 20) / 2)
    upload, download = _csv(rng, half), rng.randbytes(half)
    control: Steps = list(FTP_LOGIN)
    sessions: list[tuple[int, int, Steps]] = [(40000, 21, control)]
    for n, (verb, name, data, up) in enumerate(
        (("STOR", "customers.csv", upload, True), ("RETR", "backup.bin", download, False))
    ):
        port = 50000 + n
        address = f"{SERVER.replace('.', ',')},{port // 256},{port % 256}"
        control += [
            (True, b"PASV\r\n"),
            (False, f"227 Entering Passive Mode ({address})\r\n".encode()),
            (True, f"{verb} {name}\r\n".encode()),
            (False, b"150 Opening data connection\r\n"),
            (False, b""),  # the data connection runs here
            (False, b"226 Transfer complete\r\n"),
        ]
        sessions.append((40001 + n, port, [(up, data)]))
    control += [(True, b"QUIT\r\n"), (False, b"221 Bye\r\n")]
    return sessions


def write_capture(path: Path, sessions: list[tuple[int, int, Steps]]) -> None:
    """The first connection's dialogue; each empty step in it is where the next of the other
    connections (FTP data) runs whole, as a client opens it after the 150 reply."""
    rng = random.Random(SEED)
    header = struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)
    pack = struct.Struct("<IIII").pack
    (cport, sport, steps), others = sessions[0], iter(sessions[1:])

    def frames() -> Iterator[tuple[int, bytes]]:
        main = _Session(rng, 1_700_000_000_000_000, CLIENT, SERVER, cport, sport, (), False)
        yield from main.handshake()
        for from_client, data in steps:
            if data:
                yield from main.send(from_client, data)
                continue
            dport, dsport, dsteps = next(others)
            inner = _Session(rng, main.t, CLIENT, SERVER, dport, dsport, (), False)
            yield from inner.dialogue(dsteps)
            main.t = inner.t
        yield from main.close()

    with path.open("wb", buffering=8 << 20) as out:
        out.write(header)
        for ts, frame in frames():
            seconds, micros = divmod(ts, 1_000_000)
            out.write(pack(seconds, micros, len(frame), len(frame)))
            out.write(frame)


def _pin(cpu: int) -> None:
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _app_stage(pcap: Path, work: Path) -> tuple[float, float, int]:
    """(app-stage CPU seconds, whole-audit CPU seconds, object bytes) of one audit."""
    sizes: list[int] = []
    timers = StageTimers(clock=time.thread_time)  # CPU time: the machine may be shared
    timers.install()
    try:
        start = time.thread_time()
        Audit(EgressConfig(), work, on_object=lambda o: sizes.append(o.size)).run([pcap])
        total = time.thread_time() - start
    finally:
        timers.uninstall()
    return timers.breakdown(total)["app"], total, sum(sizes)


def _tshark(pcap: Path, proto: str, work: Path) -> tuple[float, int]:
    """(user+system CPU seconds, bytes of the exported files)."""
    out = work / f"tshark-{proto}"
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["tshark", "-Q", "-r", str(pcap), "--export-objects", f"{proto},{out}"],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    exported = sum(p.stat().st_size for p in out.iterdir()) if out.exists() else 0
    return cpu, exported


def _http_sans_io(steps: Steps) -> tuple[float, int]:
    found: list[TransferObject] = []
    http = HttpTransfers(
        uid="B",
        vlan=(),
        client=(CLIENT, 50000),
        server=(SERVER, 80),
        clock=lambda: 0.0,
        sink=found.append,
        anomalies=AnomalyCounter(),
        max_object_bytes=256 << 20,
    )
    start = time.process_time()
    for from_client, data in steps:
        side = Side.CLIENT if from_client else Side.SERVER
        view = memoryview(data)
        for i in range(0, len(data), PIECE):
            http.data(side, bytes(view[i : i + PIECE]))
    http.close()
    elapsed = time.process_time() - start
    object_bytes = sum(o.size for o in found)
    return object_bytes / elapsed / 1e6, object_bytes


def _smtp_sans_io(steps: Steps) -> tuple[float, int]:
    client = b"".join(d for c, d in steps if c)
    server = b"".join(d for c, d in steps if not c)
    return sans_io_rate(client, server)


PROTOCOLS: dict[str, tuple[str, Callable[[float], list[tuple[int, int, Steps]]]]] = {
    "smtp": ("imf", lambda mb: [(40000, 25, smtp_steps(mb))]),
    "http": ("http", lambda mb: [(40000, 80, http_steps(mb))]),
    "ftp": ("ftp-data", ftp_sessions),
}


def measure(protocol: str, megabytes: float, runs: int, out: Path) -> dict[str, Any]:
    export, build = PROTOCOLS[protocol]
    sessions = build(megabytes)
    pcap = out / f"{protocol}-bench.pcap"
    write_capture(pcap, sessions)
    result: dict[str, Any] = {"capture_bytes": pcap.stat().st_size, "load_start": loadavg()}
    app, audit, object_bytes = [], [], 0
    for n in range(runs):
        stage, total, object_bytes = _app_stage(pcap, out / f"{protocol}-case{n}")
        app.append(stage)
        audit.append(total)
    result["object_bytes"] = object_bytes
    result["app_seconds"] = round(statistics.median(app), 4)
    result["app_mb_s"] = round(object_bytes / statistics.median(app) / 1e6, 1)
    result["audit_seconds"] = round(statistics.median(audit), 3)
    steps = sessions[0][2]
    if protocol in ("smtp", "http"):
        sans = [
            (_smtp_sans_io if protocol == "smtp" else _http_sans_io)(steps) for _ in range(runs)
        ]
        result["sans_io_mb_s"] = round(statistics.median(r[0] for r in sans), 1)
    if shutil.which("tshark"):
        tshark = [_tshark(pcap, export, out) for _ in range(runs)]
        cpu = statistics.median(t[0] for t in tshark)
        result["tshark_export"] = export
        result["tshark_cpu_seconds"] = round(cpu, 3)
        result["tshark_object_bytes"] = tshark[-1][1]
        result["tshark_mb_s"] = round(tshark[-1][1] / cpu / 1e6, 1)
        result["app_to_tshark"] = round(result["app_mb_s"] / result["tshark_mb_s"], 2)
        result["audit_to_tshark_time"] = round(result["audit_seconds"] / cpu, 2)
    result["load_end"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=24.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin to; -1 to not pin")
    parser.add_argument("--protocols", default="smtp,http,ftp")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-app-parse-"))
    out.mkdir(parents=True, exist_ok=True)
    _pin(args.cpu)
    report: dict[str, Any] = {
        "megabytes": args.megabytes,
        "runs": args.runs,
        "cpu": args.cpu,
        "protocols": {
            p: measure(p, args.megabytes, args.runs, out) for p in args.protocols.split(",")
        },
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
