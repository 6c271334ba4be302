"""Per-packet decoder: the header fields that matter, and lying length fields."""

from sensor.anomalies import AnomalyCounter
from sensor.capture.record import CaptureRecord
from sensor.decode.decoder import PacketDecoder
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


def test_packet_decoder_takes_capture_records() -> None:
    frame = ethernet_ipv4_tcp(payload=b"abc")
    record = CaptureRecord(index=7, timestamp=2.5, linktype=1, data=frame, wire_length=len(frame))
    seg = PacketDecoder(AnomalyCounter()).decode(record)
    assert seg == decode_tcp(1, frame, 2.5, AnomalyCounter(), 7)
    assert seg is not None and (seg.frame_index, seg.timestamp, seg.tunnel) == (7, 2.5, ())


def test_truncated_link_headers_are_counted() -> None:
    for linktype, name in (
        (1, "decode.truncated_ethernet"),
        (0, "decode.truncated_loopback"),
        (113, "decode.truncated_sll"),
        (276, "decode.truncated_sll2"),
        (239, "decode.truncated_nflog"),
    ):
        anomalies = AnomalyCounter()
        assert decode_tcp(linktype, b"\x02\x00", 0.0, anomalies) is None
        assert anomalies[name] == 1, name


def test_non_ip_loopback_family_is_skipped_without_anomaly() -> None:
    anomalies = AnomalyCounter()
    assert decode_tcp(0, (18).to_bytes(4, "little") + b"\x00" * 40, 0.0, anomalies) is None
    assert anomalies.total() == 0


def test_zero_ipv4_total_length_is_read_to_the_end_of_capture() -> None:
    frame = bytearray(ethernet_ipv4_tcp(payload=b"offloaded"))
    frame[16:18] = b"\x00\x00"  # what a host capture shows before segmentation offload fills it
    anomalies = AnomalyCounter()
    seg = decode_tcp(1, bytes(frame), 0.0, anomalies)
    assert seg is not None and seg.payload == b"offloaded"
    assert anomalies["decode.ipv4_zero_total_length"] == 1
