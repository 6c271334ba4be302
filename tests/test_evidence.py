"""Evidence store: permissions, content addressing, AES-GCM at rest, retention counts; and the
audit's flow pcaps checked against tshark's view of the same connections."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from sensor.outputs.evidence import (
    EvidenceError,
    EvidenceStore,
    decrypt,
    encrypt,
    load_key,
    write_new_key,
)
from tests.cli import egress_command, run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"
KEY = bytes(range(32))


@pytest.fixture
def open_umask() -> object:
    old = os.umask(0)  # permissions must not depend on a lax umask
    yield
    os.umask(old)


def test_files_0600_dirs_0700_content_addressed(tmp_path: Path, open_umask: object) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    ref = store.put("objects", b"hello")
    sha = hashlib.sha256(b"hello").hexdigest()
    assert ref == {"path": f"evidence/objects/{sha}", "sha256": sha, "size": 5, "encrypted": False}
    path = tmp_path / ref["path"]
    assert path.read_bytes() == b"hello"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "evidence").stat().st_mode & 0o777 == 0o700
    assert store.put("objects", b"hello") == ref
    assert (store.stored_files, store.deduplicated) == (1, 1)
    assert store.read(ref["path"]) == b"hello"
    path.write_bytes(b"hellO")
    with pytest.raises(EvidenceError, match="does not match"):
        store.read(ref["path"])


def test_encryption_at_rest(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence", key=KEY)
    secret = b"id 110101199003077777 " * 10
    ref = store.put("objects", secret)
    path = tmp_path / ref["path"]
    assert path.name.endswith(".aesgcm") and ref["encrypted"] is True
    blob = path.read_bytes()
    assert b"110101199003077777" not in blob and blob.startswith(b"EGEV\x01")
    assert len(blob) == 5 + 12 + len(secret) + 16
    assert store.read(ref["path"]) == secret
    with pytest.raises(EvidenceError, match="decryption failed"):
        EvidenceStore(tmp_path / "evidence", key=bytes(32)).read(ref["path"])
    with pytest.raises(EvidenceError, match="decryption failed"):
        decrypt(KEY, "0" * 64, blob)  # moved to another name
    flipped = bytearray(blob)
    flipped[-20] ^= 1
    with pytest.raises(EvidenceError, match="decryption failed"):
        decrypt(KEY, ref["sha256"], bytes(flipped))
    assert encrypt(KEY, ref["sha256"], secret) != blob  # fresh nonce every time


def test_key_files(tmp_path: Path) -> None:
    keyfile = tmp_path / "k"
    write_new_key(keyfile)
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert len(load_key(keyfile)) == 32
    with pytest.raises(EvidenceError, match="already exists"):
        write_new_key(keyfile)
    (tmp_path / "raw").write_bytes(KEY)
    assert load_key(tmp_path / "raw") == KEY
    (tmp_path / "short").write_text("abcd\n")
    with pytest.raises(EvidenceError, match="egress evidence keygen"):
        load_key(tmp_path / "short")


def test_retention_by_age_then_size(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence", max_bytes=250, max_age_seconds=3600)
    now = time.time()
    refs = [store.put("objects", bytes([i]) * 100) for i in range(4)]
    for age, ref in zip((7200, 300, 200, 100), refs, strict=True):
        os.utime(tmp_path / ref["path"], (now - age, now - age))
    removed = store.enforce_retention(now)
    assert (removed.files_by_age, removed.bytes_by_age) == (1, 100)
    assert (removed.files_by_size, removed.bytes_by_size) == (1, 100)
    left = [(tmp_path / r["path"]).exists() for r in refs]
    assert left == [False, False, True, True]  # the oldest go first
    assert store.info()["removed_by_retention"]["files_by_size"] == 1


def _tshark_conversations(pcap: Path) -> dict[tuple[str, str], int]:
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-q", "-z", "conv,tcp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    convs = {}
    for line in out.splitlines():
        if "<->" in line:
            parts = line.split()
            convs[(parts[0], parts[2])] = int(parts[9])  # frames both ways
    return convs


def test_audit_evidence_matches_tshark(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_egress("audit", SAMPLE, "--out", case, "--quiet").returncode == 0
    whole = _tshark_conversations(SAMPLE)
    alerts = [json.loads(x) for x in (case / "alerts.jsonl").read_text().splitlines()]
    assert alerts
    for alert in alerts:
        obj, pcap = alert["evidence"]["object"], alert["evidence"]["pcap"]
        assert obj["sha256"] == alert["object"]["sha256"]
        assert hashlib.sha256((case / obj["path"]).read_bytes()).hexdigest() == obj["sha256"]
        data = (case / pcap["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pcap["sha256"]
        convs = _tshark_conversations(case / pcap["path"])
        key = (
            f"{alert['source']['ip']}:{alert['source']['port']}",
            f"{alert['destination']['ip']}:{alert['destination']['port']}",
        )
        assert convs == {key: whole[key]} == {key: pcap["packets"]}
    summary = json.loads((case / "summary.json").read_text())
    assert summary["evidence"]["flow_pcaps"] == len({a["flow"]["id"] for a in alerts})


def test_audit_encrypted_and_opened(tmp_path: Path) -> None:
    keyfile, config, case = tmp_path / "key", tmp_path / "egress.yaml", tmp_path / "case"
    assert run_egress("evidence", "keygen", keyfile).returncode == 0
    config.write_text(f"evidence:\n  key_file: {keyfile}\n")
    assert run_egress("--config", config, "audit", SAMPLE, "--out", case, "--quiet").returncode == 0
    alert = json.loads((case / "alerts.jsonl").read_text().splitlines()[0])
    ref = alert["evidence"]["pcap"]
    assert ref["encrypted"] and ref["path"].endswith(".pcap.aesgcm")
    assert all(p.name.endswith(".aesgcm") for p in (case / "evidence").rglob("*") if p.is_file())
    out = tmp_path / "flow.pcap"
    result = run_egress("evidence", "open", case / ref["path"], "--key", keyfile, "--out", out)
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == ref["sha256"]
    nokey = run_egress("evidence", "open", case / ref["path"], "--out", tmp_path / "x")
    assert nokey.returncode == 2 and "give the key file" in nokey.stderr


def test_stdin_gets_objects_but_no_pcap(tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = subprocess.run(
        [*egress_command(), "audit", "-", "--out", str(case), "--quiet"],
        stdin=SAMPLE.open("rb"),
        capture_output=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(x) for x in (case / "alerts.jsonl").read_text().splitlines()]
    assert alerts and all(a["evidence"]["pcap"] is None for a in alerts)
    assert all(a["evidence"]["object"]["sha256"] for a in alerts)
    summary = json.loads((case / "summary.json").read_text())
    assert summary["anomalies"]["evidence.pcap_unavailable_stdin"]["count"] == len(alerts)


def test_evidence_can_be_switched_off(tmp_path: Path) -> None:
    config, case = tmp_path / "egress.yaml", tmp_path / "case"
    config.write_text("evidence:\n  enabled: false\n")
    assert run_egress("--config", config, "audit", SAMPLE, "--out", case, "--quiet").returncode == 0
    assert not (case / "evidence").exists()
    alert = json.loads((case / "alerts.jsonl").read_text().splitlines()[0])
    assert "evidence" not in alert
