"""Sans-IO HTTP/1.x request parser: every fixture whole, byte by byte and in random cuts."""

import random

import pytest

from sensor.protocols.http import (
    BodyData,
    BodyGap,
    Http1RequestParser,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    TunnelStart,
)
from sensor.protocols.http.framing import MAX_HEADERS, MAX_TRAILER_BYTES
from sensor.protocols.http.requests import SWITCH_WAIT_BYTES


def _feed(chunks: list[bytes]) -> list[HttpEvent]:
    parser = Http1RequestParser()
    events: list[HttpEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def _split_ways(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(raw)), min(8, len(raw) - 1)))
    random_cut = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], random_cut]


def _summarise(events: list[HttpEvent]) -> list[tuple[str, bytes, bool]]:
    """(target, body, complete) per message."""
    out, target, body = [], "", bytearray()
    for event in events:
        if isinstance(event, RequestHead):
            target, body = event.target, bytearray()
        elif isinstance(event, BodyData):
            body += event.data
        elif isinstance(event, MessageEnd):
            out.append((target, bytes(body), event.complete))
    return out


POST = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
)


@pytest.mark.parametrize("raw,expected", [
    (POST, [("/up", b"hello world", True)]),
    (CHUNKED, [("/c", b"hello world", True)]),
    (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + POST, [("/a", b"", True), ("/up", b"hello world", True)]),
])  # fmt: skip
def test_messages_survive_any_split(raw: bytes, expected: list[tuple[str, bytes, bool]]) -> None:
    for chunks in _split_ways(raw):
        assert _summarise(_feed(chunks)) == expected


def test_head_fields() -> None:
    head = next(e for e in _feed([POST]) if isinstance(e, RequestHead))
    assert (head.method, head.target, head.version) == ("POST", "/up", "HTTP/1.1")
    assert head.header("content-length") == "11"


def test_transfer_encoding_wins_over_content_length_and_is_flagged() -> None:
    raw = (
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"b\r\nhello world\r\n0\r\n\r\n"
    )
    events = _feed([raw])
    assert _summarise(events) == [("/", b"hello world", True)]
    assert ParseAnomaly("http.te_and_content_length", "chunked framing used") in events


def test_conflicting_content_lengths_are_an_anomaly() -> None:
    raw = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"
    events = _feed([raw])
    assert any(
        isinstance(e, ParseAnomaly) and e.name == "http.conflicting_content_length" for e in events
    )


def test_truncated_body_is_incomplete() -> None:
    assert _summarise(_feed([POST[:-4]])) == [("/up", b"hello w", False)]


def test_gap_inside_body_is_reported_and_message_completes() -> None:
    parser = Http1RequestParser()
    events = parser.feed(POST[:-6]) + parser.gap(3) + parser.feed(b"rld")
    assert BodyGap(3) in events
    assert events[-1] == MessageEnd(True)


def test_gap_in_head_resynchronises_on_next_request() -> None:
    parser = Http1RequestParser()
    events = parser.feed(b"POST /x HTTP/1.1\r\nHo") + parser.gap(50)
    events += parser.feed(b"garbage\r\n" + POST)
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.gap_lost_sync" for e in events)
    assert _summarise(events) == [("/up", b"hello world", True)]


def test_connect_waits_for_the_answer_then_tunnels() -> None:
    parser = Http1RequestParser()
    parser.feed(b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n\x16\x03\x01binary")
    assert parser.state == "switch_wait"  # the proxy may still refuse
    assert parser.switch() == [TunnelStart("connect", confirmed=True)]
    assert parser.state == "tunnel"
    assert parser.feed(b"more tls") == []
    assert parser.tunnelled_bytes == len(b"\x16\x03\x01binary") + len(b"more tls")
    assert parser.tunnel_prefix.startswith(b"\x16\x03\x01")


def test_refused_upgrade_resumes_http() -> None:
    parser = Http1RequestParser()
    events = parser.feed(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n" + POST)
    assert parser.state == "switch_wait"
    events += parser.resume() + parser.close()
    assert _summarise(events) == [("/ws", b"", True), ("/up", b"hello world", True)]


def test_unanswered_connect_becomes_a_tunnel_at_the_hold_limit() -> None:
    parser = Http1RequestParser()
    events = parser.feed(b"CONNECT h:443 HTTP/1.1\r\n\r\n" + b"\x17" * (SWITCH_WAIT_BYTES + 1))
    assert TunnelStart("connect", confirmed=False) in events
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.switch_unanswered" for e in events)
    assert parser.state == "tunnel"


@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\nHost: x\n\n",  # bare LF line ends
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # stray CRLF before a request
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n b\r\n\r\n",  # obsolete line folding
])  # fmt: skip
def test_lenient_heads(raw: bytes) -> None:
    for chunks in _split_ways(raw):
        assert _summarise(_feed(chunks)) == [("/", b"", True)]


def test_folded_header_is_joined_and_counted() -> None:
    events = _feed([b"GET / HTTP/1.1\r\nX-Long: a\r\n b\r\n\r\n"])
    head = next(e for e in events if isinstance(e, RequestHead))
    assert head.header("x-long") == "a b"
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.obs_fold" for e in events)


def test_too_many_headers_are_bounded() -> None:
    raw = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(MAX_HEADERS + 5))
    events = _feed([raw + b"\r\n"])
    head = next(e for e in events if isinstance(e, RequestHead))
    assert len(head.headers) == MAX_HEADERS
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.too_many_headers" for e in events)


def test_gap_inside_a_chunk_is_a_body_gap() -> None:
    parser = Http1RequestParser()
    raw = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234"
    events = parser.feed(raw) + parser.gap(3) + parser.feed(b"89\r\n0\r\n\r\n")
    assert BodyGap(3) in events
    assert events[-1] == MessageEnd(True)


def test_oversized_trailers_are_bounded() -> None:
    raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: "
    events = _feed([raw + b"a" * (MAX_TRAILER_BYTES + 10)])
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.trailers_too_large" for e in events)
    assert MessageEnd(True) in events


def test_oversized_head_is_bounded() -> None:
    parser = Http1RequestParser()
    events = parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000)
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.head_too_large" for e in events)
    assert parser.state == "desync"
