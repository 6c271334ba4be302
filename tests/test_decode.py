"""Per-packet decoder: the header fields that matter, and lying length fields."""

from sensor.anomalies import AnomalyCounter
from sensor.decode.packet import decode_tcp
from tests.pcapbytes import ethernet_ipv4_tcp


def test_decodes_ipv4_tcp() -> None:
    frame = ethernet_ipv4_tcp("10.1.2.3", "8.8.8.8", 51000, 8080, seq=4242, payload=b"POST /")
    seg = decode_tcp(1, frame, 1.5, AnomalyCounter())
    assert seg is not None
    assert (seg.src, seg.dst, seg.sport, seg.dport, seg.seq) == (
        "10.1.2.3",
        "8.8.8.8",
        51000,
        8080,
        4242,
    )
    assert seg.payload == b"POST /"
    assert seg.vlan == ()


def test_decodes_vlan_tag() -> None:
    seg = decode_tcp(1, ethernet_ipv4_tcp(vlan=42, payload=b"x"), 0.0, AnomalyCounter())
    assert seg is not None and seg.vlan == (42,) and seg.payload == b"x"


def test_ethernet_padding_is_not_payload() -> None:
    frame = ethernet_ipv4_tcp(payload=b"") + b"\x00" * 6  # padded to the 60-byte minimum
    seg = decode_tcp(1, frame, 0.0, AnomalyCounter())
    assert seg is not None and seg.payload == b""


def test_lying_tcp_data_offset_is_counted() -> None:
    frame = bytearray(ethernet_ipv4_tcp(payload=b"abc"))
    frame[14 + 20 + 12] = 2 << 4  # data offset 2 words: below the minimum of 5
    anomalies = AnomalyCounter()
    assert decode_tcp(1, bytes(frame), 0.0, anomalies) is None
    assert anomalies["decode.bad_tcp_data_offset"] == 1


def test_lying_ip_total_length_is_clamped_and_counted() -> None:
    frame = bytearray(ethernet_ipv4_tcp(payload=b"abc"))
    frame[16:18] = (1500).to_bytes(2, "big")
    anomalies = AnomalyCounter()
    seg = decode_tcp(1, bytes(frame), 0.0, anomalies)
    assert seg is not None and seg.payload == b"abc"
    assert anomalies["decode.ip_length_exceeds_capture"] == 1


def test_non_ip_frame_is_skipped_without_anomaly() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    anomalies = AnomalyCounter()
    assert decode_tcp(1, arp, 0.0, anomalies) is None
    assert anomalies.total() == 0


def test_unknown_linktype_is_counted() -> None:
    anomalies = AnomalyCounter()
    assert decode_tcp(999, b"\x00" * 40, 0.0, anomalies) is None
    assert anomalies["decode.unsupported_linktype"] == 1
