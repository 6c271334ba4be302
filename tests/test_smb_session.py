"""SMB parser on hand-built SMB2 conversations: whole, split at every position, one byte at a time.

Each test drives ``SmbTransfers`` (session + file rebuilding) the way the application layer does
and checks the objects it emits: names (share and path), directions, content by offset, holes,
limits, and the anomalies counted for bad input.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.objects import TransferObject, overflow_scanning
from sensor.protocols.http.events import Side
from sensor.protocols.smb import SmbLimits, SmbTransfers
from sensor.protocols.smb.records import looks_like_smb, smb_client_is_originator
from tests import smbbytes as b

C, S = Side.CLIENT, Side.SERVER
FID = bytes(range(1, 17))
SHARE = "\\\\files.example\\hr"
PART1 = b"name,resident_id\n" + b"zhang,110105194912310021\n" * 3
PART2 = b"li,11010519491231002X\n" * 4
CONTENT = PART1 + PART2


def conversation(fid: bytes = FID) -> list[tuple[Side, bytes]]:
    """Negotiate, log in, connect, create, write out of order, read back, close."""
    return [
        (S, b.nbss(b.negotiate_response(0, 0x0311))),
        (C, b.nbss(b.session_setup_request(1, b.ntlmssp_authenticate("alice", "CORP")))),
        (C, b.nbss(b.tree_connect_request(2, SHARE))),
        (S, b.nbss(b.tree_connect_response(2, tree_id=7))),
        (C, b.nbss(b.create_request(3, "payroll\\2024.csv", tree_id=7))),
        (S, b.nbss(b.create_response(3, fid, tree_id=7))),
        (C, b.nbss(b.write_request(4, fid, len(PART1), PART2, tree_id=7))),  # second half first
        (C, b.nbss(b.write_request(5, fid, 0, PART1, tree_id=7))),
        (C, b.nbss(b.read_request(6, fid, 0, len(CONTENT), tree_id=7))),
        (S, b.nbss(b.read_response(6, CONTENT, tree_id=7))),
        (C, b.nbss(b.close_request(7, fid, tree_id=7))),
        (S, b.nbss(b.close_response(7))),
    ]


def transfers(
    limits: SmbLimits | None = None,
) -> tuple[SmbTransfers, list[TransferObject], AnomalyCounter]:
    objects: list[TransferObject] = []
    anomalies = AnomalyCounter()
    smb = SmbTransfers(
        uid="Fsmb1",
        vlan=(),
        client=("10.0.0.1", 50000),
        server=("10.0.0.2", 445),
        clock=lambda: 1.0,
        sink=objects.append,
        anomalies=anomalies,
        max_object_bytes=1 << 20,
        limits=limits,
    )
    return smb, objects, anomalies


def feed_all(messages: list[tuple[Side, bytes]], cut: int | None = None, bytewise: bool = False):
    """Feed in order; the message holding absolute position ``cut`` is fed in two parts."""
    smb, objects, anomalies = transfers()
    pos = 0
    for side, data in messages:
        if bytewise:
            for i in range(len(data)):
                smb.data(side, data[i : i + 1])
        elif cut is not None and pos < cut < pos + len(data):
            smb.data(side, data[: cut - pos])
            smb.data(side, data[cut - pos :])
        else:
            smb.data(side, data)
        pos += len(data)
    smb.close()
    return smb, objects, anomalies


def check_conversation(smb: SmbTransfers, objects: list[TransferObject], anomalies: AnomalyCounter):
    assert anomalies.total() == 0, anomalies.as_dict()
    assert [(o.direction, o.method) for o in objects] == [("upload", "WRITE"), ("download", "READ")]
    for obj in objects:
        assert obj.filename == SHARE + "\\payroll\\2024.csv"
        assert bytes(obj.body) == CONTENT
        assert obj.sha256 == hashlib.sha256(CONTENT).hexdigest()
        assert obj.complete and not obj.gap_bytes and not obj.truncated
    upload, download = objects
    assert (upload.flow.src_ip, upload.flow.dst_port) == ("10.0.0.1", 445)
    assert (download.flow.src_ip, download.flow.dst_ip) == ("10.0.0.2", "10.0.0.1")
    assert smb.session.dialect == "3.1.1"
    assert (smb.session.domain, smb.session.user) == ("CORP", "alice")
    assert smb.session.shares == [SHARE]


def test_whole_messages() -> None:
    check_conversation(*feed_all(conversation()))


def test_split_at_every_position() -> None:
    messages = conversation()
    total = sum(len(data) for _, data in messages)
    for cut in range(1, total):
        check_conversation(*feed_all(messages, cut=cut))


def test_one_byte_at_a_time() -> None:
    check_conversation(*feed_all(conversation(), bytewise=True))


def test_each_direction_whole() -> None:
    """The client's whole stream before the server's: requests wait for their responses."""
    messages = conversation()
    smb, objects, anomalies = transfers()
    smb.data(C, b"".join(d for s, d in messages if s is C))
    smb.data(S, b"".join(d for s, d in messages if s is S))
    smb.close()
    check_conversation(smb, objects, anomalies)


def test_compounded_create_write_close_with_related_file_id() -> None:
    related = b"\xff" * 16
    request = b.compound(
        [
            b.create_request(10, "out.txt", tree_id=7),
            b.write_request(11, related, 0, CONTENT, tree_id=7, flags=b.FLAG_RELATED),
            b.close_request(12, related, tree_id=7, flags=b.FLAG_RELATED),
        ]
    )
    response = b.compound(
        [
            b.create_response(10, FID, tree_id=7),
            b.smb2(9, 11, b"\x11\x00" + b"\x00" * 15, response=True),
            b.close_response(12),
        ]
    )
    smb, objects, anomalies = transfers()
    smb.data(C, b.nbss(b.tree_connect_request(2, SHARE)))
    smb.data(S, b.nbss(b.tree_connect_response(2, tree_id=7)))
    smb.data(C, b.nbss(request))
    smb.data(S, b.nbss(response))
    assert len(objects) == 1
    assert objects[0].filename == SHARE + "\\out.txt"
    assert bytes(objects[0].body) == CONTENT and objects[0].complete
    assert anomalies.total() == 0


def test_gap_inside_write_leaves_a_flagged_hole_and_keeps_sync() -> None:
    messages = conversation()
    smb, objects, anomalies = transfers()
    for side, data in messages[:6]:
        smb.data(side, data)
    write = messages[6][1]  # PART2 at offset len(PART1)
    lost = (4 + 64 + 48 + 5, 4 + 64 + 48 + 15)  # ten bytes of its data
    smb.data(C, write[: lost[0]])
    smb.gap(C, lost[1] - lost[0])
    smb.data(C, write[lost[1] :])
    for side, data in messages[7:8] + messages[10:]:  # the other write, then close
        smb.data(side, data)
    assert len(objects) == 1
    upload = objects[0]
    assert upload.gap_bytes == 10 and not upload.complete and "smb_holes" in upload.flags
    body = bytes(upload.body)
    assert len(body) == len(CONTENT)
    hole = len(PART1) + 5
    assert body[:hole] == CONTENT[:hole] and body[hole + 10 :] == CONTENT[hole + 10 :]
    assert body[hole : hole + 10] == bytes(10)
    assert anomalies.total() == 0


def test_gap_across_a_boundary_resyncs_on_the_next_header() -> None:
    messages = conversation()
    smb, objects, anomalies = transfers()
    for side, data in messages[:7]:
        smb.data(side, data)
    lost = messages[7][1]
    smb.gap(C, len(lost) + 3)  # the whole first-half write and three bytes more...
    smb.data(C, b"junk")  # ...then noise before the next message
    for side, data in messages[8:]:
        smb.data(side, data)
    assert anomalies["smb.gap_lost_sync"] == 1 and anomalies["smb.gap_resync"] == 1
    upload, download = objects
    assert upload.gap_bytes == len(PART1) and bytes(upload.body)[len(PART1) :] == PART2
    assert download.complete and bytes(download.body) == CONTENT


def test_encrypted_session_is_marked() -> None:
    smb, objects, anomalies = transfers()
    smb.data(S, b.nbss(b.negotiate_response(0, 0x0300)))
    smb.data(C, b.nbss(b.transform(0x1234, b"\x8f" * 300)))
    smb.data(S, b.nbss(b.transform(0x1234, b"\x17" * 200)))
    smb.close()
    assert smb.encrypted and smb.session.encrypted_messages == 2 and not objects
    assert anomalies["smb.encrypted_session"] == 1


def test_multi_credit_write_and_credit_charge_check() -> None:
    big = bytes(range(256)) * 800  # 204,800 bytes: four credits' worth
    smb, objects, anomalies = transfers()
    smb.data(C, b.nbss(b.create_request(1, "big.bin")))
    smb.data(S, b.nbss(b.create_response(1, FID)))
    smb.data(C, b.nbss(b.write_request(2, FID, 0, big, credit_charge=4)))
    smb.data(C, b.nbss(b.write_request(6, FID, len(big), big, credit_charge=1)))
    smb.data(C, b.nbss(b.close_request(7, FID)))
    smb.data(S, b.nbss(b.close_response(7)))
    assert anomalies["smb.credit_charge_too_small"] == 1
    assert bytes(objects[0].body) == big + big


def test_file_and_connection_limits_truncate_and_count() -> None:
    smb, objects, anomalies = transfers(SmbLimits(max_file_bytes=50, max_connection_bytes=80))
    smb.data(C, b.nbss(b.create_request(1, "a")))
    smb.data(S, b.nbss(b.create_response(1, FID)))
    smb.data(C, b.nbss(b.write_request(2, FID, 0, CONTENT)))
    other = bytes(16)
    smb.data(C, b.nbss(b.write_request(3, other, 0, b"x" * 40)))
    smb.close()
    first, second = objects
    assert first.truncated and len(first.body) == 50 and bytes(first.body) == CONTENT[:50]
    assert second.truncated and len(second.body) == 0 and "smb_name_unknown" in second.flags
    assert anomalies["smb.file_size_limit"] == 1
    assert anomalies["smb.connection_memory_limit"] == 1


def test_bad_input_is_counted_not_raised() -> None:
    smb, objects, anomalies = transfers()
    bad_write = bytearray(b.write_request(2, FID, 0, b"abc"))
    struct.pack_into("<I", bad_write, 64 + 4, 5000)  # claims 5000 bytes, carries 3
    smb.data(C, b.nbss(bytes(bad_write)))
    smb.data(C, b.nbss(b.smb2(77, 3, b"\x00" * 8)))  # no such command
    chained = bytearray(b.close_request(4, FID))
    struct.pack_into("<I", chained, 20, 9999)  # NextCommand past the end
    smb.data(C, b.nbss(bytes(chained)))
    smb.data(C, b.nbss(b.write_request(5, FID, 1 << 62, b"far")))
    smb.data(S, b.nbss(b.read_response(99, b"unasked")))
    smb.close()
    for name in (
        "smb.data_outside_message",
        "smb.unknown_command",
        "smb.bad_next_command",
        "smb.impossible_offset",
        "smb.response_without_request",
    ):
        assert anomalies[name] == 1, (name, anomalies.as_dict())
    assert [bytes(o.body) for o in objects] == [b"abc"]
    assert all("Fsmb1" in ex for v in anomalies.as_dict().values() for ex in v["examples"])


def test_named_pipes_are_not_files() -> None:
    smb, objects, _ = transfers()
    smb.data(C, b.nbss(b.tree_connect_request(1, "\\\\srv\\IPC$")))
    smb.data(S, b.nbss(b.tree_connect_response(1, tree_id=3, share_type=2)))
    smb.data(C, b.nbss(b.create_request(2, "srvsvc", tree_id=3)))
    smb.data(S, b.nbss(b.create_response(2, FID, tree_id=3)))
    smb.data(C, b.nbss(b.write_request(3, FID, 0, b"\x05\x00\x0b\x03 dcerpc bind", tree_id=3)))
    smb.close()
    assert objects == []


@pytest.mark.parametrize(
    ("up", "down", "expected"),
    [
        (b.nbss(b.create_request(1, "x")), b"", True),
        (b"", b.nbss(b.create_request(1, "x")), False),
        (b.nbss(b.close_response(1)), b"", False),
        (b"GET / HTTP/1.1\r\n", b"", None),
        (b"\x00\x00\x00\x10\xfeSM", b"", None),
    ],
)
def test_detection(up: bytes, down: bytes, expected: bool | None) -> None:
    assert smb_client_is_originator(up, down) is expected
    assert looks_like_smb(up or down) is (expected is not None)


def test_flow_ending_inside_a_write_keeps_what_arrived() -> None:
    smb, objects, anomalies = transfers()
    smb.data(C, b.nbss(b.create_request(1, "cut.csv")))
    smb.data(S, b.nbss(b.create_response(1, FID)))
    write = b.nbss(b.write_request(2, FID, 0, CONTENT))
    smb.data(C, write[:-30])  # the capture ends 30 bytes short
    smb.close()
    assert anomalies["smb.truncated_message"] == 1
    (upload,) = objects
    assert upload.filename == "cut.csv" and upload.gap_bytes == 30 and not upload.complete
    assert bytes(upload.body) == CONTENT[:-30] + bytes(30)


def test_framer_keepalives_bad_headers_and_resync() -> None:
    from sensor.protocols.smb.framing import Frame, NbssFramer

    msg = b.nbss(b.close_request(1, FID))
    framer = NbssFramer()
    out = framer.feed(b"\x85\x00\x00\x00" + msg)  # keep-alive, then a message
    assert [type(x) for x in out] == [Frame] and bytes(out[0].payload) == msg[4:]
    out = framer.feed(b"\x42garbage" + msg)  # not a session message type: resync on the next
    assert out[:2] == ["smb.bad_nbss_header", "smb.gap_resync"]
    assert isinstance(out[2], Frame) and bytes(out[2].payload) == msg[4:]
    out = framer.feed(msg[:10]) + framer.gap(len(msg) - 10) + framer.feed(msg)
    assert isinstance(out[0], Frame) and out[0].holes == [(6, len(msg) - 4)]
    assert isinstance(out[1], Frame) and out[1].holes == []
    assert framer.feed(msg[:-1]) == [] and framer.finish()[0] == "smb.truncated_message"


def test_port_139_session_request_then_smb() -> None:
    """NetBIOS over TCP (port 139): a session request and its positive response come first."""

    def name(text: str) -> bytes:  # first-level encoding (RFC 1001 14.1): 32 letters
        raw = text.ljust(15).encode()[:15] + b"\x20"
        return (
            b"\x20" + bytes(c for ch in raw for c in (0x41 + (ch >> 4), 0x41 + (ch & 15))) + b"\x00"
        )

    request = b"\x81\x00\x00\x44" + name("FILESERVER") + name("LAPTOP")
    assert smb_client_is_originator(request, b"") is True
    messages = [(C, request), (S, b"\x82\x00\x00\x00"), *conversation()]
    check_conversation(*feed_all(messages))


class _Recorder:
    """An overflow sink that keeps what it is told, in order."""

    def __init__(self, offset: int, kept: bytearray) -> None:
        self.offset, self.kept = offset, bytes(kept)
        self.events: list[tuple[str, bytes | int]] = []

    def feed(self, chunk: bytes) -> None:
        self.events.append(("feed", chunk))

    def gap(self, length: int) -> None:
        self.events.append(("gap", length))


def test_bytes_past_the_limit_are_streamed_in_offset_order() -> None:
    """Past ``max_file_bytes`` a front-to-back file goes to the stream sink: the piece across the
    limit is split, a skipped range is a gap, bytes already streamed are dropped and counted, and
    a rewrite below the limit after streaming began is counted."""
    sinks: list[_Recorder] = []

    def factory(offset: int, kept: bytearray) -> _Recorder:
        sinks.append(_Recorder(offset, kept))
        return sinks[-1]

    data = bytes(range(256)) * 2
    smb, objects, anomalies = transfers(SmbLimits(max_file_bytes=100))
    writes = [(0, data[:60]), (60, data[60:130]), (130, data[130:200]), (250, data[250:300])]
    writes += [(280, data[280:320]), (10, b"x" * 5)]
    messages = conversation()[:6]
    messages += [
        (C, b.nbss(b.write_request(10 + n, FID, offset, piece, tree_id=7)))
        for n, (offset, piece) in enumerate(writes)
    ]
    messages += [
        (C, b.nbss(b.close_request(30, FID, tree_id=7))),
        (S, b.nbss(b.close_response(30))),
    ]
    with overflow_scanning(factory):
        for side, message in messages:
            smb.data(side, message)
    (sink,) = sinks
    assert (sink.offset, sink.kept) == (100, data[:100])
    assert sink.events == [
        ("feed", data[100:130]),
        ("feed", data[130:200]),
        ("gap", 50),
        ("feed", data[250:300]),
        ("feed", data[300:320]),
    ]
    counts = anomalies.as_dict()
    assert counts["smb.file_size_limit"]["count"] == 1
    assert counts["smb.stream_overlap"]["count"] == 1
    assert counts["smb.rewrite_after_limit"]["count"] == 1
    (upload,) = objects
    assert bytes(upload.body) == data[:10] + b"x" * 5 + data[15:100]
    assert upload.overflow is sink and upload.truncated
    assert (upload.size, upload.gap_bytes) == (320 - 50, 50)
    expected = hashlib.sha256(data[:200] + data[250:320]).hexdigest()
    assert upload.sha256 == expected  # every byte as first seen, in offset order
