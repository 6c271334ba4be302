"""End to end: a mail larger than ``limits.max_object_bytes`` with a base64 or quoted-printable
CSV attachment of synthetic people, in a generated SMTP capture.

Past the limit the message goes through the incremental MIME decoder
(``sensor.content.mime_stream``) to the stream scanner: every resident ID of the attachment is
found exactly once, either in the attachment object (the part kept below the limit, block mode) or
in the message's ``#stream`` part, as many as an audit whose limit holds the whole mail finds.
"""

from __future__ import annotations

import base64
import io
import quopri
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bench.traffic.people import SyntheticPeople
from tests.pcapbytes import tcp_dialogue
from tests.test_stream_audit import LIMIT, SEGMENT
from tests.test_stream_ranges import _audit

CLIENT, SERVER = "10.0.0.5", "8.8.8.8"  # a home mail client, a server abroad: an export
RESIDENT_ID = "cn_resident_id"


def _csv(people: int) -> bytes:
    gen = SyntheticPeople(25)
    rows = ["序号,姓名,身份证号,手机"]
    for n in range(people):
        p = gen.person()
        rows.append(f"{n},{p.name},{p.resident_id},{p.mobile}")
    return ("\n".join(rows) + "\n").encode("utf-8")


def _mail(csv: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        body = base64.encodebytes(csv).replace(b"\n", b"\r\n")
    else:
        body = quopri.encodestring(csv).replace(b"\n", b"\r\n")
    return (
        b"From: <hr@home.example>\r\nTo: <x@abroad.example>\r\nSubject: list\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="==b1=="\r\n\r\n'
        b"--==b1==\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n"
        b"--==b1==\r\nContent-Type: text/csv; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n"
        b'Content-Disposition: attachment; filename="people.csv"\r\n\r\n'
        + body
        + b"\r\n--==b1==--\r\n"
    )


def _capture(mail: bytes) -> bytes:
    data = mail.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    dialogue = [
        (False, b"220 mx.abroad.example ESMTP\r\n"),
        (True, b"EHLO pc.home.example\r\n"),
        (False, b"250 mx.abroad.example\r\n"),
        (True, b"MAIL FROM:<hr@home.example>\r\n"),
        (False, b"250 ok\r\n"),
        (True, b"RCPT TO:<x@abroad.example>\r\n"),
        (False, b"250 ok\r\n"),
        (True, b"DATA\r\n"),
        (False, b"354 go ahead\r\n"),
        (True, data),
        (False, b"250 queued\r\n"),
        (True, b"QUIT\r\n"),
        (False, b"221 bye\r\n"),
    ]
    return tcp_dialogue((CLIENT, 40002), (SERVER, 25), dialogue, SEGMENT)


def _ids(alert: dict[str, Any]) -> int:
    return sum(f["count"] for f in alert["findings"] if f["identifier"] == RESIDENT_ID)


def _stream_ids(alert: dict[str, Any]) -> int:
    streamed = [p for p in alert["object"]["parts"] if p["path"] == "#stream"]
    return sum(p["identifiers"].get(RESIDENT_ID, 0) for p in streamed)


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_an_attachment_past_the_limit_is_decoded_and_read(tmp_path: Path, encoding: str) -> None:
    people = 1500
    mail = _mail(_csv(people), encoding)
    assert len(mail) > 4 * LIMIT
    pcap = _capture(mail)
    whole = _audit(tmp_path, "whole", pcap, max_object_bytes=len(mail) + 1)
    assert sum(_ids(a) for a in whole["alerts"]) == people
    streamed = _audit(tmp_path, "streamed", pcap, max_object_bytes=LIMIT)
    message = next(a for a in streamed["alerts"] if a["object"]["content_type"] == "message/rfc822")
    assert "mime_decoded_past_limit" in message["object"]["flags"]
    past = _stream_ids(message)
    kept = sum(_ids(a) for a in streamed["alerts"] if a is not message)
    assert past + kept == people  # each resident ID found once, on one side of the limit
    assert past > people // 2  # most of the attachment lies past the 16 KiB limit
    raw = _audit(tmp_path, "raw", pcap, max_object_bytes=LIMIT, stream_past_limit=False)
    assert sum(_ids(a) for a in raw["alerts"]) == kept  # without stream mode: the head only


def _zip_mail(members: list[bytes]) -> bytes:
    """A mail with a base64 ZIP attachment holding ``members`` as deflated CSV files."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        for k, member in enumerate(members):
            writer.writestr(f"export-{k}.csv", member)
    body = base64.encodebytes(archive.getvalue()).replace(b"\n", b"\r\n")
    return (
        b"From: <hr@home.example>\r\nTo: <x@abroad.example>\r\nSubject: export\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="==b2=="\r\n\r\n'
        b"--==b2==\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="export.zip"\r\n\r\n'
        + body
        + b"\r\n--==b2==--\r\n"
    )


def test_a_zip_attachment_past_the_limit_is_inflated_and_read(tmp_path: Path) -> None:
    """The attachment's members past the limit are inflated after base64 decoding, so the
    people zipped there are counted: every resident ID once, on one side of the limit."""
    csv = _csv(3000).split(b"\n")
    members = [
        b"\n".join([csv[0], *csv[1 + k * 600 : 1 + (k + 1) * 600]]) + b"\n" for k in range(5)
    ]
    mail = _zip_mail(members)
    assert len(mail) > 4 * LIMIT
    pcap = _capture(mail)
    whole = _audit(tmp_path, "whole", pcap, max_object_bytes=len(mail) + 1)
    assert sum(_ids(a) for a in whole["alerts"]) == 3000
    streamed = _audit(tmp_path, "streamed", pcap, max_object_bytes=LIMIT)
    message = next(a for a in streamed["alerts"] if a["object"]["content_type"] == "message/rfc822")
    flags = message["object"]["flags"]
    assert "mime_decoded_past_limit" in flags
    assert any(f.startswith("stream:zip_members=") and f != "stream:zip_members=0" for f in flags)
    past = _stream_ids(message)
    kept = sum(_ids(a) for a in streamed["alerts"] if a is not message)
    assert past + kept == 3000
    assert past > 1500  # most of the archive lies past the 16 KiB limit
