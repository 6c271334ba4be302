"""End to end: an HTTP upload larger than ``limits.max_object_bytes`` in a generated capture.

The bytes past the limit are inspected in stream mode (``detectors.streaming``): the alert counts
the same people as an audit whose limit holds the whole upload, the object says which bytes were
read how, and a hole in the capture is counted on the object.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Any

from bench.traffic.people import SyntheticPeople
from sensor.audit import Audit
from sensor.config import EgressConfig
from tests import smbbytes as smb
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record, tcp_dialogue

HOME, ABROAD = "10.0.0.5", "8.8.8.8"
LIMIT = 16 << 10
SEGMENT = 1400


def _body(people: int) -> bytes:
    gen = SyntheticPeople(21)
    rng = random.Random(21)
    lines = []
    for _ in range(people):
        p = gen.person()
        lines.append(f"{'note ' * rng.randint(5, 60)} 身份证号 {p.resident_id} 手机 {p.mobile}\n")
    return "".join(lines).encode()


def _capture(body: bytes, drop_segment: int | None = None, request: bytes = b"") -> bytes:
    request = (
        request
        or (
            b"POST /upload HTTP/1.1\r\nHost: files.example\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        + body
    )
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    c, s = 40000, 80
    frames = [
        ethernet_ipv4_tcp(HOME, ABROAD, c, s, 99, 0x02),
        ethernet_ipv4_tcp(ABROAD, HOME, s, c, 499, 0x12),
    ]
    for n, at in enumerate(range(0, len(request), SEGMENT)):
        if n != drop_segment:
            piece = request[at : at + SEGMENT]
            frames.append(ethernet_ipv4_tcp(HOME, ABROAD, c, s, 100 + at, 0x18, piece))
    frames += [
        ethernet_ipv4_tcp(ABROAD, HOME, s, c, 500, 0x18, response),
        ethernet_ipv4_tcp(HOME, ABROAD, c, s, 100 + len(request), 0x11),
        ethernet_ipv4_tcp(ABROAD, HOME, s, c, 500 + len(response), 0x11),
    ]
    return global_header() + b"".join(
        record(f, ts=1_700_000_000, frac=i) for i, f in enumerate(frames)
    )


def _audit(tmp_path: Path, name: str, pcap: bytes, **limits: Any) -> tuple[dict, dict]:  # type: ignore[type-arg]
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(pcap)
    out = tmp_path / name
    config = EgressConfig.model_validate({"limits": limits})
    Audit(config, out).run([path])
    alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    objects = [json.loads(x) for x in (out / "objects.jsonl").read_text().splitlines()]
    upload = next(o for o in objects if o["object"]["direction"] == "upload")
    assert len(alerts) <= 1
    return (alerts[0] if alerts else {}), upload


def _people(alert: dict) -> int:  # type: ignore[type-arg]
    found: int = alert["individuals"]["distinct"]
    return found


def test_upload_past_the_limit_counts_everyone(tmp_path: Path) -> None:
    body = _body(400)
    assert len(body) > 4 * LIMIT
    pcap = _capture(body)
    whole, _ = _audit(tmp_path, "whole", pcap, max_object_bytes=len(body) + 1)
    streamed, obj = _audit(tmp_path, "streamed", pcap, max_object_bytes=LIMIT)
    cut, _ = _audit(tmp_path, "cut", pcap, max_object_bytes=LIMIT, stream_past_limit=False)
    assert _people(whole) == 400
    assert _people(streamed) == _people(whole)
    assert _people(cut) < 100  # without stream mode only the kept head is read
    flags = obj["object"]["flags"]
    assert "truncated" in flags
    assert f"inspected:block=0-{LIMIT}" in flags
    assert f"inspected:stream={LIMIT}-{len(body)}" in flags
    assert obj["object"]["kept_bytes"] == LIMIT


def test_a_hole_in_the_upload_is_counted_and_the_rest_still_read(tmp_path: Path) -> None:
    body = _body(400)
    pcap = _capture(body, drop_segment=len(body) // SEGMENT // 2)
    alert, obj = _audit(tmp_path, "hole", pcap, max_object_bytes=LIMIT)
    assert "stream:gaps=1" in obj["object"]["flags"]
    assert obj["object"]["gap_bytes"] == SEGMENT
    assert 390 <= _people(alert) < 400  # the people in the missing segment are not seen


def _csv(people: int) -> bytes:
    """A CSV export where a third of the rows name their person by e-mail only: read as free
    text the stream part would count only the kind with most values."""
    gen = SyntheticPeople(33)
    lines = ["姓名,身份证号,手机号,邮箱"]
    for i in range(people):
        p = gen.person()
        cells = [(p.resident_id, p.mobile, p.email), ("", p.mobile, ""), ("", "", p.email)][i % 3]
        lines.append(",".join([p.name, *cells]))
    return ("\n".join(lines) + "\n").encode()


def test_a_csv_upload_past_the_limit_is_counted_by_rows(tmp_path: Path) -> None:
    body = _csv(2400)
    assert len(body) > 3 * LIMIT
    pcap = _capture(body)
    whole, _ = _audit(tmp_path, "whole", pcap, max_object_bytes=len(body) + 1)
    streamed, obj = _audit(tmp_path, "streamed", pcap, max_object_bytes=LIMIT)
    assert _people(whole) == 2400
    assert _people(streamed) == 2400
    assert "stream:table=csv" in obj["object"]["flags"]


# --- SMB: a file written front to back, larger than the limit ------------------------------------

SMB_FID = bytes(range(1, 17))
SMB_WRITE = 4096


def _smb_capture(body: bytes, skip_write: int | None = None) -> bytes:
    """A client on port 445 writes ``body`` in 4 KiB WRITEs at rising offsets, then closes; the
    WRITE number ``skip_write`` is missing from the capture (the stream then has a hole)."""
    messages: list[tuple[bool, bytes]] = [
        (False, smb.nbss(smb.negotiate_response(0, 0x0311))),
        (True, smb.nbss(smb.session_setup_request(1, smb.ntlmssp_authenticate("bob", "CORP")))),
        (True, smb.nbss(smb.tree_connect_request(2, "\\\\files.example\\hr"))),
        (False, smb.nbss(smb.tree_connect_response(2, tree_id=7))),
        (True, smb.nbss(smb.create_request(3, "export.txt", tree_id=7))),
        (False, smb.nbss(smb.create_response(3, SMB_FID, tree_id=7))),
    ]
    mid = 4
    for n, at in enumerate(range(0, len(body), SMB_WRITE)):
        piece = body[at : at + SMB_WRITE]
        if n != skip_write:
            messages.append((True, smb.nbss(smb.write_request(mid, SMB_FID, at, piece, tree_id=7))))
        mid += 1
    messages += [
        (True, smb.nbss(smb.close_request(mid, SMB_FID, tree_id=7))),
        (False, smb.nbss(smb.close_response(mid))),
    ]
    return tcp_dialogue((HOME, 40001), (ABROAD, 445), messages, SEGMENT)


def test_smb_file_past_the_limit_counts_everyone(tmp_path: Path) -> None:
    body = _body(400)
    pcap = _smb_capture(body)
    whole, _ = _audit(tmp_path, "smb-whole", pcap, max_object_bytes=len(body) + 1)
    streamed, obj = _audit(tmp_path, "smb-streamed", pcap, max_object_bytes=LIMIT)
    cut, cut_obj = _audit(
        tmp_path, "smb-cut", pcap, max_object_bytes=LIMIT, stream_past_limit=False
    )
    assert obj["network"]["protocol"] == "smb"
    assert _people(whole) == 400
    assert _people(streamed) == _people(whole)
    assert _people(cut) < 100
    flags = obj["object"]["flags"]
    assert "truncated" in flags
    assert f"inspected:stream={LIMIT}-{len(body)}" in flags
    assert obj["object"]["kept_bytes"] == LIMIT
    assert obj["object"]["size"] == len(body)
    assert obj["object"]["sha256"] == hashlib.sha256(body).hexdigest()  # every byte seen
    assert cut_obj["object"]["size"] == LIMIT  # without stream mode the rest is dropped


def test_smb_hole_past_the_limit_is_counted_and_the_rest_still_read(tmp_path: Path) -> None:
    body = _body(400)
    missing = len(body) // SMB_WRITE // 2  # a WRITE well past the 16 KiB limit
    alert, obj = _audit(tmp_path, "smb-hole", _smb_capture(body, missing), max_object_bytes=LIMIT)
    assert "stream:gaps=1" in obj["object"]["flags"]
    assert obj["object"]["gap_bytes"] == SMB_WRITE
    assert obj["object"]["size"] == len(body) - SMB_WRITE
    assert 380 <= _people(alert) < 400  # the people in the missing WRITE are not seen


# --- HTTP: a chunked, gzip-encoded upload larger than the limit once decoded ---------------------


def _chunked_gzip_capture(body: bytes) -> bytes:
    """``body`` gzip-compressed, sent chunked (4 KiB chunks); the capture of ``_capture`` with
    this request instead of the plain one."""
    packed = gzip.compress(body, mtime=0)
    chunks = b"".join(
        b"%x\r\n" % len(packed[at : at + 4096]) + packed[at : at + 4096] + b"\r\n"
        for at in range(0, len(packed), 4096)
    )
    request = (
        b"POST /upload HTTP/1.1\r\nHost: files.example\r\nContent-Type: text/plain\r\n"
        b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    return _capture(b"", request=request)


def test_a_chunked_gzip_upload_streams_its_decoded_bytes_past_the_limit(tmp_path: Path) -> None:
    body = _body(400)
    pcap = _chunked_gzip_capture(body)
    assert len(pcap) < len(body)  # compressed on the wire, past the limit once decoded
    whole, _ = _audit(tmp_path, "gz-whole", pcap, max_object_bytes=len(body) + 1)
    streamed, obj = _audit(tmp_path, "gz-streamed", pcap, max_object_bytes=LIMIT)
    assert _people(whole) == 400
    assert _people(streamed) == _people(whole)
    assert f"inspected:stream={LIMIT}-{len(body)}" in obj["object"]["flags"]
    assert obj["object"]["size"] == len(body)
    assert obj["object"]["sha256"] == hashlib.sha256(body).hexdigest()
