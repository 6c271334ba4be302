"""FtpControl fed whole, split at every position, byte by byte, and fuzzed; address parsing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.protocols.ftp import (
    DataOffer,
    FtpAnomaly,
    FtpCommand,
    FtpControl,
    FtpEncrypted,
    FtpEvent,
    FtpReply,
    Side,
    TransferEnd,
    TransferStart,
    UniqueName,
    parse_eprt,
    parse_host_port,
)

C, S = Side.CLIENT, Side.SERVER
CLIENT = (
    b"USER alice\r\nPASS s3cret!\r\nTYPE I\r\nPASV\r\nSTOR report.xlsx\r\n"
    b"EPSV\r\nREST 100\r\nRETR big.bin\r\nEPRT |2|::1|40001|\r\nAPPE log.txt\r\n"
    b"PORT 127,0,0,1,156,65\r\nSTOU\r\nQUIT\r\n"
)
SERVER = (
    b"220-Welcome\r\n220-second line\r\n220 ready\r\n331 password\r\n230 in\r\n200 binary\r\n"
    b"227 Entering Passive Mode (127,0,0,1,195,80).\r\n150 ok\r\n226 done\r\n"
    b"229 Entering Extended Passive Mode (|||40000|)\r\n350 restarting\r\n150 ok\r\n226 done\r\n"
    b"200 EPRT ok\r\n125 go\r\n226 done\r\n200 PORT ok\r\n150 FILE: stou.1\r\n226 done\r\n221 bye\r\n"
)
EXPECTED = [
    DataOffer("passive", "127.0.0.1", 50000),
    TransferStart("STOR", "report.xlsx", 0, "I"),
    TransferEnd("STOR", 226),
    DataOffer("passive", "", 40000),
    TransferStart("RETR", "big.bin", 100, "I"),
    TransferEnd("RETR", 226),
    DataOffer("active", "::1", 40001),
    TransferStart("APPE", "log.txt", 0, "I"),
    TransferEnd("APPE", 226),
    DataOffer("active", "127.0.0.1", 40001),
    TransferStart("STOU", "", 0, "I"),
    UniqueName("stou.1"),
    TransferEnd("STOU", 226),
]


def _interleaved(client_pieces: list[bytes], server_pieces: list[bytes]) -> list[FtpEvent]:
    """Client line, then the server's answer to it, as on the wire."""
    control = FtpControl()
    events: list[FtpEvent] = []
    for piece in server_pieces[:1]:
        events += control.feed(S, piece)
    for piece in client_pieces:
        events += control.feed(C, piece)
    for piece in server_pieces[1:]:
        events += control.feed(S, piece)
    return events + control.close()


def _transfer_events(events: list[FtpEvent]) -> list[FtpEvent]:
    return [
        e for e in events if isinstance(e, DataOffer | TransferStart | TransferEnd | UniqueName)
    ]


def _sorted_by_kind(events: list[FtpEvent]) -> list[str]:
    return sorted(repr(e) for e in _transfer_events(events))


def test_dialogue_whole() -> None:
    control = FtpControl()
    events: list[FtpEvent] = []
    server_lines = SERVER.split(b"\r\n")
    events += control.feed(S, b"\r\n".join(server_lines[:3]) + b"\r\n")
    for client_line in CLIENT.split(b"\r\n")[:-1]:
        events += control.feed(C, client_line + b"\r\n")
    events += control.feed(S, b"\r\n".join(server_lines[3:]))
    assert sorted(map(repr, _transfer_events(events))) == sorted(map(repr, EXPECTED))
    assert FtpReply(220, "Welcome\nsecond line\nready", "") in events
    assert FtpReply(221, "bye", "QUIT") in events
    assert not [e for e in events if isinstance(e, FtpAnomaly)]
    assert control.user == "alice"


def test_password_never_appears() -> None:
    events = FtpControl().feed(C, CLIENT)
    assert FtpCommand("PASS", "") in events and "s3cret" not in repr(events)


def test_every_split_and_byte_by_byte() -> None:
    reference = _sorted_by_kind(_interleaved([CLIENT], [SERVER[:40], SERVER[40:]]))
    for cut in range(0, len(CLIENT) + 1, 3):
        pieces = [CLIENT[:cut], CLIENT[cut:]]
        assert _sorted_by_kind(_interleaved(pieces, [SERVER[:40], SERVER[40:]])) == reference
    for cut in range(len(SERVER) + 1):
        assert _sorted_by_kind(_interleaved([CLIENT], [b"", SERVER[:cut], SERVER[cut:]])) == (
            reference
        ), cut
    singles = [CLIENT[i : i + 1] for i in range(len(CLIENT))]
    server_singles = [b""] + [SERVER[i : i + 1] for i in range(len(SERVER))]
    assert _sorted_by_kind(_interleaved(singles, server_singles)) == reference


def test_address_parsing() -> None:
    assert parse_host_port("Entering Passive Mode (192,168,1,2,4,1)") == ("192.168.1.2", 1025)
    assert parse_host_port("(300,1,1,1,1,1)") is None
    assert parse_eprt("|1|132.235.1.2|6275|") == ("132.235.1.2", 6275)
    assert parse_eprt("|2|2001:db8::1|5282|") == ("2001:db8::1", 5282)
    assert parse_eprt("|2|not-an-address|1|") is None and parse_eprt("|1|1.2.3.4|0|") is None


def test_auth_tls_ends_parsing() -> None:
    control = FtpControl()
    events = control.feed(S, b"220 hi\r\n")
    events += control.feed(C, b"AUTH TLS\r\n")
    events += control.feed(S, b"234 Proceed\r\n")
    events += control.feed(C, b"\x16\x03\x01\x00\xa0USER x\r\nSTOR y\r\n")
    assert FtpEncrypted("auth_tls") in events and control.encrypted
    assert not [e for e in events if isinstance(e, TransferStart)]


def test_replies_without_codes_and_gaps_are_counted() -> None:
    control = FtpControl()
    events = control.feed(S, b"220 hi\r\nplease log in\r\n")
    assert FtpAnomaly("ftp.reply_without_code", "please log in") in events
    events = control.feed(C, b"STOR half")
    events += control.gap(C, 10)
    events += control.feed(C, b"name\r\nRETR whole\r\n")
    assert FtpAnomaly("ftp.gap_in_commands", "10 bytes") in events
    starts = [e for e in events if isinstance(e, TransferStart)]
    assert starts == [TransferStart("RETR", "whole", 0, "")]


def test_refused_transfer_ends_with_its_error() -> None:
    control = FtpControl()
    events = control.feed(C, b"RETR missing\r\n")
    events += control.feed(S, b"550 No such file\r\n")
    assert TransferEnd("RETR", 550) in events


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c", "s", "gc", "gs"]),
            st.binary(max_size=50)
            | st.sampled_from([b"227 (1,2,3,4,5,6)\r\n", b"EPRT |2|::1|9|\r\n", b"123-x\r\n"]),
        ),
        max_size=30,
    )
)
def test_fuzz_never_crashes(steps: list[tuple[str, bytes]]) -> None:
    control = FtpControl()
    for kind, data in steps:
        side = C if kind.endswith("c") else S
        if kind.startswith("g"):
            control.gap(side, len(data) + 1)
        else:
            control.feed(side, data)
    control.close()
