"""End to end: an HTTP upload larger than ``limits.max_object_bytes`` in a generated capture.

The bytes past the limit are inspected in stream mode (``detectors.streaming``): the alert counts
the same people as an audit whose limit holds the whole upload, the object says which bytes were
read how, and a hole in the capture is counted on the object.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bench.traffic.people import SyntheticPeople
from sensor.audit import Audit
from sensor.config import EgressConfig
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record

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


def _capture(body: bytes, drop_segment: int | None = None) -> bytes:
    request = (
        b"POST /upload HTTP/1.1\r\nHost: files.example\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
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
