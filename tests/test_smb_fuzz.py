"""Fuzzing the SMB parser with hypothesis: valid conversations with bytes flipped, fields
overwritten, random cuts and gaps, and plain noise, never raise; objects stay within the limits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.anomalies import AnomalyCounter
from sensor.objects import TransferObject
from sensor.protocols.http.events import Side
from sensor.protocols.smb import SmbLimits, SmbTransfers
from tests import smbbytes as b
from tests.test_smb_session import conversation

LIMITS = SmbLimits(max_file_bytes=4096, max_connection_bytes=8192)
_MESSAGES = conversation()
_TOKENS = [data for _, data in _MESSAGES] + [
    b.nbss(b.transform(1, b"x" * 40)),
    b.nbss(b"\xffSMB" + bytes(40)),
    b.nbss(b.compound([b.close_request(9, bytes(16)), b.close_request(10, bytes(16))])),
    b"\x00\xff\xff\xff\xfeSMB",
    b"\x85\x00\x00\x00",
]


def _run(
    messages: list[tuple[Side, bytes]], cuts: list[int], gap_at: int, gap_len: int
) -> list[TransferObject]:
    objects: list[TransferObject] = []
    smb = SmbTransfers(
        uid="Ffuzz",
        vlan=(),
        client=("10.0.0.1", 1),
        server=("10.0.0.2", 445),
        clock=lambda: 0.0,
        sink=objects.append,
        anomalies=AnomalyCounter(),
        max_object_bytes=4096,
        limits=LIMITS,
    )
    for n, (side, data) in enumerate(messages):
        if n == gap_at:
            smb.gap(side, gap_len)
        at, i = 0, 0
        while at < len(data):
            step = cuts[i % len(cuts)]
            smb.data(side, data[at : at + step])
            at, i = at + step, i + 1
    smb.close()
    for obj in objects:
        assert len(obj.body) <= LIMITS.max_file_bytes
    assert smb.files.held == 0
    return objects


_cuts = st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=6)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(_MESSAGES) - 1), st.integers(0, 400), st.integers(0, 255)),
        max_size=6,
    ),
    cuts=_cuts,
    gap_at=st.integers(-1, len(_MESSAGES)),
    gap_len=st.integers(1, 5000),
)
def test_mutated_conversations_never_raise(
    flips: list[tuple[int, int, int]], cuts: list[int], gap_at: int, gap_len: int
) -> None:
    messages = [(side, bytearray(data)) for side, data in _MESSAGES]
    for index, pos, value in flips:
        data = messages[index][1]
        data[pos % len(data)] = value
    _run([(side, bytes(data)) for side, data in messages], cuts, gap_at, gap_len)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.lists(
        st.tuples(
            st.sampled_from([Side.CLIENT, Side.SERVER]),
            st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=80)),
        ),
        max_size=25,
    ),
    cuts=_cuts,
    gap_at=st.integers(-1, 25),
    gap_len=st.integers(1, 70000),
)
def test_noise_and_fragments_never_raise(
    stream: list[tuple[Side, bytes]], cuts: list[int], gap_at: int, gap_len: int
) -> None:
    _run(stream, cuts, gap_at, gap_len)


def _real_smb1() -> list[tuple[Side, bytes]]:
    """The SMB1 messages of a real smbclient upload (WRITE_ANDX, NT_CREATE_ANDX, AndX chains)."""
    from tests.test_smb_corpus import CORPUS, _streams

    path = CORPUS / "suricata/smb1-eicar-write.pcap"
    if not path.exists():
        return []
    return [(Side.CLIENT if c else Side.SERVER, p) for c, p in _streams(path)]


_SMB1 = _real_smb1()


@pytest.mark.skipif(not _SMB1, reason="shared corpus not present")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    cuts=_cuts,
    gap_at=st.integers(-1, 40),
    gap_len=st.integers(1, 3000),
)
def test_mutated_real_smb1_never_raises(
    flips: list[tuple[int, int]], cuts: list[int], gap_at: int, gap_len: int
) -> None:
    messages = [(side, bytearray(data)) for side, data in _SMB1]
    for pos, value in flips:
        data = messages[pos % len(messages)][1]
        data[(pos // len(messages)) % len(data)] = value
    _run([(side, bytes(data)) for side, data in messages], cuts, gap_at, gap_len)
