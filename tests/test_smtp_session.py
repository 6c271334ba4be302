"""SmtpSession fed whole, split at every position, byte by byte, with gaps, and fuzzed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.protocols.smtp import (
    Encrypted,
    MessageData,
    MessageEnd,
    MessageGap,
    MessageStart,
    Side,
    SmtpAnomaly,
    SmtpCommand,
    SmtpEvent,
    SmtpReply,
    SmtpSession,
)
from sensor.protocols.smtp.session import _line_dot

C, S = Side.CLIENT, Side.SERVER

CLIENT = (
    b"EHLO client.example\r\n"
    b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"
    b"MAIL FROM:<zhang@example.cn> SIZE=100\r\n"
    b"RCPT TO:<li@example.com>\r\n"
    b"RCPT TO:<wang@example.org>\r\n"
    b"DATA\r\n"
    b"Subject: test\r\n\r\n"
    b"..leading dot\r\n"
    b".\r\n"
    b"MAIL FROM:<b@example.cn>\r\n"
    b"RCPT TO:<c@example.com>\r\n"
    b"BDAT 10\r\n"
    b"0123\r\n.\r\n9BDAT 4 LAST\r\n"
    b"tail"
    b"QUIT\r\n"
)
SERVER = (
    b"220 mx.example ESMTP\r\n"
    b"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"
    b"235 2.7.0 ok\r\n"
    b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"
    b"250 ok\r\n250 ok\r\n250 chunk\r\n250 queued\r\n221 bye\r\n"
)
MESSAGES = [b"Subject: test\r\n\r\n.leading dot\r\n", b"0123\r\n.\r\n9tail"]


def _messages(events: list[SmtpEvent]) -> list[tuple[bytes, bool]]:
    out: list[tuple[bytes, bool]] = []
    current: bytearray | None = None
    for event in events:
        if isinstance(event, MessageStart):
            current = bytearray()
        elif isinstance(event, MessageData):
            assert current is not None
            current += event.data
        elif isinstance(event, MessageEnd):
            assert current is not None
            out.append((bytes(current), event.complete))
            current = None
    return out


def _run(client_cuts: list[bytes], server: bytes = SERVER) -> list[SmtpEvent]:
    session = SmtpSession()
    events = session.feed(S, server[:22])  # the greeting first, as on the wire
    for piece in client_cuts:
        events += session.feed(C, piece)
    events += session.feed(S, server[22:])
    return events + session.close()


def test_whole_dialogue() -> None:
    events = _run([CLIENT])
    assert _messages(events) == [(m, True) for m in MESSAGES]
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert starts[0] == MessageStart(
        "client.example", "<zhang@example.cn>", ("<li@example.com>", "<wang@example.org>"), "DATA"
    )
    assert starts[1].method == "BDAT" and starts[1].rcpt_to == ("<c@example.com>",)
    replies = [(e.code, e.command) for e in events if isinstance(e, SmtpReply)]
    assert replies[:4] == [(220, ""), (250, "EHLO"), (235, "AUTH"), (250, "MAIL")]
    assert (354, "DATA") in replies and (250, ".") in replies and replies[-1] == (221, "QUIT")
    assert not [e for e in events if isinstance(e, SmtpAnomaly)]


def test_credentials_never_appear_in_events() -> None:
    session = SmtpSession()
    events = session.feed(C, b"EHLO x\r\nAUTH LOGIN\r\n")
    events += session.feed(S, b"250 ok\r\n334 VXNlcm5hbWU6\r\n")
    events += session.feed(C, b"dXNlcg==\r\n")
    events += session.feed(S, b"334 UGFzc3dvcmQ6\r\n")
    events += session.feed(C, b"c2VjcmV0\r\n")
    events += session.feed(S, b"235 ok\r\n")
    events += session.feed(C, b"MAIL FROM:<a@b.c>\r\n")
    text = repr(events)
    assert "dXNlcg" not in text and "c2VjcmV0" not in text
    assert SmtpCommand("AUTH", "LOGIN") in events and SmtpCommand("MAIL", "FROM:<a@b.c>") in events
    assert repr(_run([CLIENT])).count("AHVzZXIAc2VjcmV0") == 0


def test_every_split_position_gives_the_same_messages() -> None:
    for cut in range(len(CLIENT) + 1):
        assert _messages(_run([CLIENT[:cut], CLIENT[cut:]])) == [(m, True) for m in MESSAGES], cut


def test_one_byte_at_a_time() -> None:
    pieces = [CLIENT[i : i + 1] for i in range(len(CLIENT))]
    assert _messages(_run(pieces)) == [(m, True) for m in MESSAGES]


def test_starttls_stops_parsing() -> None:
    session = SmtpSession()
    events = session.feed(C, b"EHLO x\r\nSTARTTLS\r\n")
    events += session.feed(S, b"220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 ready\r\n")
    events += session.feed(C, b"\x16\x03\x01\x00\x05hello MAIL FROM:<a@b>\r\nDATA\r\n")
    assert session.encrypted and Encrypted("starttls") in events
    assert not [e for e in events if isinstance(e, MessageStart)]


def test_tls_bytes_without_the_reply_still_mark_encryption() -> None:
    session = SmtpSession()
    events = session.feed(C, b"EHLO x\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00\x01")
    assert session.encrypted and Encrypted("tls_bytes_in_commands") in events


def test_gap_that_eats_the_final_dot_resyncs_on_the_next_command() -> None:
    session = SmtpSession()
    events = session.feed(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nbody")
    events += session.gap(C, 100)
    events += session.feed(
        C, b"more body\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\nok\r\n.\r\n"
    )
    assert _messages(events) == [(b"Subject: x\r\n\r\nbodymore body\r\n", False), (b"ok\r\n", True)]
    assert MessageGap(100) in events
    assert SmtpAnomaly("smtp.gap_resync_on_command") in events


def test_gap_inside_bdat_is_absorbed_by_the_chunk_size() -> None:
    session = SmtpSession()
    events = session.feed(C, b"BDAT 10 LAST\r\n0123")
    events += session.gap(C, 3)
    events += session.feed(C, b"789QUIT\r\n")
    assert _messages(events) == [(b"0123789", False)]
    assert SmtpCommand("QUIT", "") in events


def test_reply_without_code_is_counted() -> None:
    events = SmtpSession().feed(S, b"220 hi\r\nhello there\r\n")
    assert SmtpAnomaly("smtp.reply_without_code", "hello there") in events


def test_unterminated_message_ends_incomplete_at_close() -> None:
    session = SmtpSession()
    events = session.feed(C, b"DATA\r\nhalf a mail\r\n.")
    events += session.close()
    assert _messages(events) == [(b"half a mail\r\n.", False)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c", "s", "gc", "gs"]),
            st.binary(max_size=60)
            | st.sampled_from([b"DATA\r\n", b".\r\n", b"BDAT 5\r\n", b"AUTH X\r\n", b"354 x\r\n"]),
        ),
        max_size=30,
    )
)
def test_fuzz_never_crashes(steps: list[tuple[str, bytes]]) -> None:
    session = SmtpSession()
    for kind, data in steps:
        side = C if kind.endswith("c") else S
        if kind.startswith("g"):
            session.gap(side, len(data) + 1)
        else:
            session.feed(side, data)
    session.close()


def test_refused_data_without_content_returns_to_commands() -> None:
    session = SmtpSession()
    events = session.feed(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
    events += session.feed(S, b"220 hi\r\n250 ok\r\n250 ok\r\n554 no valid recipients\r\n")
    events += session.feed(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<e@f>\r\nDATA\r\nok\r\n.\r\nQUIT\r\n")
    assert MessageEnd(False, True) in events
    assert _messages(events)[-1] == (b"ok\r\n", True)
    assert SmtpCommand("QUIT", "") in events


def test_rset_between_bdat_chunks_aborts_the_message() -> None:
    session = SmtpSession()
    events = session.feed(C, b"MAIL FROM:<a@b>\r\nBDAT 3\r\nabcRSET\r\nMAIL FROM:<c@d>\r\n")
    events += session.feed(C, b"BDAT 2 LAST\r\nxy")
    assert _messages(events) == [(b"abc", False), (b"xy", True)]
    assert SmtpAnomaly("smtp.bdat_aborted", "RSET") in events


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200).map(lambda b: bytes(b"\n.a"[x % 3] for x in b)), st.integers(0, 40))
def test_line_dot_search_is_the_two_byte_search(data: bytes, start: int) -> None:
    # the end-of-data and dot-unstuffing search looks for the dot first; it must find the same
    # "\n." as the plain two-byte search, also in text full of dots that forces the fallback
    assert _line_dot(bytearray(data), start) == data.find(b"\n.", start)
