"""What an object really is, from its first bytes (magic numbers), not from what it claims.

A declared ``Content-Type`` is the sender's word; exfiltration often renames files or sends them as
``application/octet-stream``. ``detect_type`` returns a short name from a small table (document and
archive formats that carry personal data in bulk, images, text forms); ``is_encrypted`` says whether
the content is a container whose payload detection cannot read (encrypted ZIP entries, encrypted
Office or PDF documents, TLS inside a tunnel).
"""

from __future__ import annotations

import re

SNIFF_HEAD = 4096  # bytes looked at for text kinds; magic numbers need far fewer
OOXML_SCAN = 64 * 1024  # ZIP names live in local headers near the start and in the trailing index

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),  # legacy Office, or encrypted OOXML
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"-----BEGIN PGP MESSAGE", "pgp"),
)
_ZIP_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"word/", "docx"),
    (b"xl/", "xlsx"),
    (b"ppt/", "pptx"),
    (b"mimetypeapplication/vnd.oasis.opendocument.text", "odt"),
    (b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet", "ods"),
)
_TLS_RECORD = re.compile(rb"^[\x14-\x17]\x03[\x00-\x04]")
# control characters other than \t \n \f \r (one regex pass instead of a loop per character)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")
_ENCRYPTED_OLE = "EncryptedPackage".encode("utf-16-le")


def _zip_kind(body: bytes) -> str:
    window = body[:OOXML_SCAN] + body[-OOXML_SCAN:]
    for marker, kind in _ZIP_KINDS:
        if marker in window:
            return kind
    return "zip"


def _text_kind(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            try:
                text = head.decode("gb18030")
            except UnicodeDecodeError:
                return "binary"
        else:
            text = head[: exc.start].decode("utf-8")
    if not text:
        return "binary"
    controls = len(_CONTROLS.findall(text))
    if controls * 100 > len(text):
        return "binary"
    stripped = text.lstrip("\ufeff \r\n\t")
    lower = stripped[:100].lower()
    if stripped[:1] in "{[" and re.match(r'[{\[]\s*(["{\[\]}\d-]|true|false|null)', stripped):
        return "json"
    if lower.startswith(("<!doctype html", "<html")) or "<html" in lower:
        return "html"
    if lower.startswith("<?xml") or lower.startswith("<"):
        return "xml"
    lines = [line for line in stripped.splitlines()[:10] if line.strip()]
    if len(lines) >= 2:
        for sep in (",", "\t", ";", "|"):
            counts = {line.count(sep) for line in lines[:-1]}  # the last line may be cut
            if len(counts) == 1 and counts.pop() >= 1:
                return "csv"
    return "text"


def sniff_sample(body: bytes | bytearray) -> bytes:
    """The bytes ``detect_type`` and ``is_encrypted`` read of ``body``: its first and last
    ``OOXML_SCAN`` bytes (the whole body when shorter), so sealing a 30 MB object does not copy
    it. Both functions give the same answer for the sample as for the whole body."""
    if len(body) <= 2 * OOXML_SCAN:
        return bytes(body)
    return bytes(body[:OOXML_SCAN]) + bytes(body[-OOXML_SCAN:])


def detect_type(body: bytes) -> str:
    """A short type name from the content: ``docx``, ``pdf``, ``json``, ``csv``, ``text``..."""
    if not body:
        return ""
    for magic, kind in _MAGIC:
        if body.startswith(magic):
            return kind
    if body.startswith(b"PK\x03\x04") or body.startswith(b"PK\x05\x06"):
        return _zip_kind(body)
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp"
    if _TLS_RECORD.match(body):
        return "tls"
    return _text_kind(body[:SNIFF_HEAD])


def is_encrypted(body: bytes, kind: str) -> bool:
    """True when the content is encrypted and its payload cannot be inspected."""
    if kind in ("zip", "docx", "xlsx", "pptx", "odt", "ods"):
        return len(body) > 8 and bool(body[6] & 0x01)  # general-purpose flag bit 0 of entry one
    if kind == "ole":
        return _ENCRYPTED_OLE in body[:OOXML_SCAN]
    if kind == "pdf":
        return b"/Encrypt" in body[:OOXML_SCAN] or b"/Encrypt" in body[-OOXML_SCAN:]
    return kind in ("tls", "pgp")
