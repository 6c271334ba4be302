"""Sans-IO HTTP/1.x request parser: every fixture whole, byte by byte and in random cuts."""

import random

import pytest

from sensor.protocols.http1 import (
    BodyData,
    BodyGap,
    Http1RequestParser,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
)


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


def test_connect_switches_to_tunnel() -> None:
    parser = Http1RequestParser()
    parser.feed(b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n\x16\x03\x01binary")
    assert parser.state == "tunnel"
    assert parser.feed(b"more tls") == []
    assert parser.tunnelled_bytes == len(b"\x16\x03\x01binary") + len(b"more tls")


def test_oversized_head_is_bounded() -> None:
    parser = Http1RequestParser()
    events = parser.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000)
    assert any(isinstance(e, ParseAnomaly) and e.name == "http.head_too_large" for e in events)
    assert parser.state == "desync"
