"""Protocol detection by content: HTTP, SMTP and FTP on any port, either orientation."""

from __future__ import annotations

import pytest

from sensor.flows.table import Direction
from sensor.protocols.detect import Verdict, detect

UP, DOWN = Direction.TO_RESPONDER, Direction.TO_ORIGINATOR


@pytest.mark.parametrize(
    ("up", "down", "final", "port", "expected"),
    [
        (b"GET / HTTP/1.1\r\n", b"", False, 8025, Verdict("http", UP)),
        (b"", b"220 mail.example ESMTP Postfix\r\n", False, 4000, Verdict("smtp", UP)),
        (b"", b"220 (vsFTPd 3.0.5)\r\n", False, 2500, Verdict("ftp", UP)),
        # a neutral banner waits for the client's first command, which decides
        (b"", b"220 welcome\r\n", False, 9999, None),
        (b"EHLO me\r\n", b"220 welcome\r\n", False, 9999, Verdict("smtp", UP)),
        (b"USER bob\r\n", b"220 welcome\r\n", False, 9999, Verdict("ftp", UP)),
        (b"AUTH TLS\r\n", b"220 welcome\r\n", False, 9999, Verdict("ftp", UP)),
        # nothing from the client by the end: the port breaks the tie
        (b"", b"220 welcome\r\n", True, 587, Verdict("smtp", UP)),
        (b"", b"220 welcome\r\n", True, 21, Verdict("ftp", UP)),
        (b"", b"220 welcome\r\n", True, 9999, Verdict("", UP)),
        # client half only (one-sided capture)
        (b"HELO relay\r\n", b"", False, 12345, Verdict("smtp", UP)),
        # orientation guessed wrong: the originator greets, so the responder is the client
        (b"220 ftp.example FTP server\r\n", b"", False, 50000, Verdict("ftp", DOWN)),
        (b"", b"EHLO x\r\n", False, 25, Verdict("smtp", DOWN)),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(16),
            b"",
            False,
            25,
            Verdict("", UP),
        ),
    ],
)
def test_detect(up: bytes, down: bytes, final: bool, port: int, expected: Verdict | None) -> None:
    assert detect(up, down, final, port, 40000) == expected
