"""The incremental MIME decoder (sensor/content/mime_stream.py) against the whole-message parser."""

from __future__ import annotations

import base64
import quopri
import random

import pytest

from sensor.content.mime import MimeLimits, parse_message
from sensor.content.mime_stream import SEPARATOR, MimeStreamDecoder

CSV = "".join(f"{i},张三,11010519491231002X,1380013{i:04d}\n" for i in range(120)).encode()
NOTE = ("备注 " * 30 + "身份证 11010519491231002X =end\n").encode("gbk")


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


INNER_MAIL = b"Subject: fwd\r\nContent-Type: text/plain\r\n\r\nforwarded 13800138000\r\n"
MAIL = (
    b'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="OUT"\r\n\r\npreamble\r\n'
    b"--OUT\r\nContent-Type: multipart/alternative; boundary=IN\r\n\r\n--IN\r\n"
    b"Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    + _crlf(quopri.encodestring(NOTE))
    + b"\r\n--IN--\r\n--OUT\r\nContent-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=a.csv\r\n\r\n"
    + _crlf(base64.encodebytes(CSV))
    + b"\r\n--OUT\r\nContent-Type: message/rfc822\r\n\r\n"
    + INNER_MAIL
    + b"--OUT--\r\nepilogue\r\n"
)


def _whole() -> bytes:
    """The leaves as the whole-message parser decodes them (text as UTF-8), one per line."""
    parts = parse_message(MAIL).parts
    return SEPARATOR.join(p.text if p.text is not None else p.body for p in parts)


def _streamed(pieces: list[bytes]) -> tuple[bytes, MimeStreamDecoder]:
    decoder = MimeStreamDecoder()
    out: list[bytes] = []
    for piece in pieces:
        out += decoder.feed(piece)
    out += decoder.finish()
    return b"".join(out), decoder


def test_the_leaves_decode_as_in_the_whole_message_parser_byte_by_byte() -> None:
    got, decoder = _streamed([MAIL[i : i + 1] for i in range(len(MAIL))])
    assert got.strip(b"\n") == _whole()
    assert decoder.stats.leaves == 3 and decoder.stats.anomalies == []
    assert CSV in got and NOTE.decode("gbk").strip().encode() in got


@pytest.mark.parametrize("seed", range(20))
def test_any_split_decodes_the_same(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(MAIL)), 40))
    pieces = [MAIL[a:b] for a, b in zip([0, *cuts], [*cuts, len(MAIL)], strict=True)]
    assert _streamed(pieces)[0].strip(b"\n") == _whole()


def test_cut_anywhere_the_tail_and_the_rest_make_the_whole_leaf_once() -> None:
    """What block mode decodes of a body cut at the limit (``tail``) and what the stream
    returns after it add up to the whole decoded body: nothing twice, nothing lost."""
    start = MAIL.index(b"Content-Type: text/csv")
    end = MAIL.index(b"--OUT\r\nContent-Type: message")
    for cut in range(start + 120, end, 7):
        decoder = MimeStreamDecoder()
        head = b"".join(decoder.feed(MAIL[:cut]))
        out = head + decoder.tail() + b"".join(decoder.feed(MAIL[cut:]) + decoder.finish())
        assert out.strip(b"\n") == _whole(), cut


def test_a_hole_resumes_at_the_next_base64_line() -> None:
    lines = _crlf(base64.encodebytes(CSV)).split(b"\r\n")
    at = MAIL.index(lines[10])  # a hole over the 11th base64 line, from its second byte
    decoder = MimeStreamDecoder()
    out = b"".join(decoder.feed(MAIL[: at + 1]) + decoder.gap(len(lines[10]) - 1))
    out += b"".join(decoder.feed(MAIL[at + len(lines[10]) :]) + decoder.finish())
    after = base64.b64decode(b"".join(lines[11:]))
    assert after in out and CSV[: 57 * 10] in out  # 57 decoded bytes per 76-character line
    assert decoder.stats.gaps == 1


def test_nesting_past_the_depth_limit_is_read_raw_and_counted() -> None:
    mail = b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
    mail += b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nid 11010519491231002X\r\n"
    mail += b"--B--\r\n--A--\r\n"
    decoder = MimeStreamDecoder(MimeLimits(max_depth=1))
    out = b"".join(decoder.feed(mail) + decoder.finish())
    assert b"11010519491231002X" in out and b"--B" in out  # the inner multipart, raw
    assert [name for name, _ in decoder.stats.anomalies] == ["mime.depth_limit"]


def test_a_header_block_past_its_bound_is_skipped_and_the_body_read_raw() -> None:
    mail = b"X-Long: " + b"a" * 5000 + b"\r\n" + b"\r\nbody 11010519491231002X\r\n"
    decoder = MimeStreamDecoder(MimeLimits(max_head_bytes=1000))
    out = b"".join(decoder.feed(mail[:3000]) + decoder.feed(mail[3000:]) + decoder.finish())
    assert b"11010519491231002X" in out
    assert "mime.head_too_large" in [name for name, _ in decoder.stats.anomalies]
