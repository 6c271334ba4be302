"""Type sniffing by magic bytes, encrypted containers, and the text views for detection."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.content.forms import json_text, urlencoded_text
from sensor.content.sniff import OOXML_SCAN, detect_type, is_encrypted, sniff_sample


def _zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name in names:
            archive.writestr(name, b"<x/>")
    return buf.getvalue()


DOCX = _zip(["[Content_Types].xml", "word/document.xml"])
XLSX = _zip(["[Content_Types].xml", "xl/workbook.xml"])


@pytest.mark.parametrize("body,kind", [
    (b"%PDF-1.7\n...", "pdf"),
    (gzip.compress(b"x"), "gzip"),
    (b"\x89PNG\r\n\x1a\n....", "png"),
    (b"\xff\xd8\xff\xe0..JFIF", "jpeg"),
    (b"GIF89a....", "gif"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 20, "ole"),
    (_zip(["a.txt"]), "zip"),
    (DOCX, "docx"),
    (XLSX, "xlsx"),
    (b'  {"name": "x", "id": 1}', "json"),
    (b"[1, 2]", "json"),
    (b"name,id,phone\nalice,1,2\nbob,3,4\n", "csv"),
    (b"<!DOCTYPE html><html></html>", "html"),
    (b"<?xml version='1.0'?><a/>", "xml"),
    ("张三 lives here\n".encode(), "text"),
    ("张三 lives here\n".encode("gb18030"), "text"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "tls"),
    (bytes(range(256)), "binary"),
    (b"", ""),
])  # fmt: skip
def test_detect_type(body: bytes, kind: str) -> None:
    assert detect_type(body) == kind


def test_utf8_cut_at_the_sample_edge_is_still_text() -> None:
    body = ("字" * 2000).encode()  # 6000 bytes: the 4096-byte sample ends inside a character
    assert detect_type(body) == "text"


def test_encrypted_containers() -> None:
    encrypted_zip = bytearray(DOCX)
    encrypted_zip[6] |= 0x01  # general-purpose flag bit 0 of the first entry
    assert is_encrypted(bytes(encrypted_zip), "docx")
    assert not is_encrypted(DOCX, "docx")
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le")
    assert is_encrypted(ole, "ole")
    assert is_encrypted(b"%PDF-1.4 ... /Encrypt 5 0 R", "pdf")
    assert not is_encrypted(b"%PDF-1.4 plain", "pdf")
    assert is_encrypted(b"\x16\x03\x01", "tls")


def test_urlencoded_view_undoes_escapes_and_keeps_bytes() -> None:
    body = b"name=%E5%BC%A0%E4%B8%89&id=11010519491231002X&note=a+b%26c&&empty="
    assert (
        urlencoded_text(body) == "name=张三\nid=11010519491231002X\nnote=a b&c\nempty=\n".encode()
    )
    assert urlencoded_text(b"gbk=%D5%C5") == b"gbk=\xd5\xc5\n"  # not forced to UTF-8
    assert urlencoded_text(b"") == b""


def test_json_view_unescapes_unicode_and_surrogate_pairs() -> None:
    assert (
        json_text(b'{"n": "\\u5f20\\u4e09", "e": "\\ud83d\\ude00"}')
        == '{"n": "张三", "e": "😀"}'.encode()
    )
    assert json_text(b'{"plain": "ascii"}') is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            b"PK\x03\x04\x14\x00\x01\x00",
            b"PK\x03\x04\x14\x00\x00\x00",
            b"%PDF-1.7\n",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            b"a,b\n1,2\n",
            b"",
        ]
    ),
    st.integers(0, 3 * OOXML_SCAN),
    st.sampled_from(
        [b"word/document.xml", b"xl/", b"/Encrypt", "EncryptedPackage".encode("utf-16-le"), b""]
    ),
    st.integers(0, 3 * OOXML_SCAN),
)
def test_the_sniffing_sample_gives_the_whole_bodys_answers(
    head: bytes, size: int, marker: bytes, at: int
) -> None:
    # sealing an object sniffs its first and last OOXML_SCAN bytes instead of copying it whole
    body = bytearray(head + bytes(size))
    at = min(at, len(body))
    body[at:at] = marker
    sample = sniff_sample(body)
    kind = detect_type(bytes(body))
    assert detect_type(sample) == kind
    assert is_encrypted(sample, kind) == is_encrypted(bytes(body), kind)
