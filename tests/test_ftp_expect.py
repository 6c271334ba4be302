"""DataExpectations and FtpTransfers together: claiming, parking, limits, unknown commands."""

from __future__ import annotations

from sensor.anomalies import AnomalyCounter
from sensor.flows.reassembly import StreamReassembler
from sensor.flows.table import Direction, Flow, FlowSide
from sensor.objects import TransferObject
from sensor.protocols.ftp import Side
from sensor.protocols.ftp.expect import DataExpectations, FtpDataLimits
from sensor.protocols.ftp_transfers import FtpTransfers

CLIENT, SERVER = ("10.0.0.5", 40000), ("203.0.113.9", 21)


def _flow(uid: str, orig: tuple[str, int], resp: tuple[str, int], t: float = 0.0) -> Flow:
    anomalies = AnomalyCounter()
    return Flow(
        uid,
        *orig,
        *resp,
        (),
        t,
        t,
        FlowSide(StreamReassembler(anomalies)),
        FlowSide(StreamReassembler(anomalies)),
    )


def _session(
    limits: FtpDataLimits | None = None,
) -> tuple[FtpTransfers, DataExpectations, list[TransferObject], AnomalyCounter]:
    anomalies = AnomalyCounter()
    table = DataExpectations(anomalies, limits)
    found: list[TransferObject] = []
    ftp = FtpTransfers(
        uid="C1",
        vlan=(),
        client=CLIENT,
        server=SERVER,
        clock=lambda: 0.0,
        sink=found.append,
        anomalies=anomalies,
        max_object_bytes=1 << 20,
        expectations=table,
    )
    ftp.data(Side.SERVER, b"220 ready\r\n")
    return ftp, table, found, anomalies


def test_passive_data_connection_is_claimed_and_named() -> None:
    ftp, table, found, _ = _session()
    ftp.data(Side.CLIENT, b"PASV\r\n")
    ftp.data(Side.SERVER, b"227 Entering Passive Mode (192,168,7,9,19,137).\r\n")
    # the server announced its private address (NAT): its public one is matched too
    data = _flow("D1", (CLIENT[0], 50000), (SERVER[0], 5001))
    channel = table.claim(data)
    assert channel is not None and table.claim(data) is None  # one connection per announcement
    channel.data(Direction.TO_RESPONDER, b"name,id\n")
    ftp.data(Side.CLIENT, b"STOR staff.csv\r\n")
    ftp.data(Side.SERVER, b"150 ok\r\n")
    channel.close()
    assert not found  # the final reply is still due
    ftp.data(Side.SERVER, b"226 done\r\n")
    (obj,) = found
    assert (obj.method, obj.filename, obj.direction, obj.related_flow) == (
        "STOR",
        "staff.csv",
        "upload",
        "C1",
    )
    assert obj.complete and bytes(obj.body) == b"name,id\n" and obj.flow.uid == "D1"


def test_data_before_the_announcement_is_parked_within_its_limit() -> None:
    ftp, table, found, anomalies = _session(FtpDataLimits(max_parked_bytes_per_flow=4))
    data = _flow("D1", (SERVER[0], 20), (CLIENT[0], 6000))  # active mode: the server connects
    parked = table.park(data)
    assert parked is not None
    parked.data(Direction.TO_RESPONDER, b"0123456789")
    parked.close()
    ftp.data(Side.CLIENT, b"PORT 10,0,0,5,23,112\r\nRETR big.bin\r\n")
    ftp.data(Side.SERVER, b"200 ok\r\n150 go\r\n226 done\r\n")
    (obj,) = found
    assert bytes(obj.body) == b"0123" and obj.gap_bytes == 6 and not obj.complete
    assert obj.direction == "download" and obj.filename == "big.bin"
    assert anomalies["ftp.parked_bytes_limit"] == 1
    assert anomalies["ftp.data_before_announcement"] == 1


def test_nothing_is_parked_without_an_open_ftp_session_or_room() -> None:
    table = DataExpectations(AnomalyCounter())
    assert table.park(_flow("X", ("10.0.0.1", 1234), ("10.0.0.2", 80))) is None
    _, no_room, _, _ = _session(FtpDataLimits(max_parked_flows=0))
    assert no_room.park(_flow("X", ("10.0.0.1", 1234), ("10.0.0.2", 80))) is None


def test_announcements_expire() -> None:
    ftp, table, _, _ = _session(FtpDataLimits(expect_seconds=10))
    ftp.data(Side.CLIENT, b"EPSV\r\n")
    ftp.data(Side.SERVER, b"229 Entering Extended Passive Mode (|||7000|)\r\n")
    assert table.claim(_flow("late", (CLIENT[0], 1), (SERVER[0], 7000), t=11.0)) is None


def test_data_without_a_command_is_kept_and_flagged() -> None:
    ftp, table, found, anomalies = _session()
    ftp.data(Side.CLIENT, b"PASV\r\n")
    ftp.data(Side.SERVER, b"227 (203,0,113,9,31,64)\r\n")
    channel = table.claim(_flow("D1", (CLIENT[0], 50001), (SERVER[0], 8000)))
    assert channel is not None
    channel.data(Direction.TO_RESPONDER, b"payload")
    channel.close()
    ftp.close()
    (obj,) = found
    assert obj.direction == "upload" and "ftp_command_unknown" in obj.flags
    assert anomalies["ftp.data_without_command"] == 1


def test_expectation_table_is_bounded_oldest_first() -> None:
    ftp, table, _, anomalies = _session(FtpDataLimits(max_expectations=2))
    for port in (7001, 7002, 7003):
        ftp.data(Side.CLIENT, b"EPSV\r\n")
        ftp.data(Side.SERVER, b"229 Entering Extended Passive Mode (|||%d|)\r\n" % port)
    assert anomalies["ftp.expectations_full"] == 1
    assert table.claim(_flow("old", (CLIENT[0], 1), (SERVER[0], 7001))) is None
    assert table.claim(_flow("new", (CLIENT[0], 2), (SERVER[0], 7003))) is not None
