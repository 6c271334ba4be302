"""SMB objects rebuilt from the shared real-capture corpus against Suricata, Zeek and tshark.

Every capture whose manifest lists an SMB protocol runs through ``Audit``; each file Suricata or
Zeek reports (sha256, file name, size, direction) must be among our objects, and every non-empty
file ``tshark --export-objects smb`` writes must be one of our objects by sha256. ``EXCEPTIONS``
names what we do not reproduce and why. The corpus lives outside the repository
(``../shared/corpus/real``); the tests skip without it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sensor.audit import Audit
from sensor.config import EgressConfig

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
MANIFEST = CORPUS / "manifest.json"

_PIPE = "a named pipe (DCE/RPC over IPC$), which tshark exports as a file and we do not"
_MULTICHANNEL = (
    "SMB3 multichannel: the file's reads travel over several TCP connections sharing one file "
    "id; tshark merges them, we rebuild per connection (this one has holes, flagged)"
)
# capture -> {tshark file name: why it is not among our objects}
TSHARK_EXCEPTIONS: dict[str, dict[str, str]] = {
    "zeek/smb2-write-pdf.pcap": {"%5csrvsvc": _PIPE},
    "zeek/smb2-read-nonzero-reserved.pcap": {"%5csrvsvc": _PIPE},
    "zeek/smb3-multichannel-many-files.pcap": {
        "%5c12splwow64.exe": _MULTICHANNEL,
        "%5c14twain_32.pdf": _MULTICHANNEL,
    },
}


def _manifest() -> list[dict[str, Any]]:
    if not MANIFEST.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text())
    return [e for e in entries if any(p.startswith("smb") for p in e.get("protocols", []))]


ENTRIES = _manifest()
pytestmark = pytest.mark.skipif(not ENTRIES, reason="shared corpus not present")
_cache: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}


def _audit(name: str, tmp_root: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """objects.jsonl records and summary.json of one capture (one audit per capture)."""
    if name not in _cache:
        out = tmp_root / name.replace("/", "_")
        Audit(EgressConfig(), out).run([CORPUS / name])
        objects = [
            json.loads(x)["object"] for x in (out / "objects.jsonl").read_text().split("\n") if x
        ]
        _cache[name] = (objects, json.loads((out / "summary.json").read_text()))
    return _cache[name]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smbcorpus")


def _matches(expected: dict[str, Any], obj: dict[str, Any]) -> bool:
    if "sha256" in expected and obj["sha256"] != expected["sha256"]:
        return False
    if "size" in expected and obj["size"] != expected["size"]:
        return False
    if "filename" in expected:
        wanted = expected["filename"].lstrip("\\")
        if not (obj["filename"] == wanted or obj["filename"].endswith("\\" + wanted)):
            return False
    direction = {"orig->resp": "upload", "resp->orig": "download"}.get(expected.get("direction"))
    return direction is None or obj["direction"] == direction


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_reference_files_are_reproduced(entry: dict[str, Any], tmp_root: Path) -> None:
    objects, _ = _audit(entry["file"], tmp_root)
    expected = [
        f
        for f in entry.get("expected", {}).get("files", [])
        if f.get("protocol", "smb") == "smb" and ({"sha256", "size", "filename"} & set(f))
    ]
    for item in expected:
        assert any(_matches(item, obj) for obj in objects), (item, objects)
    for obj in objects:
        assert obj["size"] <= 64 * 1024 * 1024


def test_encrypted_smb3_session_is_marked(tmp_root: Path) -> None:
    name = "zeek/smb3-encrypted-share.pcap"
    if name not in {e["file"] for e in ENTRIES}:
        pytest.skip("capture not in this corpus")
    objects, summary = _audit(name, tmp_root)
    assert objects == []  # everything after the tree connect is encrypted
    assert summary["anomalies"]["smb.encrypted_session"]["count"] == 1


def test_real_captures_raise_no_parser_errors(tmp_root: Path) -> None:
    for entry in ENTRIES:
        _, summary = _audit(entry["file"], tmp_root)
        bad = {k for k in summary.get("anomalies", {}) if k.startswith("smb.parser_error")}
        assert not bad, entry["file"]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_tshark_export_objects_are_ours(
    entry: dict[str, Any], tmp_root: Path, tmp_path: Path
) -> None:
    name = entry["file"]
    objects, _ = _audit(name, tmp_root)
    ours = {o["sha256"] for o in objects}
    subprocess.run(
        ["tshark", "-r", str(CORPUS / name), "-q", "--export-objects", f"smb,{tmp_path}"],
        capture_output=True,
        timeout=300,
        check=False,
    )
    excepted = TSHARK_EXCEPTIONS.get(name, {})
    for path in tmp_path.iterdir():
        if not path.stat().st_size or path.name in excepted:
            continue
        assert hashlib.sha256(path.read_bytes()).hexdigest() in ours, (name, path.name)


def _streams(path: Path) -> list[tuple[bool, bytes]]:
    """TCP payloads of a one-connection capture in capture order, retransmissions dropped;
    True marks the client (the side talking to port 445 or 139)."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import PcapReader

    next_seq: dict[bool, int] = {}
    out = []
    with PcapReader(str(path)) as reader:
        for packet in reader:
            if TCP not in packet or not len(packet[TCP].payload):
                continue
            tcp = packet[TCP]
            client = tcp.dport in (445, 139)
            size = packet[IP].len - packet[IP].ihl * 4 - tcp.dataofs * 4  # no Ethernet padding
            seq, payload = tcp.seq, bytes(tcp.payload)[:size]
            if not payload:
                continue
            expected = next_seq.get(client, seq)
            if seq != expected:
                continue  # a retransmission (or a hole): these small captures have none
            next_seq[client] = seq + len(payload)
            out.append((client, payload))
    return out


def _transfers(name: str, bytewise: bool = False) -> tuple[Any, list[Any]]:
    from sensor.anomalies import AnomalyCounter
    from sensor.objects import TransferObject
    from sensor.protocols.http.events import Side
    from sensor.protocols.smb import SmbTransfers

    if not (CORPUS / name).exists():
        pytest.skip("capture not in this corpus")
    objects: list[TransferObject] = []
    smb = SmbTransfers(
        uid="F1", vlan=(), client=("a", 1), server=("b", 445), clock=lambda: 0.0,
        sink=objects.append, anomalies=AnomalyCounter(), max_object_bytes=1 << 24,
    )  # fmt: skip
    for client, payload in _streams(CORPUS / name):
        side = Side.CLIENT if client else Side.SERVER
        pieces = [payload[i : i + 1] for i in range(len(payload))] if bytewise else [payload]
        for piece in pieces:
            smb.data(side, piece)
    smb.close()
    return smb, objects


@pytest.mark.parametrize(
    ("name", "dialect", "user", "shares", "encrypted"),
    [
        # Suricata smb2-02: dialect, NTLMSSP user/domain, the disk share and the IPC$ pipe
        ("zeek/smb2-write-pdf.pcap", "2.02", ("CONTOSO", "Administrator"),
         ["\\\\10.0.0.12\\IPC$", "\\\\10.0.0.12\\smb2"], False),
        # Suricata smb3-01 / Zeek smb_mapping.log: 3.00, both tree connects, then encrypted
        ("zeek/smb3-encrypted-share.pcap", "3.0", None,
         ["\\\\10.160.65.202\\IPC$", "\\\\WS2016\\encrypted"], True),
    ],
)  # fmt: skip
def test_session_metadata_matches_the_reference(
    name: str, dialect: str, user: tuple[str, str] | None, shares: list[str], encrypted: bool
) -> None:
    smb, _ = _transfers(name)
    assert smb.session.dialect == dialect
    if user is not None:
        assert (smb.session.domain, smb.session.user) == user
    assert sorted(smb.session.shares) == sorted(shares)
    assert smb.encrypted is encrypted


@pytest.mark.parametrize(
    "name",
    [
        "suricata/smb1-write-padding.pcap",
        "suricata/smb1-eicar-write.pcap",
        "zeek/smb2-read-write-python.pcap",
    ],
)
def test_real_streams_one_byte_at_a_time(name: str) -> None:
    """Real SMB1 and SMB2 messages fed one byte at a time give the same objects as whole."""

    def run(bytewise: bool) -> list[tuple[str, str, str]]:
        _, objects = _transfers(name, bytewise)
        return [(o.direction, o.filename, o.sha256) for o in objects]

    whole = run(False)
    assert whole and run(True) == whole


def test_real_compound_create_setinfo_close() -> None:
    """Zeek's smb2-multiple-pdus: CREATE + SET_INFO + CLOSE (related) in one message and their
    three responses in one message: the file is opened by name and closed through the related id."""
    from sensor.protocols.http.events import Side
    from sensor.protocols.smb.session import FileClosed, FileOpened, SmbEvent, SmbSession

    name = "zeek/smb2-multiple-pdus-compound.pcap"
    if not (CORPUS / name).exists():
        pytest.skip("capture not in this corpus")
    session, events = SmbSession(), list[SmbEvent]()
    for client, payload in _streams(CORPUS / name):
        events += session.feed(Side.CLIENT if client else Side.SERVER, payload)
    events += session.close()
    assert session.messages == 2
    opened = [e for e in events if isinstance(e, FileOpened)]
    closed = [e for e in events if isinstance(e, FileClosed)]
    assert [(e.name, e.size) for e in opened] == [("testfile.txt", 12)]
    assert [e.key for e in closed] == [opened[0].key]
    assert len(events) == 2  # nothing else: no anomaly
