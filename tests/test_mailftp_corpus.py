"""SMTP and FTP objects rebuilt from the shared real-capture corpus against Suricata and Zeek.

Every capture whose manifest lists ``smtp`` or ``ftp`` runs through ``Audit``; each file hash,
file name, size, mail address, HELO, subject, attachment name, FTP command/file name and data
channel port the reference tools recorded must be reproduced. ``EXCEPTIONS`` names the expected
items we do not reproduce and why. Mail objects are also compared with
``tshark --export-objects imf`` where tshark's own export is sound.

The corpus lives outside the repository (``../shared/corpus/real``); the tests skip without it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.content.mime import parse_message
from sensor.objects import TransferObject

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
MANIFEST = CORPUS / "manifest.json"

_ZEEK_MIME = (
    "Zeek counts the CRLF before the next boundary into the part (manifest note: Suricata and "
    "the Python email package agree with our RFC 2046 size)"
)
EXCEPTIONS: dict[str, dict[str | int, str]] = {
    "zeek/smtp-classic-multi.pcap": {
        "8d9e5bb6072fbbf5b4a5fabe89ede8c8c54915efe33704fe71420d50438f5f81": _ZEEK_MIME,
        "6ea20e4b4f218a715ddfd0c27a92def1020a47a1c2cc6971a6710746efabf868": _ZEEK_MIME,
        1868: _ZEEK_MIME,
        10809: _ZEEK_MIME,
    },
    "zeek/ftp-bigtransfer-seq-wrap.pcap": {
        23822: "Zeek delivers 3008 more bytes around the 32-bit sequence wrap than our "
        "reassembler keeps (we flag the object with its gap)",
    },
}
# tshark's IMF export is the DATA bytes as sent (dot-stuffing kept) without the last line's CRLF
# when that line is empty; it is compared after unstuffing and trimming trailing line ends. Not
# compared: smtp-news-attachment (tshark splices retransmitted header bytes into the body) and
# smtp-long-data-line (tshark breaks the 6512-byte line) and smtp-data-rejected-pipelining (the
# server refuses the first DATA; tshark puts the client's next RSET/MAIL/RCPT/DATA lines into the
# mail, we start the mail at the DATA that got 354); all are checked against Suricata.


def _entries(protocol: str) -> list[dict[str, Any]]:
    if not MANIFEST.exists():
        return []
    return [e for e in json.loads(MANIFEST.read_text()) if protocol in e.get("protocols", [])]


pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="shared corpus not present")
_CACHE: dict[str, list[TransferObject]] = {}


def _objects(entry: dict[str, Any], tmp: Path) -> list[TransferObject]:
    name = entry["file"]
    if name not in _CACHE:
        found: list[TransferObject] = []
        Audit(EgressConfig(), tmp / "case", on_object=found.append).run([CORPUS / name])
        _CACHE[name] = found
    return _CACHE[name]


def _bare(address: str) -> str:
    return address.strip().strip("<>").lower()


def _addresses(value: str | list[str]) -> set[str]:
    text = value if isinstance(value, str) else ", ".join(value)
    return {a.lower() for a in re.findall(r"[^\s<>\",]+@[^\s<>\",]+", text)}


def _check_files(entry: dict[str, Any], objects: list[TransferObject]) -> list[str]:
    exceptions = EXCEPTIONS.get(entry["file"], {})
    missing: list[str] = []
    hashes = {o.sha256 for o in objects}
    for item in entry["expected"].get("files", []):
        if item.get("protocol") == "tls":
            continue  # certificates: the TLS parser's business
        sha, size, name = item.get("sha256"), item.get("size"), item.get("filename")
        if sha and sha not in hashes and sha not in exceptions:
            missing.append(f"sha256 {sha} ({item.get('by')})")
        if size is not None and size not in exceptions:
            matching = [o for o in objects if o.size == size and (not name or o.filename == name)]
            if not matching:
                missing.append(f"{name or '(unnamed)'} of {size} bytes ({item.get('by')})")
        elif name and not any(o.filename == name for o in objects):
            missing.append(f"file name {name}")
    return missing


@pytest.mark.parametrize("entry", _entries("smtp"), ids=lambda e: e["file"])
def test_smtp_captures(entry: dict[str, Any], tmp_path: Path) -> None:
    objects = _objects(entry, tmp_path)
    missing = _check_files(entry, objects)
    messages = [o for o in objects if o.protocol == "smtp" and not o.part]
    parts = [o for o in objects if o.protocol == "smtp" and o.part]
    for item in entry["expected"].get("smtp", []):
        candidates = messages
        if "mail_from" in item:
            candidates = [m for m in candidates if _bare(m.mail_from) == _bare(item["mail_from"])]
        if "rcpt_to" in item:
            wanted = sorted(_bare(a) for a in item["rcpt_to"])
            candidates = [m for m in candidates if sorted(map(_bare, m.mail_to)) == wanted]
        if "helo" in item:
            candidates = [m for m in candidates if m.helo == item["helo"]]
        if "subject" in item:
            candidates = [m for m in candidates if m.subject == item["subject"]]
        for header in ("from", "to", "cc"):
            if header in item:  # header addresses, as the reference tool split them
                wanted_addresses = _addresses(item[header])
                candidates = [
                    m
                    for m in candidates
                    if _addresses(parse_message(bytes(m.body)).header(header)) == wanted_addresses
                ]
        if not candidates and (
            item.keys() & {"mail_from", "rcpt_to", "helo", "subject", "from", "to", "cc"}
        ):
            if item.get("tls"):
                continue  # a STARTTLS session: the mail itself is encrypted
            missing.append(f"mail { ({k: item.get(k) for k in ('mail_from', 'rcpt_to')}) }")
        for attachment in item.get("attachments", []):
            if not any(p.filename == attachment for p in parts):
                missing.append(f"attachment {attachment}")
        if "count" in item and set(item) <= {"by", "test", "count"}:
            assert len(messages) == item["count"]
    assert not missing, missing


def test_refused_data_is_not_part_of_the_mail(tmp_path: Path) -> None:
    entry = {"file": "suricata/smtp-data-rejected-pipelining.pcap"}
    (mail,) = [o for o in _objects(entry, tmp_path) if o.protocol == "smtp" and not o.part]
    assert bytes(mail.body).startswith(b"Received: from [65.201.218.30]") and mail.complete
    assert "smtp_rejected" not in mail.flags  # the DATA that carried it was accepted


def test_starttls_session_is_marked_and_not_parsed(tmp_path: Path) -> None:
    out = tmp_path / "case"
    summary = Audit(EgressConfig(), out).run([CORPUS / "zeek" / "smtp-starttls-gmail.pcap"])
    assert summary["anomalies"]["smtp.encrypted"]["count"] == 1
    assert summary["counts"]["objects"] == 0
    (flow,) = [json.loads(x) for x in (out / "flows.jsonl").read_text().splitlines()]
    assert flow["service"] == "smtp,tls"


@pytest.mark.parametrize("entry", _entries("ftp"), ids=lambda e: e["file"])
def test_ftp_captures(entry: dict[str, Any], tmp_path: Path) -> None:
    objects = [o for o in _objects(entry, tmp_path) if o.protocol == "ftp"]
    missing = _check_files(entry, objects)
    for item in entry["expected"].get("ftp_data", []):
        found = [o for o in objects if o.method == item["command"]]
        if "filename" in item:
            found = [o for o in found if o.filename == item["filename"]]
        if len(found) < item.get("count", 1):
            missing.append(f"{item['command']} {item.get('filename', '')}")
    for item in entry["expected"].get("ftp", []):
        channel = item.get("data_channel")
        if channel and not any(
            channel["resp_p"] in (o.flow.src_port, o.flow.dst_port)
            and {channel["orig_h"], channel["resp_h"]} == {o.flow.src_ip, o.flow.dst_ip}
            for o in objects
        ):
            missing.append(f"data channel {channel}")
        if item.get("command") == "RETR" and "file_size" in item:
            path = item["arg"].rsplit("/", 1)[-1]
            if not any(o.filename == path and o.size == item["file_size"] for o in objects):
                missing.append(f"RETR {path} {item['file_size']}")
        if item.get("command") == "AUTH" and item.get("reply_code") == 234:
            assert not objects
    assert not missing, missing
    uploads = {o.method for o in objects if o.direction == "upload"}
    assert uploads <= {"STOR", "STOU", "APPE"}


def _unstuff(data: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"", data)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
@pytest.mark.parametrize(
    "name",
    [
        "zeek/smtp-one-side-only.pcap",
        "suricata/smtp-quoted-printable-patch.pcap",
    ],
)
def test_whole_mails_match_tshark_imf_export(name: str, tmp_path: Path) -> None:
    export = tmp_path / "imf"
    subprocess.run(
        ["tshark", "-Q", "-r", str(CORPUS / name), "--export-objects", f"imf,{export}"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    theirs = sorted(_digest(_unstuff(p.read_bytes())) for p in export.iterdir())
    mails = [o for o in _objects({"file": name}, tmp_path) if o.protocol == "smtp" and not o.part]
    assert theirs and theirs == sorted(_digest(bytes(o.body)) for o in mails)
    assert all(len(o.body) == o.size and o.complete for o in mails)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data.rstrip(b"\r\n")).hexdigest()
