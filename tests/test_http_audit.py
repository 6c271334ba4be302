"""Audit with HTTP objects: objects.jsonl, --extract-objects, and which downloads alert.

Downloads alert only when they are exports: the sender of a download is the server, so a server
at home answering a client abroad exports, and a foreign server answering a home client does not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sensor.audit import Audit
from sensor.config import EgressConfig
from tests.cli import run_egress
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record

ID = b"11010519491231002X"  # a valid resident ID (GB 11643 example)
HOME, ABROAD = "10.0.0.5", "8.8.8.8"  # internal network / US in the bundled GeoIP database


def _session(
    client: str, server: str, request: bytes, response: bytes, cport: int = 40000
) -> bytes:
    frames = [
        ethernet_ipv4_tcp(client, server, cport, 80, 99, 0x02),
        ethernet_ipv4_tcp(server, client, 80, cport, 499, 0x12),
        ethernet_ipv4_tcp(client, server, cport, 80, 100, 0x18, request),
        ethernet_ipv4_tcp(server, client, 80, cport, 500, 0x18, response),
        ethernet_ipv4_tcp(client, server, cport, 80, 100 + len(request), 0x11),
        ethernet_ipv4_tcp(server, client, 80, cport, 500 + len(response), 0x11),
    ]
    return b"".join(record(f, ts=1_700_000_000 + i) for i, f in enumerate(frames))


def _http(body_up: bytes, body_down: bytes) -> tuple[bytes, bytes]:
    request = b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body_up),
        body_up,
    )
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body_down), body_down)
    return request, response


def _audit(tmp_path: Path, pcap: bytes, extract: bool = False) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    path = tmp_path / "cap.pcap"
    path.write_bytes(global_header() + pcap)
    out = tmp_path / "case"
    Audit(EgressConfig(), out, extract_objects=extract).run([path])
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    objects = [json.loads(line) for line in (out / "objects.jsonl").read_text().splitlines()]
    return alerts, objects


def test_upload_from_home_alerts_download_from_abroad_does_not(tmp_path: Path) -> None:
    alerts, objects = _audit(
        tmp_path, _session(HOME, ABROAD, *_http(b"id=" + ID, b"your id " + ID))
    )
    assert [o["object"]["direction"] for o in objects] == ["upload", "download"]
    assert [
        (a["object"]["direction"], a["source"]["ip"], a["cross_border"]["is_export"])
        for a in alerts
    ] == [("upload", HOME, True)]


def test_download_to_a_client_abroad_is_an_export(tmp_path: Path) -> None:
    alerts, _ = _audit(tmp_path, _session(ABROAD, HOME, *_http(b"q=1", b"records: " + ID)))
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["object"]["direction"] == "download"
    assert (alert["source"]["ip"], alert["destination"]["ip"]) == (
        HOME,
        ABROAD,
    )  # sender -> receiver
    assert alert["cross_border"]["is_export"] is True


def test_objects_jsonl_holds_metadata_only(tmp_path: Path) -> None:
    _, objects = _audit(tmp_path, _session(HOME, ABROAD, *_http(b"id=" + ID, b"ok")))
    assert ID.decode() not in json.dumps(objects)
    upload = objects[0]
    assert upload["record_type"] == "object"
    assert upload["object"]["sha256"] == hashlib.sha256(b"id=" + ID).hexdigest()
    assert upload["object"]["size"] == len(b"id=" + ID)
    assert (upload["source"]["ip"], upload["destination"]["ip"]) == (HOME, ABROAD)
    assert objects[1]["object"]["status"] == 200
    assert upload["object"]["extracted"] is None


def test_extract_objects_names_files_by_sha256(tmp_path: Path) -> None:
    _, objects = _audit(tmp_path, _session(HOME, ABROAD, *_http(b"id=" + ID, b"ok")), extract=True)
    for obj in objects:
        path = tmp_path / "case" / obj["object"]["extracted"]
        assert path.name == obj["object"]["sha256"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
        assert path.stat().st_mode & 0o777 == 0o600  # raw data: owner only
    assert (tmp_path / "case" / "objects").stat().st_mode & 0o777 == 0o700


def test_cli_extract_objects_option(tmp_path: Path) -> None:
    pcap = tmp_path / "cap.pcap"
    pcap.write_bytes(global_header() + _session(HOME, ABROAD, *_http(b"hello", b"world")))
    result = run_egress("audit", pcap, "--out", tmp_path / "case", "--quiet", "--extract-objects")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "case" / "objects").iterdir())
    assert names == sorted(hashlib.sha256(b).hexdigest() for b in (b"hello", b"world"))
