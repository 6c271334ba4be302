"""The test-traffic toolkit in bench/traffic and the bundled sample capture it builds.

The toolkit is an oracle for the sensor's end-to-end tests, so it is checked here against things
outside the project: hand-computed check characters, tshark's own TCP reassembly and HTTP parser,
and Debian's tor-geoipdb.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import dpkt
import pytest

from bench.traffic.people import (
    ALLOCATED_MOBILE_PREFIXES,
    IMPOSSIBLE_DATE_KINDS,
    REGION_CODES,
    WEIGHTS,
    SyntheticPeople,
    check_character,
    find_resident_ids,
    generate_people,
    is_valid_resident_id,
    mask_resident_id,
)
from bench.traffic.sample import (
    SERVER_COUNTRIES,
    TOR_GEOIP,
    build_frames,
    build_sample,
    build_uploads,
    truth_path,
    verify_server_countries,
)
from bench.traffic.tcp_session import pcap_bytes, tcp_session, write_pcap

SAMPLE = Path(__file__).resolve().parent.parent / "sensor" / "data" / "sample-http-upload.pcap"
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


# --- check character oracle ------------------------------------------------------------------------


def test_weights_are_powers_of_two_mod_11() -> None:
    assert WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.mark.parametrize(
    "resident_id",
    [
        # The commonly cited example. Digits x weights:
        # 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9+3*10+1*5+0*8+0*4+2*2
        # = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2; (12-2) mod 11 = 10 -> X.
        "11010519491231002X",
        # 1*7+1*9+0+1*5+0+1*4+1*2+9*1+9*6+0+0+3*9+0+7*5+4*8+2*4+5*2
        # = 7+9+5+4+2+9+54+27+35+32+8+10 = 202; 202 mod 11 = 4; 12-4 = 8.
        "110101199003074258",
        # 4*7+4*9+0+3*5+0+5*4+1*2+9*1+8*6+0+0+1*9+0+1*5+0+0+1*2
        # = 28+36+15+20+2+9+48+9+5+2 = 174; 174 mod 11 = 9; 12-9 = 3.
        "440305198001010013",
        # As the first example with sequence 007: 167 - 2*2 + 7*2 = 177; 177 mod 11 = 1;
        # (12-1) mod 11 = 0.
        "110105194912310070",
    ],
)
def test_check_character_matches_hand_computed_examples(resident_id: str) -> None:
    assert check_character(resident_id[:17]) == resident_id[17]
    assert is_valid_resident_id(resident_id)
    assert is_valid_resident_id(resident_id.lower())  # a lower-case x is still accepted


def test_oracle_rejects_bad_check_dates_and_shapes() -> None:
    assert not is_valid_resident_id("110105194912310021")  # check should be X
    assert not is_valid_resident_id("110105194913310020")  # month 13
    assert not is_valid_resident_id("11010519491231002")  # 17 characters
    assert not is_valid_resident_id("1101051949123100２X")  # full-width digit
    with pytest.raises(ValueError):
        check_character("1101051949123100")


def test_find_resident_ids_respects_digit_boundaries() -> None:
    valid = "11010519491231002X"
    text = f"a {valid}, 9{valid[:-1]}5 {valid}7 0{valid} {valid}\n"
    assert find_resident_ids(text) == [valid, valid]
    assert mask_resident_id("110101199003074258") == "110101********4258"


# --- synthetic people --------------------------------------------------------------------------------


def test_people_are_valid_and_unique() -> None:
    people = generate_people(7, 300)
    ids = [p.resident_id for p in people]
    assert len(set(ids)) == len(ids)
    for p in people:
        assert is_valid_resident_id(p.resident_id)
        assert p.resident_id[:6] in REGION_CODES
        assert datetime.date(1950, 1, 1) <= p.birth_date <= datetime.date(2010, 12, 31)
        assert re.fullmatch(r"1[3-9]\d{9}", p.mobile)
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d{1,2}@example\.(com|net|org)", p.email)
        assert 2 <= len(p.name) <= 3 and all("\u4e00" <= c <= "\u9fff" for c in p.name)
    assert any(i.endswith("X") for i in ids)  # the 10 -> X branch is exercised


def test_mobile_prefixes_are_the_detectors_allocated_segments() -> None:
    """The generator's own list and the product's table were written apart; they must agree."""
    from detectors.tables import CN_MOBILE_PREFIXES

    assert {int(p) for p in ALLOCATED_MOBILE_PREFIXES} == set(CN_MOBILE_PREFIXES)
    assert len(set(ALLOCATED_MOBILE_PREFIXES)) == len(ALLOCATED_MOBILE_PREFIXES)


def test_generated_mobiles_are_allocated_and_the_stream_is_unchanged() -> None:
    from detectors.reference import cn_mobile

    new = generate_people(11, 2000)
    old = SyntheticPeople(11, allocated_mobiles=False).people(2000)
    assert all(cn_mobile(p.mobile) == p.mobile for p in new)
    # the old draw, kept for the bundled sample, has unallocated prefixes; the fix only touches them
    assert sum(cn_mobile(p.mobile) is None for p in old) > 300
    for a, b in zip(new, old, strict=True):
        assert (a.name, a.resident_id, a.email) == (b.name, b.resident_id, b.email)
        assert a.mobile[3:] == b.mobile[3:]
        assert a.mobile == b.mobile or cn_mobile(b.mobile) is None


def test_people_are_deterministic_per_seed() -> None:
    assert generate_people(1, 20) == generate_people(1, 20)
    assert generate_people(1, 20) != generate_people(2, 20)


def test_decoys_fool_a_naive_regex_but_not_the_oracle() -> None:
    gen = SyntheticPeople(3)
    naive = re.compile(r"\d{17}[\dX]")
    for _ in range(50):
        wrong = gen.decoy_wrong_check()
        assert naive.fullmatch(wrong.value) and not is_valid_resident_id(wrong.value)
        assert wrong.value[17] != check_character(wrong.value[:17])
        for kind in IMPOSSIBLE_DATE_KINDS:
            bad = gen.decoy_impossible_date(kind)
            assert naive.fullmatch(bad.value) and not is_valid_resident_id(bad.value)
            assert bad.value[17] == check_character(bad.value[:17])  # only the date is wrong
            month, day = bad.value[10:12], bad.value[12:14]
            assert {"month13": month == "13", "day32": day == "32", "feb30": month + day == "0230"}[
                kind
            ]
        run = gen.decoy_long_run(22)
        assert re.fullmatch(r"\d{22}", run.value)
        assert any(is_valid_resident_id(run.value[i : i + 18]) for i in range(5))
        assert find_resident_ids(f"order {run.value} shipped") == []


# --- TCP sessions ----------------------------------------------------------------------------------


def _client_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(seq, payload) of client-to-server data segments, via dpkt (independent of scapy)."""
    out = []
    for _, frame in dpkt.pcap.Reader(io.BytesIO(data)):
        tcp = dpkt.ethernet.Ethernet(frame).data.data
        if tcp.dport == 80 and tcp.data:
            out.append((tcp.seq, bytes(tcp.data)))
    return out


def test_session_segments_retransmission_and_swap() -> None:
    payload = bytes(range(256)) * 10  # 2560 bytes -> 5 segments of 536 and one of 416
    frames = tcp_session(payload, b"ok", mss=536, retransmit=[1], swap=[(2, 3)], client_isn=100)
    data_notes = [f.note for f in frames if f.note.startswith(("client data", "retransmit"))]
    assert data_notes == [
        "client data 0",
        "client data 1",
        "client data 3",
        "client data 2",
        "client data 4",
        "retransmit 1",
    ]
    segments = _client_segments(pcap_bytes(frames))
    assert segments[-1] == segments[1]  # same sequence number, same bytes
    assert b"".join(p for _, p in sorted(set(segments))) == payload
    assert [f.timestamp_us for f in frames] == [
        1_700_000_000_000_000 + 1000 * k for k in range(len(frames))
    ]


def test_session_rejects_bad_indices() -> None:
    with pytest.raises(ValueError):
        tcp_session(b"x" * 100, mss=50, retransmit=[2])
    with pytest.raises(ValueError):
        tcp_session(b"x" * 100, mss=50, swap=[(0, 5)])


def test_pcap_is_deterministic(tmp_path: Path) -> None:
    def build(name: str, seed: int) -> bytes:
        path = tmp_path / name
        write_pcap(path, build_frames(build_uploads(seed), seed))
        return path.read_bytes()

    first = build("a.pcap", 5)
    assert build("b.pcap", 5) == first
    assert build("c.pcap", 6) != first
    assert first[:24] == bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def test_bundled_sample_is_what_the_command_builds(tmp_path: Path) -> None:
    truth = build_sample(tmp_path / "sample-http-upload.pcap")
    assert (tmp_path / "sample-http-upload.pcap").read_bytes() == SAMPLE.read_bytes()
    assert json.loads(truth_path(SAMPLE).read_text(encoding="utf-8")) == truth
    assert SAMPLE.stat().st_size < 1_000_000


def test_truth_numbers() -> None:
    truth = json.loads(truth_path(SAMPLE).read_text(encoding="utf-8"))
    assert truth["synthetic"] is True and "SYNTHETIC" in truth["WARNING"]
    summary = [
        (p["expected_country"], p["resident_ids_found"], p["distinct_individuals"])
        for p in truth["posts"]
    ]
    assert summary == [("US", 45, 40), ("HK", 8, 8), ("CN", 5, 5), ("US", 0, 0)]
    assert [p["cross_border"] for p in truth["posts"]] == [True, True, False, True]
    assert len({p["client_port"] for p in truth["posts"]}) == 4
    first = truth["posts"][0]
    assert first["masked_samples"] == [mask_resident_id(i) for i in first["resident_ids"][:3]]
    assert all(is_valid_resident_id(i) for p in truth["posts"] for i in p["resident_ids"])
    assert len(first["decoys"]) == 6
    assert {d["kind"] for d in truth["posts"][3]["decoys"]} >= {"wrong_check", "long_run"}


# --- tshark as an independent oracle ----------------------------------------------------------------


def _tshark(*args: str) -> str:
    assert TSHARK is not None
    result = subprocess.run(
        [TSHARK, "-n", *args], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def _follow_client_bytes(pcap: Path, stream: int) -> bytes:
    """Client-to-server bytes of one TCP stream as tshark reassembles them (follow,tcp,raw)."""
    out = _tshark("-r", str(pcap), "-q", "-z", f"follow,tcp,raw,{stream}")
    body = out.split("Node 1:", 1)[1].split("\n", 1)[1].split("=" * 20, 1)[0]
    return bytes.fromhex("".join(ln for ln in body.splitlines() if ln and not ln.startswith("\t")))


@needs_tshark
def test_tshark_reassembles_the_crafted_bodies() -> None:
    truth = json.loads(truth_path(SAMPLE).read_text(encoding="utf-8"))
    uploads = build_uploads()
    for stream, (up, post) in enumerate(zip(uploads, truth["posts"], strict=True)):
        request = _follow_client_bytes(SAMPLE, stream)
        assert request == up.request()
        body = request.split(b"\r\n\r\n", 1)[1]
        assert body == up.body
        assert hashlib.sha256(body).hexdigest() == post["body_sha256"]
        assert len(find_resident_ids(body.decode("utf-8"))) == post["resident_ids_found"]


@needs_tshark
def test_tshark_sees_the_posts() -> None:
    truth = json.loads(truth_path(SAMPLE).read_text(encoding="utf-8"))
    fields = ["ip.dst", "tcp.srcport", "http.host", "http.request.uri", "http.content_length"]
    out = _tshark(
        "-r",
        str(SAMPLE),
        "-o",
        "tcp.reassemble_out_of_order:TRUE",
        "-Y",
        "http.request",
        "-T",
        "fields",
        *[a for f in fields for a in ("-e", f)],
    )
    rows = [line.split("\t") for line in out.splitlines() if line]
    expected = [
        [
            p["server_ip"],
            str(p["client_port"]),
            p["url"].split("/")[2],
            "/" + p["url"].split("/", 3)[3],
            str(p["content_length"]),
        ]
        for p in truth["posts"]
    ]
    assert rows == expected
    responses = _tshark(
        "-r", str(SAMPLE), "-Y", "http.response", "-T", "fields", "-e", "http.response.code"
    )
    assert responses.split() == ["200"] * 4


@needs_tshark
def test_tshark_reassembles_across_sequence_wrap(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 12
    path = tmp_path / "wrap.pcap"
    isn = (1 << 32) - 1000  # the 32-bit sequence number wraps inside the second segment
    write_pcap(path, tcp_session(payload, b"", retransmit=[3], swap=[(0, 1)], client_isn=isn))
    seqs = [seq for seq, _ in _client_segments(path.read_bytes())]
    assert max(seqs) > (1 << 32) - 1000 and min(seqs) < 10_000
    assert _follow_client_bytes(path, 0) == payload


# --- addresses and countries -----------------------------------------------------------------------


def test_server_addresses_are_public() -> None:
    for address in SERVER_COUNTRIES:
        assert ipaddress.IPv4Address(address).is_global, address
    assert ipaddress.IPv4Address("10.20.30.40").is_private


@pytest.mark.skipif(not TOR_GEOIP.exists(), reason=f"{TOR_GEOIP} missing (apt install tor-geoipdb)")
def test_server_countries_against_tor_geoipdb() -> None:
    assert verify_server_countries() == {}
