"""HTTP/1 responses and request/response pairing (Sans-IO): every exchange fed whole, one byte at
a time and in random cuts, client stream first as on the wire."""

from __future__ import annotations

import random

import pytest

from sensor.protocols.http import (
    BodyData,
    BodyGap,
    Http1Connection,
    Http1ResponseParser,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    ResponseHead,
    Side,
    TunnelStart,
)
from sensor.protocols.http.responses import MAX_PENDING_REQUESTS


def _split_ways(raw: bytes, seed: int = 7) -> list[list[bytes]]:
    if len(raw) < 2:
        return [[raw]]
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(raw)), min(8, len(raw) - 1)))
    random_cut = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], random_cut]


def _exchange(client: list[bytes], server: list[bytes]) -> tuple[list[HttpEvent], list[HttpEvent]]:
    conn = Http1Connection()
    up: list[HttpEvent] = []
    down: list[HttpEvent] = []
    for chunk in client:
        up += conn.feed(Side.CLIENT, chunk)
    for chunk in server:
        down += conn.feed(Side.SERVER, chunk)
    up += conn.close(Side.CLIENT)
    down += conn.close(Side.SERVER)
    return up, down


def _responses(events: list[HttpEvent]) -> list[tuple[int, str, bytes, bool]]:
    """(status, request target, body, complete) per final response."""
    out, status, target, body = [], 0, "", bytearray()
    for event in events:
        if isinstance(event, ResponseHead) and not event.interim:
            status, body = event.status, bytearray()
            target = event.request.target if event.request else ""
        elif isinstance(event, BodyData):
            body += event.data
        elif isinstance(event, MessageEnd):
            out.append((status, target, bytes(body), event.complete))
    return out


def _get(target: str, method: str = "GET", extra: bytes = b"") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: x\r\n".encode() + extra + b"\r\n"


OK_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
OK_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nDigest: abc\r\nX-More: 1\r\n\r\n"
)
OK_CLOSE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
NOT_MODIFIED = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
HEAD_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PARTIAL = b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-3/10\r\nContent-Length: 4\r\n\r\nabcd"

CASES = [
    ("length", _get("/a"), OK_LENGTH, [(200, "/a", b"hello", True)]),
    ("chunked+trailers", _get("/a"), OK_CHUNKED, [(200, "/a", b"hello", True)]),
    ("close-delimited", _get("/a"), OK_CLOSE, [(200, "/a", b"until the end", True)]),
    ("head has no body", _get("/h", "HEAD") + _get("/a"), HEAD_ANSWER + OK_LENGTH,
     [(200, "/h", b"", True), (200, "/a", b"hello", True)]),
    ("304 and 204", _get("/1") + _get("/2") + _get("/3"), NOT_MODIFIED + NO_CONTENT + OK_LENGTH,
     [(304, "/1", b"", True), (204, "/2", b"", True), (200, "/3", b"hello", True)]),
    ("pipelined", _get("/1") + _get("/2") + _get("/3"), OK_LENGTH + OK_CHUNKED + OK_CLOSE,
     [(200, "/1", b"hello", True), (200, "/2", b"hello", True), (200, "/3", b"until the end", True)]),
    ("100-continue", _get("/p", "POST", b"Expect: 100-continue\r\nContent-Length: 2\r\n") + b"hi",
     CONTINUE + OK_LENGTH, [(200, "/p", b"hello", True)]),
    ("range", _get("/r", extra=b"Range: bytes=0-3\r\n"), PARTIAL, [(206, "/r", b"abcd", True)]),
]  # fmt: skip


@pytest.mark.parametrize("name,client,server,expected", CASES, ids=[c[0] for c in CASES])
def test_responses_survive_any_split(
    name: str, client: bytes, server: bytes, expected: list[tuple[int, str, bytes, bool]]
) -> None:
    for client_chunks in _split_ways(client):
        for server_chunks in _split_ways(server, seed=len(client_chunks)):
            _, down = _exchange(client_chunks, server_chunks)
            assert _responses(down) == expected
            assert not [e for e in down if isinstance(e, ParseAnomaly)]


def test_interim_response_is_reported_and_keeps_the_request_waiting() -> None:
    _, down = _exchange([_get("/p", "POST", b"Content-Length: 0\r\n")], [CONTINUE + OK_LENGTH])
    heads = [e for e in down if isinstance(e, ResponseHead)]
    assert [(h.status, h.interim) for h in heads] == [(100, True), (200, False)]
    assert all(h.request is not None and h.request.method == "POST" for h in heads)


def test_response_head_knows_its_request() -> None:
    _, down = _exchange([_get("/file.pdf")], [OK_LENGTH])
    head = next(e for e in down if isinstance(e, ResponseHead))
    assert head.request is not None and head.request.target == "/file.pdf"
    assert head.header("content-length") == "5"


def test_response_without_request_is_counted_and_parsed() -> None:
    _, down = _exchange([], [OK_LENGTH])
    assert _responses(down) == [(200, "", b"hello", True)]
    assert ParseAnomaly("http.response_without_request", "200") in down


def test_connect_accepted_tunnels_both_sides() -> None:
    client = b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"
    conn = Http1Connection()
    up = conn.feed(Side.CLIENT, client + b"\x16\x03\x01hello")
    down = conn.feed(Side.SERVER, b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03srv")
    up += conn.feed(Side.CLIENT, b"more")
    assert TunnelStart("connect", confirmed=True) in up
    assert TunnelStart("connect", confirmed=True) in down
    assert conn.requests.tunnelled_bytes == len(b"\x16\x03\x01hello") + 4
    assert conn.responses.tunnel_prefix == b"\x16\x03\x03srv"
    assert not any(isinstance(e, BodyData) for e in up + down)


def test_connect_refused_resumes_http_on_the_client_side() -> None:
    client = b"CONNECT h:443 HTTP/1.1\r\n\r\n" + _get("/after")
    server = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n" + OK_LENGTH
    for client_chunks in _split_ways(client):
        up, down = _exchange(client_chunks, [server])
        targets = [e.target for e in up if isinstance(e, RequestHead)]
        assert targets == ["h:443", "/after"]
        assert _responses(down) == [(407, "h:443", b"", True), (200, "/after", b"hello", True)]
        assert not any(isinstance(e, TunnelStart) for e in up + down)


def test_websocket_upgrade_switches_on_101() -> None:
    client = _get("/chat", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
    server = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
    conn = Http1Connection()
    up = conn.feed(Side.CLIENT, client)
    down = conn.feed(Side.SERVER, server)
    up += conn.feed(Side.CLIENT, b"\x81\x85mask+data")
    assert TunnelStart("upgrade:websocket", confirmed=True) in down
    assert TunnelStart("upgrade:websocket", confirmed=True) in up
    assert conn.responses.tunnelled_bytes == 7


def test_gap_in_close_delimited_body_is_a_body_gap() -> None:
    parser = Http1ResponseParser()
    events = parser.feed(OK_CLOSE) + parser.gap(100) + parser.feed(b"more") + parser.close()
    assert BodyGap(100) in events
    assert events[-1] == MessageEnd(True)


def test_gap_between_responses_resynchronises_on_a_status_line() -> None:
    parser = Http1ResponseParser()
    events = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Le") + parser.gap(10)
    events += parser.feed(b"junk\r\n" + OK_LENGTH) + parser.close()
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.gap_lost_sync" for e in events)
    assert (200, "", b"hello", True) in _responses(events)


def test_truncated_response_is_incomplete() -> None:
    _, down = _exchange([_get("/a")], [OK_LENGTH[:-2]])
    assert _responses(down) == [(200, "/a", b"hel", False)]


def test_conflicting_content_lengths_lose_sync() -> None:
    server = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    _, down = _exchange([_get("/a")], [server])
    assert any(
        isinstance(e, ParseAnomaly) and e.name == "http.conflicting_content_length" for e in down
    )


def test_non_chunked_transfer_encoding_reads_until_close() -> None:
    server = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nrest of stream"
    _, down = _exchange([_get("/a")], [server])
    assert _responses(down) == [(200, "/a", b"rest of stream", True)]


def test_pending_requests_are_bounded() -> None:
    parser = Http1ResponseParser()
    head = RequestHead("GET", "/", "HTTP/1.1", ())
    events = []
    for _ in range(MAX_PENDING_REQUESTS + 3):
        events += parser.expect(head)
    assert parser.pending == MAX_PENDING_REQUESTS
    assert parser.overflowed_requests == 3
    assert len(events) == 3
