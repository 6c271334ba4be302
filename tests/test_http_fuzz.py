"""Fuzzing the Sans-IO pieces with hypothesis: hostile bytes in any cut never raise, and what
comes out is bounded by what went in (mitmproxy's test_http_fuzz does the same for its layers)."""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.content.encoding import ContentDecoder
from sensor.content.multipart import MultipartParser, PartData
from sensor.protocols.http import BodyData, Http1Connection, Side

_TOKENS = [
    b"GET / HTTP/1.1\r\n", b"POST /u HTTP/1.0\r\n", b"CONNECT h:1 HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n", b"HTTP/1.1 101 Switching\r\n", b"HTTP/1.0 204 x\r\n",
    b"Content-Length: 5\r\n", b"Content-Length: \xb2\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Upgrade: websocket\r\n", b"Content-Length: 99999999999999999999\r\n", b"5\r\n", b"1_0\r\n",
    b"0\r\n", b"\r\n", b"\n", b"hello", b" folded\r\n", b":", b"\x00\xff",
]  # fmt: skip
_stream = st.lists(st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=20)), max_size=30)
_cuts = st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=10)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    out, at, i = [], 0, 0
    while at < len(data):
        out.append(data[at : at + cuts[i % len(cuts)]])
        at += cuts[i % len(cuts)]
        i += 1
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(client=_stream, server=_stream, cuts=_cuts, gap_at=st.integers(min_value=-1, max_value=5))
def test_connection_never_raises_and_bodies_are_bounded(
    client: list[bytes], server: list[bytes], cuts: list[int], gap_at: int
) -> None:
    conn = Http1Connection()
    up, down = b"".join(client), b"".join(server)
    body = 0
    for side, stream in ((Side.CLIENT, up), (Side.SERVER, down)):
        for i, piece in enumerate(_pieces(stream, cuts)):
            if i == gap_at:
                conn.gap(side, 7)
            body += sum(len(e.data) for e in conn.feed(side, piece) if isinstance(e, BodyData))
    for side in (Side.CLIENT, Side.SERVER):
        body += sum(len(e.data) for e in conn.close(side) if isinstance(e, BodyData))
    assert body <= len(up) + len(down)


@settings(max_examples=200, deadline=None)
@given(body=_stream, cuts=_cuts)
def test_multipart_never_raises(body: list[bytes], cuts: list[int]) -> None:
    raw = b"".join(body).replace(b"hello", b"--b")
    parser = MultipartParser(b"b")
    events = []
    for piece in _pieces(raw, cuts):
        events += parser.feed(piece)
    events += parser.close()
    assert sum(len(e.data) for e in events if isinstance(e, PartData)) <= len(raw)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.binary(max_size=64),
    codings=st.lists(
        st.sampled_from(["gzip", "deflate", "br", "zstd", "x-gzip", "bogus"]), max_size=3
    ),
    cuts=_cuts,
)
def test_decoder_never_raises_on_garbage(
    prefix: bytes, codings: list[str], cuts: list[int]
) -> None:
    raw = prefix + gzip.compress(b"data" * 50)[: len(prefix)]
    decoder = ContentDecoder(codings, 10_000)
    out = b"".join(decoder.feed(p) for p in _pieces(raw, cuts)) + decoder.finish()
    assert len(out) <= max(10_000, len(raw))
