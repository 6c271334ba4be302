"""TLS inside HTTP CONNECT tunnels: the tunnelled session's hellos and certificate on the flow.

Sans-IO: a real TLS 1.2 handshake made by Python's ``ssl`` (OpenSSL) in memory, wrapped in a
CONNECT dialogue and fed to ``HttpTransfers`` whole, split at every position of the client stream
and byte by byte; a refused CONNECT (407) keeps the connection parsed as HTTP. Loopback: curl
through a small CONNECT proxy on 127.0.0.1 to a TLS server with a self-signed certificate,
captured with tcpdump and audited; the flow record carries the same TLS fields a direct flow
gets, and the tunnel object is named by the server name with every tunnelled byte counted
although the flow stopped copying them after the handshake.
"""

from __future__ import annotations

import datetime
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from sensor.protocols.http.events import Side
from sensor.protocols.http_transfers import HttpTransfers
from tests.loopback_capture import capture, free_port, needs_capture

NAME = "upload.example.cn"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "示例数据有限公司"),
            x509.NameAttribute(NameOID.COMMON_NAME, NAME),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(20261204)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the certificate is visible below 1.3
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _handshake(cert: Path, key: Path) -> tuple[bytes, bytes]:
    """The client's and the server's TLS bytes of one real handshake, made in memory."""
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=NAME)
    server = _server_context(cert, key).wrap_bio(s_in, s_out, server_side=True)
    sent: dict[str, bytearray] = {"client": bytearray(), "server": bytearray()}
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, tls in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    tls.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        out_c, out_s = c_out.read(), s_out.read()
        sent["client"] += out_c
        sent["server"] += out_s
        s_in.write(out_c)
        c_in.write(out_s)
        if all(done.values()) and not out_c and not out_s:
            break
    assert all(done.values())
    return bytes(sent["client"]), bytes(sent["server"])


def _transfers(found: list[TransferObject]) -> HttpTransfers:
    return HttpTransfers(
        uid="Ftunnel",
        vlan=(),
        client=("10.0.0.1", 50000),
        server=("10.0.0.2", 3128),
        clock=lambda: 0.0,
        sink=found.append,
        anomalies=AnomalyCounter(),
        max_object_bytes=1 << 20,
    )


CONNECT = f"CONNECT {NAME}:443 HTTP/1.1\r\nHost: {NAME}:443\r\n\r\n".encode()
ACCEPTED = b"HTTP/1.1 200 Connection established\r\n\r\n"


@pytest.fixture(scope="module")
def handshake(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    return _handshake(*_certificate(tmp_path_factory.mktemp("cert")))


def _check_tls(
    http: HttpTransfers, found: list[TransferObject], tunnelled: tuple[int, int]
) -> None:
    tls = http.metadata["tls"]
    assert tls["server_name"] == NAME
    assert tls["alpn"] == ["h2", "http/1.1"] and tls["server_alpn"] == "http/1.1"
    assert tls["version"] == "TLSv12"
    assert tls["subject"] == f"O=示例数据有限公司, CN={NAME}" == tls["issuer"]
    assert tls["ja3"] and tls["ja4"].startswith("t")
    assert http.encrypted and http.payload_done
    tunnels = {o.direction: o for o in found if o.tunnel == "connect"}
    assert tunnels["upload"].host == tunnels["download"].host == NAME
    assert (tunnels["upload"].encoded_bytes, tunnels["download"].encoded_bytes) == tunnelled
    assert tunnels["upload"].encrypted and tunnels["upload"].detected_type == "tls"


def test_tls_in_an_accepted_connect_split_anywhere(handshake: tuple[bytes, bytes]) -> None:
    client_tls, server_tls = handshake
    client = CONNECT + client_tls
    server = ACCEPTED + server_tls
    # the client may send its ClientHello before the 200 arrives (held, then tunnelled)
    for cut in [
        *range(len(CONNECT), len(CONNECT) + 8),
        *range(len(CONNECT) + 8, len(client) + 1, 7),
    ]:
        found: list[TransferObject] = []
        http = _transfers(found)
        http.data(Side.CLIENT, client[:cut])
        http.data(Side.SERVER, server)
        http.data(Side.CLIENT, client[cut:])
        http.close()
        _check_tls(http, found, (len(client_tls), len(server_tls)))
    found = []
    http = _transfers(found)
    for i in range(len(CONNECT)):
        http.data(Side.CLIENT, client[i : i + 1])
    for i in range(len(server)):
        http.data(Side.SERVER, server[i : i + 1])
    for i in range(len(CONNECT), len(client)):
        http.data(Side.CLIENT, client[i : i + 1])
    http.close()
    _check_tls(http, found, (len(client_tls), len(server_tls)))


def test_refused_connect_keeps_parsing_http(handshake: tuple[bytes, bytes]) -> None:
    found: list[TransferObject] = []
    http = _transfers(found)
    body = b"name,id\nzhang,110105194912310021\n"
    get = f"POST http://{NAME}/up HTTP/1.1\r\nHost: {NAME}\r\nContent-Length: {len(body)}\r\n\r\n"
    http.data(Side.CLIENT, CONNECT)
    http.data(
        Side.SERVER, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    )
    http.data(Side.CLIENT, get.encode() + body)
    http.data(Side.SERVER, b"HTTP/1.1 204 No Content\r\n\r\n")
    http.close()
    assert http.metadata == {} and not http.encrypted and not http.payload_done
    assert [(o.method, o.url, bytes(o.body)) for o in found] == [
        ("POST", f"http://{NAME}/up", body)
    ]


def test_a_tunnel_that_is_not_tls_is_only_counted() -> None:
    found: list[TransferObject] = []
    http = _transfers(found)
    http.data(Side.CLIENT, b"CONNECT git.example.cn:22 HTTP/1.1\r\nHost: git.example.cn:22\r\n\r\n")
    http.data(Side.SERVER, ACCEPTED + b"SSH-2.0-OpenSSH_9.6\r\n")
    http.data(Side.CLIENT, b"SSH-2.0-OpenSSH_9.6\r\n" + b"\x00" * 100)
    http.close()
    assert http.metadata == {} and not http.encrypted
    assert sorted(o.encoded_bytes for o in found) == [21, 121]
    assert {o.host for o in found} == {"git.example.cn:22"}  # the CONNECT authority


# -- loopback: curl through a CONNECT proxy ------------------------------------------------------


class _Proxy(threading.Thread):
    """A CONNECT-only proxy on 127.0.0.1: every authority is sent to the local TLS server."""

    def __init__(self, target_port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.target_port = target_port

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            if not head.startswith(b"CONNECT "):
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            conn.sendall(ACCEPTED)
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            pump = threading.Thread(target=_relay, args=(upstream, conn), daemon=True)
            pump.start()
            _relay(conn, upstream)
            pump.join(timeout=10)
            upstream.close()


def _relay(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


BODY = b"id,phone\n" + b"".join(b"%04d,1380013%04d\n" % (i, i) for i in range(500))


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[int]:
    cert, key = _certificate(tmp_path)
    context = _server_context(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    tls.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                        % len(BODY)
                        + BODY
                    )
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_capture
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_through_a_connect_proxy(
    tls_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _Proxy(tls_server)
    proxy.start()
    pcap = tmp_path / "connect.pcap"
    port = free_port()
    with capture(f"tcp port {proxy.port}", pcap) as cap:
        done = subprocess.run(
            [
                *("curl", "-sS", "-k", "--tlsv1.2", "--tls-max", "1.2", "--max-time", "20"),
                *("-x", f"http://127.0.0.1:{proxy.port}", f"https://{NAME}:{port}/data.csv"),
            ],
            capture_output=True,
            check=False,
        )
    proxy.sock.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout == BODY and cap.dropped in (0, -1)

    Audit(EgressConfig(), tmp_path / "case").run([pcap])
    (flow,) = _records(tmp_path / "case" / "flows.jsonl")
    assert flow["service"] == "http,tls"
    tls = flow["tls"]
    assert tls["server_name"] == NAME and tls["version"] == "TLSv12"
    assert "http/1.1" in tls["alpn"] and tls["server_alpn"] == "http/1.1"
    assert tls["subject"] == f"O=示例数据有限公司, CN={NAME}" and tls["ja3"] and tls["ja4"]
    objects = _records(tmp_path / "case" / "objects.jsonl")
    tunnels = {o["object"]["direction"]: o["object"] for o in objects}
    assert tunnels["upload"]["tunnel"] == "connect"
    assert tunnels["upload"]["url"]["domain"] == tunnels["download"]["url"]["domain"] == NAME
    assert "encrypted" in tunnels["download"]["flags"]
    # every tunnelled byte is counted although the flow stopped copying them after the
    # handshake: the same sizes as when the payload is copied to the end
    assert tunnels["download"]["encoded_bytes"] > len(BODY)
    per_packet = Audit(EgressConfig(), tmp_path / "per-packet")
    per_packet.batch = 0  # the per-packet path discards the same way as the batch path
    per_packet.run([pcap])
    for name in ("flows.jsonl", "objects.jsonl"):
        assert [
            {k: v for k, v in r.items() if k != "observer"}
            for r in _records(tmp_path / "per-packet" / name)
        ] == [
            {k: v for k, v in r.items() if k != "observer"}
            for r in _records(tmp_path / "case" / name)
        ]
    monkeypatch.setattr(HttpTransfers, "payload_done", property(lambda self: False))
    Audit(EgressConfig(), tmp_path / "copied").run([pcap])
    copied = {
        o["object"]["direction"]: o["object"]["encoded_bytes"]
        for o in _records(tmp_path / "copied" / "objects.jsonl")
    }
    assert copied == {d: o["encoded_bytes"] for d, o in tunnels.items()}
