"""Protocol detection by content: HTTP, SMTP and FTP on any port, either orientation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.anomalies import AnomalyCounter
from sensor.app import AppContext, AppLayerHandler
from sensor.flows.reassembly import StreamReassembler
from sensor.flows.table import Direction, Flow, FlowSide
from sensor.names import NameCache
from sensor.protocols.detect import Verdict, detect
from sensor.protocols.dns import DnsNames
from sensor.protocols.ftp.expect import DataExpectations

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
        # a TLS ClientHello on any port; a handshake record that is no ClientHello is nothing
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"", False, 25, Verdict("tls", UP)),
        (b"\x16\x03\x01 not a hello\r\n", b"", False, 443, Verdict("", UP)),
        (b"", b"\x16\x03\x03\x00\x5a\x02" + bytes(16), False, 443, Verdict("tls", UP)),
        # TLS application data captured mid-stream (no handshake seen): still TLS
        (b"", b"\x17\x03\x03\x00\x50" + bytes(16), False, 443, Verdict("tls", UP)),
        (b"", b"\x00\x1d\x12\x34\x01\x00", False, 53, Verdict("dns", UP)),
    ],
)
def test_detect(up: bytes, down: bytes, final: bool, port: int, expected: Verdict | None) -> None:
    assert detect(up, down, final, port, 40000) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"220 mx ESMTP\r\n", b"220 FTP ready\r\n", b"\x16\x03\x01\x00\x30\x01", b""]),
    st.sampled_from([25, 21, 53, 443, 8080]),
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.binary(max_size=80)),
        max_size=25,
    ),
)
def test_app_layer_fuzz_never_raises(
    greeting: bytes, port: int, steps: list[tuple[bool, bool, bytes]]
) -> None:
    """Any bytes and gaps on any port, through detection and every parser, never raise."""
    anomalies = AnomalyCounter()
    names = NameCache()
    context = AppContext(DataExpectations(anomalies), None, names, DnsNames(names, anomalies))
    flow = Flow(
        "F1",
        "10.0.0.1",
        40000,
        "10.0.0.2",
        port,
        (),
        0.0,
        0.0,
        FlowSide(StreamReassembler(anomalies)),
        FlowSide(StreamReassembler(anomalies)),
    )
    handler = AppLayerHandler(flow, lambda obj: None, anomalies, 1 << 16, context)
    handler.on_data(flow, DOWN, 0, greeting)
    for upward, gap, data in steps:
        direction = UP if upward else DOWN
        if gap:
            handler.on_gap(flow, direction, 0, len(data) + 1)
        else:
            handler.on_data(flow, direction, 0, b"EHLO x\r\nDATA\r\n" + data if upward else data)
    handler.on_close(flow)
