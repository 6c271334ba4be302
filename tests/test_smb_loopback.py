"""Real SMB traffic on loopback: impacket's server and client, captured with tcpdump, audited.

``bench.traffic.smb_loopback`` serves a temporary directory on 127.0.0.1 (unprivileged port, own
process, stopped by PID) and its client writes three files of synthetic personal data (one
written twice, the second time in shuffled out-of-order pieces over placeholder bytes) and reads
them back, once with SMB 2.0.2 and once with SMB1 (NT LM 0.12). The capture must give back every
file as an upload and a download whose sha256 is the file the server stored, named
``\\\\127.0.0.1\\DATA\\<file>``; ``tshark --export-objects smb`` on the same capture must agree;
dropping one TCP segment inside a WRITE must leave a flagged hole of exactly its size; and with
the addresses rewritten offline so the server is abroad, ``egress audit`` must alert on the
uploaded file by share and name. Skipped without tcpdump, root or impacket.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.traffic.smb_loopback import SHARE, free_port, people_files, run_client, wait_listening
from sensor.audit import Audit
from sensor.config import EgressConfig
from tests.cli import run_egress

pytest.importorskip("impacket")
pytestmark = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs tcpdump and root to capture on loopback",
)
REPO = Path(__file__).resolve().parents[1]
# -B: a 64 MiB buffer, so 60 KB loopback frames are not dropped; --immediate-mode: all written
TCPDUMP = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-B", "65536", "-Z", "root", "-s", "0"]
TSHARK = ["tshark", "-2", "-R", "smb2", "-q", "-r"]
HOME, ABROAD = "10.0.0.5", "8.8.8.8"  # internal network / US in the bundled GeoIP database


@dataclass
class Capture:
    pcap: Path
    port: int
    sent: dict[str, bytes]
    stored: dict[str, bytes]
    read_back: list[dict[str, bytes]]


def _tcpdump(port: int, path: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*TCPDUMP, "-w", str(path), f"tcp port {port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline, line = time.monotonic() + 15, b""
    while time.monotonic() < deadline and b"listening on" not in line:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.skip("tcpdump could not capture on lo")
    return proc


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    tmp = tmp_path_factory.mktemp("smb")
    share, pcap, port = tmp / "share", tmp / "lo.pcap", free_port()
    share.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.traffic.smb_loopback", "serve", str(share), str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_listening(port), "impacket SMB server did not start"
        dump = _tcpdump(port, pcap)
        try:
            sent = people_files()
            read_back = [run_client(port, sent), run_client(port, sent, smb1=True)]
            time.sleep(0.5)  # let the last packets reach the file
        finally:
            _stop(dump)
        stored = {name: (share / name).read_bytes() for name in sent}
        yield Capture(pcap, port, sent, stored, read_back)
    finally:
        _stop(server, signal.SIGTERM)


def _objects(pcap: Path, out: Path) -> list[dict[str, Any]]:
    Audit(EgressConfig(), out, extract_objects=True).run([pcap])
    lines = (out / "objects.jsonl").read_text().splitlines()
    return [json.loads(line)["object"] | {"flow": json.loads(line)["flow"]} for line in lines]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_files_written_and_read_come_back_whole(capture: Capture, tmp_path: Path) -> None:
    assert capture.stored == capture.sent  # the server kept what the client wrote
    assert all(back == capture.sent for back in capture.read_back)
    objects = _objects(capture.pcap, tmp_path / "case")
    flows = sorted({o["flow"]["id"] for o in objects})
    assert len(flows) == 2  # SMB2 and SMB1 connections
    for flow in flows:
        for direction in ("upload", "download"):
            got = {
                o["filename"]: o
                for o in objects
                if o["flow"]["id"] == flow and o["direction"] == direction
            }
            assert sorted(got) == sorted(f"\\\\127.0.0.1\\{SHARE}\\{n}" for n in capture.sent)
            for name, data in capture.stored.items():
                obj = got[f"\\\\127.0.0.1\\{SHARE}\\{name}"]
                assert obj["sha256"] == _sha(data), (flow, direction, name)
                assert obj["size"] == len(data) and obj["gap_bytes"] == 0
                assert "complete" in obj["flags"]


def _tshark_files(pcap: Path, port: int, out: Path) -> list[bytes]:
    """Files tshark exports from the SMB2 connection (its SMB1 export mixes files whose FIDs
    are reused across opens, so the SMB1 connection is compared with the server's files only)."""
    out.mkdir()
    subprocess.run(
        [*TSHARK, str(pcap), "-d", f"tcp.port=={port},nbss", "--export-objects", f"smb,{out}"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return [p.read_bytes() for p in out.iterdir() if p.stat().st_size]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_tshark_export_objects_agree(capture: Capture, tmp_path: Path) -> None:
    """Every file tshark exports is one of our objects, or (for downloads, where tshark drops
    the last, shorter READ of a file) a prefix of one; every stored file is exported by both."""
    objects = _objects(capture.pcap, tmp_path / "case")
    bodies = {o["sha256"]: (tmp_path / "case" / o["extracted"]).read_bytes() for o in objects}
    theirs = _tshark_files(capture.pcap, capture.port, tmp_path / "ts")
    exact = {_sha(data) for data in theirs if _sha(data) in bodies}
    assert {_sha(d) for d in capture.stored.values()} <= exact
    for data in theirs:
        assert any(body.startswith(data) for body in bodies.values()), len(data)


def _rewrite(pcap: Path, out: Path, port: int, keep: Any = None, client: str = HOME) -> int:
    """Copy ``pcap`` with the server at ABROAD and the client at ``client``; packets for which
    ``keep(index, packet)`` is false are left out. Returns how many payload bytes were dropped."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import PcapReader, PcapWriter

    dropped = 0
    with PcapReader(str(pcap)) as reader, PcapWriter(str(out), linktype=1, sync=True) as writer:
        for index, packet in enumerate(reader):
            if IP not in packet or TCP not in packet:
                continue
            if keep is not None and not keep(index, packet):
                dropped += len(packet[TCP].payload)
                continue
            ip = packet[IP]
            to_server = packet[TCP].dport == port
            ip.src, ip.dst = (client, ABROAD) if to_server else (ABROAD, client)
            del ip.chksum
            del packet[TCP].chksum
            writer.write(packet)
    return dropped


def test_segment_lost_inside_a_write_is_a_flagged_hole(capture: Capture, tmp_path: Path) -> None:
    from scapy.layers.inet import TCP
    from scapy.utils import PcapReader

    staff = capture.sent["staff.csv"]
    probe = staff[100_000:100_040]
    with PcapReader(str(capture.pcap)) as reader:
        to_server = [
            (i, bytes(p[TCP].payload))
            for i, p in enumerate(reader)
            if TCP in p and p[TCP].dport == capture.port and len(p[TCP].payload)
        ]
    # the segment after the one carrying these bytes: the rest of the same WRITE, no header
    at = next(n for n, (_, payload) in enumerate(to_server) if probe in payload)
    victim, payload = to_server[at + 1]
    assert b"SMB" not in payload and len(payload) < 60_000
    holed = tmp_path / "holed.pcap"
    lost = _rewrite(capture.pcap, holed, capture.port, keep=lambda i, _: i != victim)
    assert lost == len(payload)
    objects = _objects(holed, tmp_path / "case")
    holes = [o for o in objects if o["gap_bytes"]]
    assert [(o["direction"], o["filename"]) for o in holes] == [
        ("upload", f"\\\\127.0.0.1\\{SHARE}\\staff.csv")
    ]
    upload = holes[0]
    assert upload["gap_bytes"] == lost and "smb_holes" in upload["flags"]
    assert "complete" not in upload["flags"]
    body = (tmp_path / "case" / upload["extracted"]).read_bytes()
    assert len(body) == len(staff)
    start = staff.index(payload)  # where the lost bytes were in the file: zeros there now
    assert body[start : start + lost] == bytes(lost)
    assert body[:start] == staff[:start] and body[start + lost :] == staff[start + lost :]
    assert len(objects) == 12  # every other file still whole, both ways, both dialects


def test_audit_alerts_on_the_upload_abroad_by_share_and_name(
    capture: Capture, tmp_path: Path
) -> None:
    abroad = tmp_path / "abroad.pcap"
    _rewrite(capture.pcap, abroad, capture.port)
    result = run_egress("audit", abroad, "--out", tmp_path / "case", "--quiet")
    assert result.returncode in (0, 1), result.stderr
    alerts = [json.loads(x) for x in (tmp_path / "case" / "alerts.jsonl").read_text().splitlines()]
    uploads = {
        a["object"]["file"]["name"]: a
        for a in alerts
        if a["object"]["protocol"] == "smb" and a["object"]["direction"] == "upload"
    }
    name = f"\\\\127.0.0.1\\{SHARE}\\staff.csv"
    assert name in uploads, sorted(uploads)
    alert = uploads[name]
    assert alert["cross_border"]["is_export"] and alert["destination"]["ip"] == ABROAD
    assert alert["object"]["sha256"] == _sha(capture.sent["staff.csv"])
    assert {f["identifier"] for f in alert["findings"]} >= {"cn_resident_id"}
