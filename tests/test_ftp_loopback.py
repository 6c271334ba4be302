"""Real FTP on loopback: ftplib against pyftpdlib, passive and active, IPv4 and IPv6.

The server listens on 127.0.0.23 (and ::1) on random ports with a banner that names no protocol,
so detection must go by the client's first command; the IPv4 client binds 127.0.0.24, so the
tcpdump filter ``host 127.0.0.23`` catches control and data connections of both modes and nothing
else on the shared loopback. The session uploads (STOR with a Chinese name, APPE, STOU), downloads
(RETR, RETR with REST) in PASV and PORT modes and over IPv6 with EPSV and EPRT. Every file must come
back as an object with its name, direction and bytes, the same set of bytes as
``tshark --export-objects ftp-data``; the password appears in no output.

The capture is then rewritten offline so a data connection comes before the 227 reply that
announced it (and another one's data before its RETR command): the objects must not change.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from tests.loopback_capture import capture, free_port, needs_capture

pytestmark = needs_capture

SERVER_V4, CLIENT_V4 = "127.0.0.23", "127.0.0.24"
PASSWORD = "ftp-Pw-71c2-never-logged"
FIRST = "姓名,身份证号\n".encode() + b"".join(
    b"person%05d,11010519491231002X\n" % i for i in range(4000)
)
APPENDED = b"appended line\n" * 100
ACTIVE = bytes(range(256)) * 300
UNIQUE = b"stou body\n" * 50
V6_PASSIVE = b"ipv6 passive upload\n" * 400
V6_ACTIVE = b"ipv6 active upload\n" * 300


class _Server:
    """pyftpdlib in a thread, polled so it can be stopped cleanly."""

    def __init__(self, host: str, home: Path) -> None:
        authorizer = DummyAuthorizer()
        authorizer.add_user("alice", PASSWORD, str(home), perm="elradfmwMT")
        handler = type(
            "Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "egress test ready"}
        )
        self.port = free_port(host)
        self.server = FTPServer((host, self.port), handler, ioloop=IOLoop())  # one per thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _retr(ftp: Any, command: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    ftp.retrbinary(command, out.write, rest=rest)
    return out.getvalue()


def _ipv4_session(port: int) -> dict[str, bytes]:
    import ftplib

    got: dict[str, bytes] = {}
    with ftplib.FTP(source_address=(CLIENT_V4, 0), timeout=10) as ftp:
        ftp.connect(SERVER_V4, port)
        ftp.login("alice", PASSWORD)
        ftp.set_pasv(True)
        ftp.storbinary("STOR 客户名单.csv", io.BytesIO(FIRST))
        got["retr_passive"] = _retr(ftp, "RETR 客户名单.csv")
        ftp.storbinary("APPE 客户名单.csv", io.BytesIO(APPENDED))
        ftp.set_pasv(False)
        ftp.storbinary("STOR active.bin", io.BytesIO(ACTIVE))
        got["retr_active"] = _retr(ftp, "RETR 客户名单.csv")
        got["retr_rest"] = _retr(ftp, "RETR active.bin", rest=1000)
        ftp.storbinary("STOU", io.BytesIO(UNIQUE))
    return got


def _ipv6_session(port: int) -> None:
    import ftplib

    with ftplib.FTP(timeout=10) as ftp:
        ftp.connect("::1", port)
        ftp.login("alice", PASSWORD)
        ftp.storbinary("STOR v6-passive.txt", io.BytesIO(V6_PASSIVE))  # EPSV
        ftp.set_pasv(False)
        ftp.storbinary("STOR v6-active.txt", io.BytesIO(V6_ACTIVE))  # EPRT |2|::1|...|


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    tmp = tmp_path_factory.mktemp("ftp")
    home = tmp / "home"
    home.mkdir()
    v4, v6 = _Server(SERVER_V4, home), _Server("::1", home)
    try:
        bpf = f"host {SERVER_V4} or (ip6 and tcp and host ::1)"
        with capture(bpf, tmp / "ftp.pcap") as recorded:
            got = _ipv4_session(v4.port)
            _ipv6_session(v6.port)
    finally:
        v4.stop()
        v6.stop()
    assert recorded.dropped == 0, "tcpdump lost packets: the comparison would be meaningless"
    pcap = recorded.path
    yield {"pcap": pcap, "ports": (v4.port, v6.port), "got": got, "tmp": tmp, "home": home}


def _audit(pcap: Path, out: Path) -> tuple[list[TransferObject], dict[str, Any]]:
    found: list[TransferObject] = []
    summary = Audit(EgressConfig(), out, on_object=found.append).run([pcap])
    return [o for o in found if o.protocol == "ftp"], summary


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected(session: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    stou = [p.name for p in session["home"].iterdir() if p.read_bytes() == UNIQUE]
    assert session["got"]["retr_passive"] == FIRST and session["got"]["retr_rest"] == ACTIVE[1000:]
    return (
        sorted(
            [
                ("STOR", "客户名单.csv", "upload", "ftp_passive", _digest(FIRST)),
                ("RETR", "客户名单.csv", "download", "ftp_passive", _digest(FIRST)),
                ("APPE", "客户名单.csv", "upload", "ftp_passive", _digest(APPENDED)),
                ("STOR", "active.bin", "upload", "ftp_active", _digest(ACTIVE)),
                ("RETR", "客户名单.csv", "download", "ftp_active", _digest(FIRST + APPENDED)),
                ("RETR", "active.bin", "download", "ftp_active", _digest(ACTIVE[1000:])),
                ("STOU", stou[0], "upload", "ftp_active", _digest(UNIQUE)),
                ("STOR", "v6-passive.txt", "upload", "ftp_passive", _digest(V6_PASSIVE)),
                ("STOR", "v6-active.txt", "upload", "ftp_active", _digest(V6_ACTIVE)),
            ]
        )
        if len(stou) == 1
        else []
    )


def _mode(obj: TransferObject) -> str:
    return next(f for f in obj.flags if f in ("ftp_passive", "ftp_active"))


def _seen(objects: list[TransferObject]) -> list[tuple[str, str, str, str, str]]:
    return sorted((o.method, o.filename, o.direction, _mode(o), o.sha256) for o in objects)


@pytest.fixture(scope="module")
def audited(session: dict[str, Any]) -> tuple[list[TransferObject], dict[str, Any]]:
    return _audit(session["pcap"], session["tmp"] / "case")


def test_every_transfer_is_an_object(session: dict[str, Any], audited: Any) -> None:
    objects, summary = audited
    assert _seen(objects) == _expected(session)
    assert all(o.complete for o in objects)
    rest = next(o for o in objects if o.content_range)
    assert rest.content_range == "bytes 1000-" and rest.filename == "active.bin"
    v6 = [o for o in objects if ":" in o.flow.src_ip]
    assert {o.filename for o in v6} == {"v6-passive.txt", "v6-active.txt"}
    controls = {o.related_flow for o in objects}
    assert len(controls) == 2 and all(o.flow.uid not in controls for o in objects)
    assert summary["anomalies"] == {}


def test_password_is_in_no_output(session: dict[str, Any], audited: Any) -> None:
    for path in (session["tmp"] / "case").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD.encode() in session["pcap"].read_bytes()


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_same_files_as_tshark_ftp_data_export(session: dict[str, Any], audited: Any) -> None:
    out = session["tmp"] / "tshark"
    v4, v6 = session["ports"]
    decode_as = ["-d", f"tcp.port=={v4},ftp", "-d", f"tcp.port=={v6},ftp"]
    subprocess.run(
        [
            "tshark",
            "-Q",
            "-r",
            str(session["pcap"]),
            *decode_as,
            "--export-objects",
            f"ftp-data,{out}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # tshark follows only some data channels here (not PORT, APPE or STOU on these ports): every
    # file it exports must be one of ours, under the same name
    theirs = {(re.sub(r"\(\d+\)", "", p.name), _digest(p.read_bytes())) for p in out.iterdir()}
    ours = {(o.filename, o.sha256) for o in audited[0]}
    assert len(theirs) >= 3 and theirs <= ours


def _packets(pcap: Path) -> list[tuple[float, bytes]]:
    with pcap.open("rb") as f:
        return [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(f)]


def _tcp(frame: bytes) -> tuple[Any, Any] | None:
    eth = dpkt.ethernet.Ethernet(frame)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(ip.data, dpkt.tcp.TCP):
        return ip, ip.data
    return None


def _port_of(line: bytes) -> int:
    """The port in ``227 ... (h,h,h,h,p1,p2)`` or ``PORT h,h,h,h,p1,p2``."""
    match = re.search(rb"\d+,\d+,\d+,\d+,(\d+),(\d+)", line)
    assert match is not None, line
    return int(match.group(1)) * 256 + int(match.group(2))


def _reordered(session: dict[str, Any], path: Path) -> Path:
    """The first passive data connection moved before its 227 reply; the start (handshake and
    first data) of the first active RETR's data connection moved before the RETR command."""
    packets = _packets(session["pcap"])
    tcp = [_tcp(frame) for _, frame in packets]
    payload = [t[1].data if t else b"" for t in tcp]
    ports = [(t[1].sport, t[1].dport) if t else (0, 0) for t in tcp]

    def flow_packets(port: int, after: int) -> list[int]:
        return [i for i in range(after, len(tcp)) if port in ports[i]]

    reply = next(i for i, data in enumerate(payload) if data.startswith(b"227 "))
    passive = flow_packets(_port_of(payload[reply].strip()), reply)
    first_port = next(i for i, data in enumerate(payload) if data.startswith(b"PORT "))
    retr = next(i for i in range(first_port, len(tcp)) if payload[i].startswith(b"RETR "))
    last_port = max(i for i in range(retr) if payload[i].startswith(b"PORT "))
    active = flow_packets(_port_of(payload[last_port].strip()), retr)[:6]
    assert passive and len(active) == 6 and any(payload[i] for i in active)
    order = [i for i in range(len(packets)) if i not in passive and i not in active]
    order[order.index(reply) : order.index(reply)] = passive
    order[order.index(retr) : order.index(retr)] = active
    base = packets[0][0]
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for n, i in enumerate(order):
            writer.writepkt(packets[i][1], ts=base + n * 0.001)
    return path


def test_data_before_its_announcement_gives_the_same_objects(
    session: dict[str, Any], audited: Any
) -> None:
    shuffled = _reordered(session, session["tmp"] / "reordered.pcap")
    objects, summary = _audit(shuffled, session["tmp"] / "case-reordered")
    assert _seen(objects) == _seen(audited[0])
    assert summary["anomalies"]["ftp.data_before_announcement"]["count"] == 1
