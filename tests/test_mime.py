"""MIME splitting and decoding: Chinese charsets, RFC 2047/2231, nesting and limits."""

from __future__ import annotations

import base64
import binascii
import email.policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.content.mime import (
    MimeLimits,
    _base64_careful,
    _base64_fast,
    decode_base64,
    decode_words,
    parse_message,
    parse_params,
)


def test_encoded_words_in_chinese_charsets_and_split_characters() -> None:
    gbk = "季度报表".encode("gbk")
    # a GBK character split across two encoded words must be joined as bytes before decoding
    first = base64.b64encode(gbk[:3]).decode()
    second = base64.b64encode(gbk[3:]).decode()
    assert decode_words(f"=?GBK?B?{first}?= =?GBK?B?{second}?=") == "季度报表"
    big5 = "客戶資料".encode("big5")
    assert decode_words(f"Re: =?big5?B?{base64.b64encode(big5).decode()}?= x") == "Re: 客戶資料 x"
    gb18030 = "𠀀身份证".encode("gb18030")  # a four-byte GB18030 character
    assert decode_words(f"=?gb18030?B?{base64.b64encode(gb18030).decode()}?=") == "𠀀身份证"
    qp = binascii.b2a_qp("名单 2024".encode("gb2312"), header=True).decode()
    assert decode_words(f"=?gb2312?Q?{qp}?=") == "名单 2024"


def test_rfc2231_continuations_with_a_gbk_charset() -> None:
    name = "客户名单.xlsx".encode("gbk")
    pct = "".join(f"%{b:02X}" for b in name)
    value = f"attachment; filename*0*=gbk''{pct[:12]}; filename*1*={pct[12:]}"
    assert parse_params(value) == ("attachment", {"filename": "客户名单.xlsx"})
    # the extended form wins over the plain fallback, whatever the order
    both = f"attachment; filename=\"fallback.xlsx\"; filename*=UTF-8''{'%E5%90%8D.txt'}"
    assert parse_params(both)[1]["filename"] == "名.txt"


def test_base64_edge_cases() -> None:
    assert decode_base64(b"NA= =Mg ==") == (b"42", [])
    data, problems = decode_base64(b"aGVs*bG8g!d29y\r\nbGQ")
    assert data == b"hello world" and problems == [
        "mime.base64_invalid_chars",
        "mime.base64_truncated",
    ]


def _mail() -> bytes:
    msg = EmailMessage()
    msg["From"] = "张三 <zhang@example.cn>"
    msg["To"] = "li@example.com"
    msg["Subject"] = "客户资料"
    msg.set_content("正文：身份证号见附件", charset="gb2312")
    msg.add_alternative("<p>正文</p>", subtype="html", charset="utf-8")
    msg.add_attachment(
        "名字,电话\n".encode("gbk"), maintype="text", subtype="csv", filename="名单.csv"
    )
    msg.add_attachment(
        bytes(range(256)), maintype="application", subtype="octet-stream", filename="資料.bin"
    )
    return msg.as_bytes(policy=email.policy.SMTP)


def test_nested_message_parts_names_and_text_views() -> None:
    parsed = parse_message(_mail())
    assert parsed.subject == "客户资料" and parsed.header("From") == "张三 <zhang@example.cn>"
    assert [(p.path, p.content_type, p.filename) for p in parsed.parts] == [
        ("1.1", "text/plain", ""),
        ("1.2", "text/html", ""),
        ("2", "text/csv", "名单.csv"),
        ("3", "application/octet-stream", "資料.bin"),
    ]
    plain = parsed.parts[0]
    assert plain.charset == "gb2312" and plain.text is not None
    assert "身份证号".encode() in plain.text
    assert parsed.parts[3].body == bytes(range(256))
    assert parsed.anomalies == []


def test_raw_gbk_header_bytes_and_encoded_word_filenames() -> None:
    raw = (
        'Subject: 报表\r\nContent-Type: application/octet-stream; name="=?GBK?B?'
        + base64.b64encode("报表.zip".encode("gbk")).decode()
        + '?="\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n'
    ).encode("gbk")
    parsed = parse_message(raw)
    assert parsed.subject == "报表"
    assert parsed.parts[0].filename == "报表.zip" and parsed.parts[0].body == b"PK\x03\x04"


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    for level in range(depth):
        b = f"b{level}".encode()
        body = b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
        body += b"\r\n--" + b + b"--\r\n"
    return body


def test_depth_and_part_limits_keep_the_bytes_and_count() -> None:
    deep = parse_message(_nested(6), MimeLimits(max_depth=3))
    assert [name for name, _ in deep.anomalies] == ["mime.depth_limit"]
    assert deep.parts[0].flags == ["mime_depth_limit"] and b"leaf" in deep.parts[0].body
    many = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n" + b"".join(
        b"--x\r\n\r\npart %d\r\n" % i for i in range(10)
    )
    limited = parse_message(many + b"--x--\r\n", MimeLimits(max_parts=4))
    assert len(limited.parts) == 5 and limited.parts[-1].flags == ["mime_part_limit"]
    assert b"part 9" in limited.parts[-1].body
    assert ("mime.part_limit", "4 parts") in limited.anomalies


def test_missing_final_boundary_is_flagged() -> None:
    parsed = parse_message(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\ncut")
    assert parsed.parts[0].body == b"cut" and "mime_unterminated" in parsed.parts[0].flags
    assert parsed.anomalies[0][0] == "mime.missing_final_boundary"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.sampled_from([b"", b"--x\r\n", b"=?gbk?B?", b"base64"]))
def test_fuzz_never_raises(data: bytes, salt: bytes) -> None:
    head = b"Content-Type: multipart/mixed; boundary=x\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    parse_message(head + salt + data)
    parse_message(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 80), st.sampled_from([b"\r\n", b"\n", b" "]))
def test_base64_round_trip_with_line_breaks(data: bytes, width: int, brk: bytes) -> None:
    encoded = base64.b64encode(data)
    wrapped = brk.join(encoded[i : i + width] for i in range(0, len(encoded), width))
    assert decode_base64(wrapped) == (data, [])
    # junk outside the alphabet is skipped and reported, the bytes are the same
    if len(wrapped) > 2:
        junky = wrapped[:2] + b"*" + wrapped[2:]
        assert decode_base64(junky) == (data, ["mime.base64_invalid_chars"])


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=60),
    st.lists(st.tuples(st.integers(0, 200), st.sampled_from(list(b"= \r\n\t*-A/+"))), max_size=4),
)
def test_base64_fast_path_agrees_with_the_careful_path(
    data: bytes, edits: list[tuple[int, int]]
) -> None:
    # the one-pass strict decoder may only accept what the piecewise decoder decodes the same
    # way without reporting a problem
    raw = bytearray(base64.b64encode(data))
    for at, char in edits:
        raw.insert(at % (len(raw) + 1), char)
    fast = _base64_fast(bytes(raw))
    if fast is not None:
        assert _base64_careful(bytes(raw)) == (fast, [])
