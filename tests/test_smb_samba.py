"""Real SMB 3.1.1 on loopback: Samba's smbd and smbclient, captured with tcpdump, audited.

smbclient (``-m SMB3``) puts and gets a CSV of synthetic people and a 3 MB file, which it writes
and reads in multi-credit requests, then puts another file over an encrypted session
(``--client-protection=encrypt``). The clear files must come back as upload and download objects
with the stored files' sha256, named ``\\\\127.0.0.1\\DATA\\<file>``. (Debian bookworm's tshark
4.0 exports no file at all from these SMB 3.1.1 transfers, so the oracle here is the server's
disk and smbclient's downloads; tshark only confirms the dialect and credit charges.) The
encrypted session must give no object and a flow marked ``smb,encrypted``. Skipped without smbd/smbclient, tcpdump or root (deploy/install.sh --test
installs samba and smbclient; the package's services are not started).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.traffic.smb_loopback import free_port, people_files
from bench.traffic.smb_samba import SHARE, SambaServer
from sensor.audit import Audit
from sensor.config import EgressConfig
from tests.test_smb_loopback import _stop, _tcpdump

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("smbd", "smbclient", "pdbedit", "tcpdump"))
    or os.geteuid() != 0,
    reason="needs samba, smbclient, tcpdump and root",
)


@dataclass
class Capture:
    pcap: Path
    port: int
    files: dict[str, bytes]  # sent in clear, as stored by the server
    encrypted_file: bytes


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    tmp = tmp_path_factory.mktemp("samba")
    local = tmp / "local"
    local.mkdir()
    files = {
        "staff.csv": people_files()["staff.csv"],
        "big.bin": random.Random(5).randbytes(3_000_000),
    }
    secret = people_files(seed=9, rows=500)["staff.csv"]
    for name, data in {**files, "secret.csv": secret}.items():
        (local / name).write_bytes(data)
    port = free_port()
    server = SambaServer(tmp / "samba", port)
    try:
        pcap = tmp / "lo.pcap"
        dump = _tcpdump(port, pcap)
        try:
            puts = "; ".join(f"put {n}; get {n} back-{n}" for n in files)
            server.smbclient(puts, cwd=local)
            server.smbclient("put secret.csv", "--client-protection=encrypt", cwd=local)
            time.sleep(0.5)
        finally:
            _stop(dump)
        for name, data in files.items():
            assert (server.share / name).read_bytes() == data
            assert (local / f"back-{name}").read_bytes() == data
        assert (server.share / "secret.csv").read_bytes() == secret
        yield Capture(pcap, port, files, secret)
    finally:
        server.stop()


def _audit(pcap: Path, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    Audit(EgressConfig(), out, extract_objects=True).run([pcap])
    objects = [json.loads(x)["object"] for x in (out / "objects.jsonl").read_text().splitlines()]
    flows = [json.loads(x) for x in (out / "flows.jsonl").read_text().splitlines()]
    return objects, flows


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_smb3_files_come_back_whole(capture: Capture, tmp_path: Path) -> None:
    objects, _ = _audit(capture.pcap, tmp_path / "case")
    got = {(o["direction"], o["filename"]): o for o in objects}
    for name, data in capture.files.items():
        for direction in ("upload", "download"):
            obj = got[(direction, f"\\\\127.0.0.1\\{SHARE}\\{name}")]
            assert obj["sha256"] == _sha(data) and obj["size"] == len(data)
            assert "complete" in obj["flags"] and obj["gap_bytes"] == 0
    assert _sha(capture.encrypted_file) not in {o["sha256"] for o in objects}


def _tshark(pcap: Path, port: int, *args: str) -> str:
    return subprocess.run(
        ["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},nbss", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_capture_is_smb311_with_multi_credit_writes(capture: Capture) -> None:
    """What the other assertions rely on: the capture really exercises 3.1.1 and multi-credit."""
    fields = _tshark(
        capture.pcap,
        capture.port,
        "-Y",
        "smb2.cmd == 9 && smb2.flags.response == 0",
        "-T",
        "fields",
        "-e",
        "smb2.credit.charge",
    )
    assert max(int(x) for x in fields.split()) > 1
    dialects = _tshark(
        capture.pcap, capture.port, "-Y", "smb2.cmd == 0", "-T", "fields", "-e", "smb2.dialect"
    )
    assert "0x0311" in dialects


def test_encrypted_session_is_marked_and_yields_nothing(capture: Capture, tmp_path: Path) -> None:
    objects, flows = _audit(capture.pcap, tmp_path / "case")
    services = sorted(f["service"] for f in flows)
    assert services == ["smb", "smb,encrypted"]
    assert not any(o["filename"].endswith("secret.csv") for o in objects)
