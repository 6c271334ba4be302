"""Real SMTP on loopback: smtplib sends to aiosmtpd while tcpdump records, then egress audits.

An aiosmtpd server on 127.0.0.1 (a random, non-standard port, so the protocol is found by
content) requires AUTH; smtplib logs in and sends a multipart mail (GB2312 text in base64, a
quoted-printable part with lines that start with a dot, attachments named in GBK and Big5 through
RFC 2231 and an RFC 2047 encoded-word filename) and a single-part UTF-8 mail. Every attachment
must come back as an object with its name and bytes, every whole mail with the bytes the server
received, the same as ``tshark --export-objects imf``; the password appears in no output file.
aiosmtpd has no CHUNKING, so BDAT is covered by the corpus captures and unit tests instead.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.objects import TransferObject
from tests.loopback_capture import capture, free_port, needs_capture

pytestmark = needs_capture

PASSWORD = "Pw-9f3b2c-never-logged"
CSV = "姓名,身份证号,手机\n".encode("gbk") + b"".join(
    "张%03d,11010519491231002X,1380013%04d\n".encode("gbk") % (i, i) for i in range(300)
)
BLOB = bytes(range(256)) * 40
NOTE = "客戶資料：台北市\n".encode("big5") * 50


class _Inbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.original_content)
        return "250 OK stored"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and auth.password == PASSWORD.encode()
    return AuthResult(success=ok)


def _mails() -> list[EmailMessage]:
    first = EmailMessage()
    first["From"] = "张三 <zhang.san@example.cn>"
    first["To"] = "li.si@example.com"
    first["Subject"] = "季度客户名单"
    first.set_content("请查收附件中的客户名单。", charset="gb2312")
    first.add_alternative(
        ".leading dot line\n..two dots\n" + "普通文本 " * 40 + "\n.\n",
        subtype="plain",
        charset="utf-8",
        cte="quoted-printable",
    )
    first.add_attachment(CSV, maintype="text", subtype="csv", filename=("gbk", "", "客户名单.csv"))
    first.add_attachment(
        NOTE, maintype="text", subtype="plain", filename=("big5", "", "客戶資料.txt")
    )
    first.add_attachment(BLOB, maintype="application", subtype="octet-stream", filename="x.bin")
    # Chinese mailers put RFC 2047 words in quoted filenames (not allowed, common)
    del first.get_payload()[-1]["Content-Disposition"]
    first.get_payload()[-1]["Content-Disposition"] = 'attachment; filename="=?GBK?B?saix7S5iaW4=?="'
    second = EmailMessage()
    second["From"] = "wang@example.cn"
    second["To"] = "zhao@example.org"
    second["Subject"] = "Re: 报表"
    second.set_content("第二封邮件，正文为 UTF-8 8bit。\n" * 20, cte="8bit")
    return [first, second]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("smtp")
    inbox = _Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
        server_hostname="mx.egress.test",
    )
    controller.start()
    mails = _mails()
    try:
        with (
            capture(f"tcp port {port}", tmp / "smtp.pcap") as recorded,
            smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
        ):
            client.login("alice", PASSWORD)
            for mail in mails:
                client.send_message(mail)
    finally:
        controller.stop()
    assert recorded.dropped == 0, "tcpdump lost packets: the comparison would be meaningless"
    pcap = recorded.path
    found: list[TransferObject] = []
    summary = Audit(EgressConfig(), tmp / "case", on_object=found.append).run([pcap])
    return {
        "pcap": pcap,
        "port": port,
        "case": tmp / "case",
        "summary": summary,
        "objects": found,
        "received": inbox.received,
        "mails": mails,
    }


def test_each_mail_is_what_the_server_received(session: dict[str, Any]) -> None:
    messages = [o for o in session["objects"] if o.protocol == "smtp" and not o.part]
    assert len(messages) == 2 == len(session["received"])
    for obj, received in zip(messages, session["received"], strict=True):
        assert bytes(obj.body) == received
        assert obj.complete and obj.direction == "upload" and obj.method == "DATA"
        assert obj.flow.dst_port == session["port"]
    assert (
        messages[0].mail_from == "<zhang.san@example.cn>" and messages[0].subject == "季度客户名单"
    )
    assert messages[0].mail_to == ("<li.si@example.com>",)
    assert messages[0].host == "example.com"  # the destination is named by the recipient domain
    assert session["summary"]["anomalies"] == {}


def test_attachments_come_back_with_names_and_bytes(session: dict[str, Any]) -> None:
    parts = {o.filename: o for o in session["objects"] if o.part and o.filename}
    assert set(parts) == {"客户名单.csv", "客戶資料.txt", "报表.bin"}
    for name, data in (("客户名单.csv", CSV), ("客戶資料.txt", NOTE), ("报表.bin", BLOB)):
        assert parts[name].sha256 == hashlib.sha256(data).hexdigest()
        assert parts[name].mail_from == "<zhang.san@example.cn>"
    assert parts["报表.bin"].detected_type == "binary"
    texts = [o for o in session["objects"] if o.part and not o.filename]
    gb = next(o for o in texts if "gb2312" in o.content_type)
    assert gb.text_view is not None and "客户名单".encode() in gb.text_view
    qp = next(o for o in texts if o.content_encoding == "quoted-printable")
    assert bytes(qp.body).startswith(b".leading dot line\r\n..two dots\r\n")


def test_password_is_in_no_output(session: dict[str, Any]) -> None:
    plain = base64.b64encode(b"\0alice\0" + PASSWORD.encode())  # what AUTH PLAIN sends
    secrets = [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()), plain]
    # evidence/ keeps the flow's packets as captured (0600, optionally encrypted: docs/report.md);
    # every other output must not hold the credentials
    for path in Path(session["case"]).rglob("*"):
        if path.is_file() and "evidence" not in path.parts:
            content = path.read_bytes()
            assert not any(s in content for s in secrets), path
    # the capture itself does carry the (base64) credentials: the check above is not vacuous
    assert plain in Path(session["pcap"]).read_bytes()


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_same_mails_as_tshark_imf_export(session: dict[str, Any], tmp_path: Path) -> None:
    subprocess.run(
        [
            "tshark",
            "-Q",
            "-r",
            str(session["pcap"]),
            "-d",
            f"tcp.port=={session['port']},smtp",
            "--export-objects",
            f"imf,{tmp_path}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    exported = [re.sub(rb"(?m)^\.", b"", p.read_bytes()) for p in tmp_path.iterdir()]
    ours = [bytes(o.body) for o in session["objects"] if o.protocol == "smtp" and not o.part]
    digest = lambda data: hashlib.sha256(data.rstrip(b"\r\n")).hexdigest()  # noqa: E731
    assert sorted(map(digest, exported)) == sorted(map(digest, ours))
