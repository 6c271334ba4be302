"""Throughput of the SMTP + MIME path, and the ratio to tshark's IMF export on the same capture.

    python -m bench.mailftp [--megabytes 24] [--out DIR]

Builds one synthetic mail (seeded): a GBK text body, a quoted-printable part, and base64
attachments (a CSV of synthetic people and random bytes) of about ``--megabytes`` decoded bytes
in all, wraps it in an SMTP dialogue and a TCP session pcap (``bench/traffic/tcp_session.py``).
It then times, on one core:

1. ``SmtpTransfers`` alone (Sans-IO session, dot-unstuffing, MIME split and decode, sha256 of
   every object) fed the client stream in 64 KiB pieces: object bytes per CPU second;
2. ``egress audit`` of the pcap with object extraction (decode, reassembly, detection included);
3. ``tshark --export-objects imf`` on the same pcap, when tshark is installed.

Prints one JSON line. Numbers depend on the machine; nothing here is asserted by tests.
``bench/app_parse.py`` measures the same mail inside the audit's application-layer stage (real
segment sizes, CPU time, medians), next to HTTP and FTP captures and tshark's exports.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from bench.traffic.tcp_session import tcp_session, write_pcap
from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from sensor.protocols.smtp import Side
from sensor.protocols.smtp_transfers import SmtpTransfers

SEED = 20261123


def build_mail(megabytes: float, seed: int = SEED) -> bytes:
    rng = random.Random(seed)
    rows = [
        f"张{i:05d},{rng.randrange(10**17, 10**18)},13{rng.randrange(10**9):09d}\n"
        for i in range(20)
    ]
    half = int(megabytes * (1 << 20) / 2)
    csv = ("姓名,证件号,手机\n" + "".join(rows)).encode("gbk") * (half // 800 + 1)
    blob = rng.randbytes(half)
    mail = EmailMessage()
    mail["From"] = "bench@example.cn"
    mail["To"] = "sink@example.com"
    mail["Subject"] = "基准测试"
    mail.set_content("正文\n" * 100, charset="gbk")
    mail.add_alternative(".dot line\n" * 2000, subtype="plain", cte="quoted-printable")
    mail.add_attachment(
        csv[:half], maintype="text", subtype="csv", filename=("gbk", "", "名单.csv")
    )
    mail.add_attachment(blob, maintype="application", subtype="octet-stream", filename="blob.bin")
    return mail.as_bytes(policy=SMTP)


def dialogue(mail: bytes) -> tuple[bytes, bytes]:
    stuffed = mail.replace(b"\r\n.", b"\r\n..")
    client = (
        b"EHLO bench\r\nMAIL FROM:<bench@example.cn>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n"
        + stuffed
        + (b"" if stuffed.endswith(b"\r\n") else b"\r\n")
        + b".\r\nQUIT\r\n"
    )
    server = b"220 mx ESMTP\r\n250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n"
    return client, server


def sans_io_rate(client: bytes, server: bytes) -> tuple[float, int]:
    found: list[TransferObject] = []
    transfers = SmtpTransfers(
        uid="B",
        vlan=(),
        client=("10.0.0.1", 5000),
        server=("10.0.0.2", 25),
        clock=lambda: 0.0,
        sink=found.append,
        anomalies=AnomalyCounter(),
        max_object_bytes=256 << 20,
    )
    start = time.process_time()  # CPU time: other load on a shared machine counts less
    transfers.data(Side.SERVER, server[:14])
    view = memoryview(client)
    for i in range(0, len(client), 1 << 16):
        transfers.data(Side.CLIENT, bytes(view[i : i + (1 << 16)]))
    transfers.data(Side.SERVER, server[14:])
    transfers.close()
    elapsed = time.process_time() - start
    object_bytes = sum(o.size for o in found)
    return object_bytes / elapsed / 1e6, object_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=24.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-mailftp-"))
    out.mkdir(parents=True, exist_ok=True)
    mail = build_mail(args.megabytes)
    client, server = dialogue(mail)
    rate, object_bytes = sans_io_rate(client, server)
    pcap = out / "smtp-bench.pcap"
    frames = tcp_session(client, server, mss=16000, server_port=25)
    write_pcap(pcap, frames)
    start = time.perf_counter()
    Audit(EgressConfig(), out / "case", extract_objects=True).run([pcap])
    audit_s = time.perf_counter() - start
    result: dict[str, object] = {
        "mail_bytes": len(mail),
        "object_bytes": object_bytes,
        "smtp_mime_sans_io_mb_per_s": round(rate, 1),
        "audit_seconds": round(audit_s, 3),
        "audit_object_mb_per_s": round(object_bytes / audit_s / 1e6, 1),
    }
    if shutil.which("tshark"):
        start = time.perf_counter()
        subprocess.run(
            ["tshark", "-Q", "-r", str(pcap), "--export-objects", f"imf,{out / 'imf'}"],
            check=True,
            capture_output=True,
        )
        tshark_s = time.perf_counter() - start
        result["tshark_imf_seconds"] = round(tshark_s, 3)
        result["audit_to_tshark_time_ratio"] = round(audit_s / tshark_s, 2)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
