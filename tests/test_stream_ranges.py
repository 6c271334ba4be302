"""End to end: a file larger than ``limits.max_object_bytes`` downloaded in HTTP ranges.

A client abroad fetches a CSV-like text of synthetic people from a home server in 8 KiB ranges
over two connections whose responses complete out of order. The ranges past the limit are read in
file offset order by one stream scanner (``sensor.protocols.http_range_stream``): one alert counts
every person, as an audit whose limit holds the whole file does, also those whose line is cut
between two ranges; a repeated range is counted, a missing one is a gap.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record
from tests.test_stream_audit import LIMIT, SEGMENT, _body

SERVER, CLIENT = "10.0.0.5", "8.8.8.8"  # a home server, a client abroad: the download is an export
RANGE = 8 << 10


def _ranges(size: int) -> list[tuple[int, int]]:
    return [(a, min(a + RANGE, size)) for a in range(0, size, RANGE)]


def _exchange(body: bytes, first: int, end: int) -> tuple[bytes, bytes]:
    request = b"GET /export.csv HTTP/1.1\r\nHost: files.example\r\nRange: bytes=%d-%d\r\n\r\n" % (
        first,
        end - 1,
    )
    response = (
        b'HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\nETag: "v1"\r\n'
        b"Content-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n"
        % (first, end - 1, len(body), end - first)
    ) + body[first:end]
    return request, response


def _capture(body: bytes, order: list[tuple[int, int]]) -> bytes:
    """Range ``order[i]`` goes over connection ``i % 2``; each exchange is written whole before
    the next, so the ranges complete in ``order``."""
    ports = (40000, 40001)
    seq = {(p, side): 100 if side else 500 for p in ports for side in (True, False)}
    frames = []
    for port in ports:
        frames.append(ethernet_ipv4_tcp(CLIENT, SERVER, port, 80, 99, 0x02))
        frames.append(ethernet_ipv4_tcp(SERVER, CLIENT, 80, port, 499, 0x12))
    for n, (first, end) in enumerate(order):
        port = ports[n % 2]
        for from_client, data in zip((True, False), _exchange(body, first, end), strict=True):
            src, dst, sp, dp = (
                (CLIENT, SERVER, port, 80) if from_client else (SERVER, CLIENT, 80, port)
            )
            for at in range(0, len(data), SEGMENT):
                piece = data[at : at + SEGMENT]
                frames.append(
                    ethernet_ipv4_tcp(src, dst, sp, dp, seq[port, from_client], 0x18, piece)
                )
                seq[port, from_client] += len(piece)
    for port in ports:
        frames.append(ethernet_ipv4_tcp(CLIENT, SERVER, port, 80, seq[port, True], 0x11))
        frames.append(ethernet_ipv4_tcp(SERVER, CLIENT, 80, port, seq[port, False], 0x11))
    return global_header() + b"".join(
        record(f, ts=1_700_000_000, frac=i) for i, f in enumerate(frames)
    )


def _audit(tmp_path: Path, name: str, pcap: bytes, **limits: Any) -> dict[str, Any]:
    from sensor.audit import Audit
    from sensor.config import EgressConfig

    path = tmp_path / f"{name}.pcap"
    path.write_bytes(pcap)
    out = tmp_path / name
    Audit(EgressConfig.model_validate({"limits": limits}), out).run([path])
    read = lambda f: [json.loads(x) for x in (out / f).read_text().splitlines()]  # noqa: E731
    summary = json.loads((out / "summary.json").read_text())
    return {"alerts": read("alerts.jsonl"), "objects": read("objects.jsonl"), "summary": summary}


def _file(result: dict[str, Any]) -> dict[str, Any]:
    (obj,) = [o for o in result["objects"] if "range_stitched" in o["object"]["flags"]]
    return obj["object"]  # type: ignore[no-any-return]


def _anomaly(result: dict[str, Any], name: str) -> int:
    found: int = result["summary"]["anomalies"].get(name, {}).get("count", 0)
    return found


def _swapped(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each pair of ranges completes second first (the faster connection)."""
    order = []
    for k in range(0, len(ranges), 2):
        order += ranges[k : k + 2][::-1]
    return order


def _people_in(body: bytes, first: int, end: int) -> tuple[int, int]:
    """Lines (one person each) wholly inside ``[first, end)`` and touching it."""
    inside = touching = 0
    at = 0
    for line in body.splitlines(keepends=True):
        a, b = at, at + len(line)
        inside += first <= a and b <= end
        touching += a < end and first < b
        at = b
    return inside, touching


def test_a_ranged_download_past_the_limit_counts_everyone(tmp_path: Path) -> None:
    body = _body(400)
    people = body.count(b"\n")
    ranges = _ranges(len(body))
    assert len(body) > 4 * LIMIT and len(ranges) > 8
    order = _swapped(ranges)
    order.insert(5, ranges[3])  # a retry of a range already read
    pcap = _capture(body, order)
    whole = _audit(tmp_path, "whole", pcap, max_object_bytes=len(body) + 1)
    streamed = _audit(tmp_path, "streamed", pcap, max_object_bytes=LIMIT)
    (alert,) = streamed["alerts"]
    assert whole["alerts"][0]["individuals"]["distinct"] == people
    assert alert["individuals"]["distinct"] == people
    obj = _file(streamed)
    assert obj["size"] == len(body) and obj["kept_bytes"] == LIMIT and obj["gap_bytes"] == 0
    assert obj["sha256"] == hashlib.sha256(body).hexdigest()
    assert {"range_streamed", "range_overlap", "truncated"} <= set(obj["flags"])
    assert f"inspected:stream={LIMIT}-{len(body)}" in obj["flags"]
    assert _anomaly(streamed, "http.range_overlap") == 1
    assert _anomaly(streamed, "http.range_streamed_past_limit") == 1


def test_a_missing_range_past_the_limit_is_a_gap(tmp_path: Path) -> None:
    body = _body(400)
    people = body.count(b"\n")
    ranges = _ranges(len(body))
    missing = ranges[len(ranges) // 2]
    assert missing[0] > LIMIT
    pcap = _capture(body, [r for r in _swapped(ranges) if r != missing])
    result = _audit(tmp_path, "hole", pcap, max_object_bytes=LIMIT)
    (alert,) = result["alerts"]
    obj = _file(result)
    gap = missing[1] - missing[0]
    assert obj["gap_bytes"] == gap and obj["size"] == len(body) - gap
    assert "stream:gaps=1" in obj["flags"] and "range_holes" in obj["flags"]
    inside, touching = _people_in(body, *missing)
    assert people - touching <= alert["individuals"]["distinct"] <= people - inside
