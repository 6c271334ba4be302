"""Real HTTP traffic on loopback, captured with tcpdump and audited.

A threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port) answers gzip, deflate, br and zstd encoded
and chunked downloads and accepts uploads; ``http.client`` (one keep-alive connection: downloads,
a multipart upload, a form, JSON) and a raw socket (three pipelined requests) talk to it while
``tcpdump -i lo`` records that port only. Every body the server sent or received must come back as an object with the right
direction, method and URL. Skipped without tcpdump or the right to capture.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import brotli  # type: ignore[import-untyped]
import pytest
import zstandard

from sensor.audit import Audit
from sensor.config import EgressConfig

DATA = b"name,resident_id,phone\n" + b"".join(
    b"person%04d,11010519491231002X,1380013%04d\n" % (i, i) for i in range(400)
)
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}
RECEIVED: list[bytes] = []

pytestmark = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0,
    reason="needs tcpdump and root to capture on loopback",
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/enc/"):
            coding = self.path.rsplit("/", 1)[1]
            body = ENCODERS[coding](DATA)
            self._send(body, {"Content-Encoding": coding, "Content-Type": "text/csv"})
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(DATA), 1000):
                piece = DATA[i : i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Checksum: none\r\n\r\n")
        else:
            self._send(f"page {self.path}".encode(), {"Content-Type": "text/plain"})

    def do_POST(self) -> None:
        RECEIVED.append(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(b"stored", {"Content-Type": "text/plain"})

    def _send(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def _start_tcpdump(port: int, path: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "lo",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-s",
            "0",
            "-w",
            str(path),
            f"tcp port {port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 15
    line = b""
    while time.monotonic() < deadline and b"listening on" not in line:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.skip("tcpdump could not capture on lo")
    return proc


def _stop_tcpdump(proc: subprocess.Popen[bytes]) -> None:
    time.sleep(0.5)  # let the last packets reach the file
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    """One request on the kept-alive connection; returns the response body as sent."""
    all_headers = dict(headers or {})
    if content_type:
        all_headers["Content-Type"] = content_type
    conn.request(method, path, body=body, headers=all_headers)
    response = conn.getresponse()
    assert response.status == 200
    return response.read()


def _pipelined(port: int) -> bytes:
    """Three requests in one write; the last closes the connection. Returns all response bytes."""
    heads = [f"GET /p{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n" for i in range(3)]
    heads[-1] += "Connection: close\r\n"
    requests_bytes = "".join(head + "\r\n" for head in heads).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(requests_bytes)
        received = b""
        for _ in range(1000):  # bounded: the server closes after the third response
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


@pytest.fixture(scope="module")
def audited(server: int, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("loopback")
    pcap = tmp / "lo.pcap"
    proc = _start_tcpdump(server, pcap)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)  # one keep-alive
        for coding in ENCODERS:
            assert _call(conn, "GET", f"/enc/{coding}", headers={"Accept-Encoding": coding})
        assert _call(conn, "GET", "/chunked") == DATA
        boundary = "----egressLoopback"
        multipart = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nquarterly\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="staff.csv"'
                "\r\nContent-Type: text/csv\r\n\r\n"
            ).encode()
            + DATA
            + f"\r\n--{boundary}--\r\n".encode()
        )
        _call(conn, "POST", "/upload", multipart, f"multipart/form-data; boundary={boundary}")
        form = urlencode({"name": "张三", "id": "11010519491231002X"}).encode()
        _call(conn, "POST", "/form", form, "application/x-www-form-urlencoded")
        _call(conn, "POST", "/api", json.dumps({"name": "张三"}).encode(), "application/json")
        conn.close()
        assert _pipelined(server).count(b"HTTP/1.1 200") == 3
    finally:
        _stop_tcpdump(proc)
    out = tmp / "case"
    summary = Audit(EgressConfig(), out, extract_objects=True).run([pcap])
    assert summary["counts"]["flows"] == 2  # the keep-alive connection and the pipelined one
    assert summary["anomalies"] == {}
    records = [json.loads(line) for line in (out / "objects.jsonl").read_text().splitlines()]
    assert len({r["flow"]["id"] for r in records}) == 2
    return [r["object"] for r in records]


def _find(objects: list[dict[str, object]], direction: str, path: str) -> list[dict[str, object]]:
    return [o for o in objects if o["direction"] == direction and o["url"]["path"] == path]  # type: ignore[index]


def test_encoded_downloads_decode_to_the_served_data(audited: list[dict[str, object]]) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    for coding in ENCODERS:
        (obj,) = _find(audited, "download", f"/enc/{coding}")
        assert (obj["sha256"], obj["content_encoding"], obj["method"]) == (digest, coding, "GET")
        assert obj["flags"] == ["complete"]
    (chunked,) = _find(audited, "download", "/chunked")
    assert chunked["sha256"] == digest and chunked["detected_type"] == "csv"


def test_uploads_match_what_the_server_received(audited: list[dict[str, object]]) -> None:
    parts = _find(audited, "upload", "/upload")
    assert [(p["field_name"], p["filename"]) for p in parts] == [
        ("note", ""),
        ("upload", "staff.csv"),
    ]
    assert parts[1]["sha256"] == hashlib.sha256(DATA).hexdigest()
    received = {hashlib.sha256(body).hexdigest() for body in RECEIVED}
    for path in ("/form", "/api"):
        (obj,) = _find(audited, "upload", path)
        assert obj["sha256"] in received and obj["method"] == "POST"


def test_pipelined_responses_pair_with_their_requests(audited: list[dict[str, object]]) -> None:
    for i in range(3):
        (obj,) = _find(audited, "download", f"/p{i}")
        assert obj["sha256"] == hashlib.sha256(f"page /p{i}".encode()).hexdigest()
