"""Server certificates from a TLS 1.2-and-earlier Certificate message: subject, issuer, sha256.

A minimal DER walk (no dependency): TBSCertificate -> issuer and subject Names, each rendered as
Suricata logs them, attributes in certificate order joined by ", " (``C=US, O=Example, CN=host``).
Attribute types outside the small table are shown by their dotted OID. Anything that does not
decode raises ``CertError``; the session counts it and keeps the hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_CHAIN = 10  # certificates read from one message; real chains have 2-4

_ATTRIBUTES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "2.5.4.9": "street",
    "2.5.4.17": "postalCode",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
}


class CertError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    sha256: str
    size: int


def _element(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise CertError("truncated element")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertError("element past the end")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, body, stop = _element(data, start)
        out.append((tag, body, stop))
        start = stop
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise CertError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _text(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    return raw.decode("utf-8", "replace")


def _name(data: bytes, start: int, end: int) -> str:
    pieces = []
    for _, set_start, set_end in _children(data, start, end):  # RelativeDistinguishedName SETs
        for _, seq_start, seq_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (value_tag, value_start, value_end) = _children(
                data, seq_start, seq_end
            )[:2]
            oid = _oid(data[oid_start:oid_end])
            label = _ATTRIBUTES.get(oid, oid)
            pieces.append(f"{label}={_text(value_tag, data[value_start:value_end])}")
    return ", ".join(pieces)


def parse_certificate(der: bytes) -> Certificate:
    """Subject and issuer of one DER certificate, and its sha256."""
    digest = hashlib.sha256(der).hexdigest()
    _, cert_start, _ = _element(der, 0)
    _, tbs_start, tbs_end = _element(der, cert_start)
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # explicit [0] version
        fields = fields[1:]
    if len(fields) < 5:
        raise CertError("short TBSCertificate")
    # serialNumber, signature, issuer, validity, subject
    issuer = _name(der, fields[2][1], fields[2][2])
    subject = _name(der, fields[4][1], fields[4][2])
    return Certificate(subject, issuer, digest, len(der))


def certificate_chain(body: bytes) -> list[bytes]:
    """The DER certificates of a TLS 1.0-1.2 Certificate handshake message body."""
    if len(body) < 3:
        raise CertError("short Certificate message")
    total = int.from_bytes(body[:3], "big")
    pos, end = 3, min(3 + total, len(body))
    chain: list[bytes] = []
    while pos + 3 <= end and len(chain) < MAX_CHAIN:
        size = int.from_bytes(body[pos : pos + 3], "big")
        pos += 3
        if pos + size > end:
            raise CertError("certificate past the message")
        chain.append(body[pos : pos + size])
        pos += size
    return chain
