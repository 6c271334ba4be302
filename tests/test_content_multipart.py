"""Streaming multipart parser: boundary edge cases, every body whole, byte by byte and in random cuts."""

from __future__ import annotations

import random

import pytest

from sensor.content import multipart
from sensor.content.multipart import (
    MultipartAnomaly,
    MultipartEvent,
    MultipartParser,
    PartData,
    PartEnd,
    PartGap,
    PartStart,
    boundary_of,
    header_params,
)

B = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"


def _cuts(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(5)
    cuts = sorted(rng.sample(range(1, len(raw)), min(10, len(raw) - 1)))
    random_cut = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], random_cut]


def _parse(
    chunks: list[bytes], boundary: bytes = B
) -> tuple[list[MultipartEvent], MultipartParser]:
    parser = MultipartParser(boundary)
    events: list[MultipartEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close(), parser


def _parts(events: list[MultipartEvent]) -> list[tuple[str, str, bytes, bool]]:
    """(field name, filename, content, complete) per part."""
    out, name, filename, body = [], "", "", bytearray()
    for event in events:
        if isinstance(event, PartStart):
            name, filename, body = event.name, event.filename, bytearray()
        elif isinstance(event, PartData):
            body += event.data
        elif isinstance(event, PartEnd):
            out.append((name, filename, bytes(body), event.complete))
    return out


def _anomalies(events: list[MultipartEvent]) -> list[str]:
    return [e.name for e in events if isinstance(e, MultipartAnomaly)]


FORM = (
    b"--" + B + b"\r\n"
    b'Content-Disposition: form-data; name="user"\r\n\r\n'
    b"alice\r\n"
    b"--" + B + b"\r\n"
    b'Content-Disposition: form-data; name="file"; filename="id list.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\n"
    b"name,id\r\nbob,1\r\n--not-the-boundary\r\n\r\n"
    b"--" + B + b"--\r\n"
)  # fmt: skip
FORM_PARTS = [
    ("user", "", b"alice", True),
    ("file", "id list.csv", b"name,id\r\nbob,1\r\n--not-the-boundary\r\n", True),
]


def test_form_survives_any_split() -> None:
    for chunks in _cuts(FORM):
        events, parser = _parse(chunks)
        assert _parts(events) == FORM_PARTS
        assert parser.ended and not _anomalies(events)


def test_part_headers() -> None:
    events, _ = _parse([FORM])
    start = [e for e in events if isinstance(e, PartStart)][1]
    assert start.content_type == "text/csv"
    assert start.header(
        "content-disposition",
    ).startswith("form-data")


@pytest.mark.parametrize("body,expected", [
    # preamble and epilogue are ignored
    (b"preamble text\r\n--" + B + b"\r\n\r\nx\r\n--" + B + b"--\r\nepilogue", [("", "", b"x", True)]),
    # bare LF line ends
    (b"--" + B + b'\nContent-Disposition: form-data; name="a"\n\nv\n--' + B + b"--\n", [("a", "", b"v", True)]),
    # transport padding after the delimiter
    (b"--" + B + b"  \t\r\n\r\nv\r\n--" + B + b"--", [("", "", b"v", True)]),
    # empty part content, and a CR that is data rather than part of the delimiter
    (b"--" + B + b"\r\n\r\n\r\n--" + B + b"\r\n\r\na\r\r\n--" + B + b"--", [("", "", b"", True), ("", "", b"a\r", True)]),
])  # fmt: skip
def test_boundary_edge_cases(body: bytes, expected: list[tuple[str, str, bytes, bool]]) -> None:
    for chunks in _cuts(body):
        events, parser = _parse(chunks)
        assert _parts(events) == expected
        assert parser.ended


def test_missing_final_boundary_leaves_the_last_part_incomplete() -> None:
    body = FORM[: FORM.rindex(b"--" + B + b"--")]
    for chunks in _cuts(body):
        events, parser = _parse(chunks)
        parts = _parts(events)
        assert parts[0] == FORM_PARTS[0]
        assert parts[1][3] is False
        assert "multipart.missing_final_boundary" in _anomalies(events)
        assert not parser.ended


def test_body_cut_inside_part_headers() -> None:
    events, _ = _parse([b"--" + B + b"\r\nContent-Disposition: form-data; na"])
    assert _parts(events) == []
    assert "multipart.missing_final_boundary" in _anomalies(events)


def test_extended_filename_wins_and_utf8_names_decode() -> None:
    head = (
        b'Content-Disposition: form-data; name="f"; filename="fallback.txt"; '
        b"filename*=UTF-8''%E5%BC%A0%E4%B8%89.txt"
    )
    events, _ = _parse([b"--" + B + b"\r\n" + head + b"\r\n\r\nx\r\n--" + B + b"--"])
    assert _parts(events) == [("f", "张三.txt", b"x", True)]
    raw_utf8 = 'Content-Disposition: form-data; name="f"; filename="李四.pdf"'.encode()
    events, _ = _parse([b"--" + B + b"\r\n" + raw_utf8 + b"\r\n\r\nx\r\n--" + B + b"--"])
    assert _parts(events)[0][1] == "李四.pdf"


def test_gap_inside_a_part_keeps_the_part_with_a_hole() -> None:
    parser = MultipartParser(B)
    events = parser.feed(b"--" + B + b"\r\n\r\nhello ") + parser.gap(5)
    events += parser.feed(b" world\r\n--" + B + b"--") + parser.close()
    assert PartGap(5) in events
    assert _parts(events) == [("", "", b"hello  world", True)]


def test_gap_in_headers_resynchronises_on_the_next_delimiter() -> None:
    parser = MultipartParser(B)
    events = parser.feed(b"--" + B + b"\r\nContent-Dispo") + parser.gap(5)
    events += parser.feed(
        b"junk\r\n--" + B + b'\r\nContent-Disposition: form-data; name="b"\r\n\r\nv'
    )
    events += parser.feed(b"\r\n--" + B + b"--") + parser.close()
    assert "multipart.gap_lost_sync" in _anomalies(events)
    assert _parts(events) == [("b", "", b"v", True)]


def test_too_many_parts_keeps_the_rest_as_one_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multipart, "MAX_PARTS", 2)
    body = b"".join(b"--" + B + b"\r\n\r\nv%d\r\n" % i for i in range(4)) + b"--" + B + b"--"
    events, _ = _parse([body])
    parts = _parts(events)
    assert [p[2] for p in parts[:2]] == [b"v0", b"v1"]
    assert parts[2][2].startswith(b"v2\r\n--" + B) and parts[2][3]
    assert "multipart.too_many_parts" in _anomalies(events)


def test_oversized_part_head_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multipart, "MAX_PART_HEAD_BYTES", 100)
    events, _ = _parse([b"--" + B + b"\r\nX: " + b"a" * 200])
    assert "multipart.part_head_too_large" in _anomalies(events)


def test_nested_multipart_is_counted() -> None:
    inner = b"Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\nx\r\n--inner--"
    events, _ = _parse([b"--" + B + b"\r\n" + inner + b"\r\n--" + B + b"--"])
    assert "multipart.nested" in _anomalies(events)
    assert len(_parts(events)) == 1


def test_content_type_parameters() -> None:
    assert boundary_of('multipart/form-data; boundary="a b;c"') == b"a b;c"
    assert boundary_of("multipart/form-data; charset=utf-8; boundary=xyz") == b"xyz"
    assert boundary_of("multipart/form-data") is None
    assert boundary_of("text/plain; boundary=x") is None
    assert boundary_of("multipart/form-data; boundary=" + "x" * 300) is None
    assert header_params('attachment; filename="a\\"b.txt"') == (
        "attachment",
        {"filename": 'a"b.txt'},
    )
