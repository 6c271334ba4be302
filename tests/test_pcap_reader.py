"""Classic pcap reading, including every kind of damage the foundation issue names."""

from pathlib import Path

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.capture import open_capture
from sensor.errors import CaptureFormatError
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record


def _read(tmp_path: Path, content: bytes) -> tuple[list[bytes], AnomalyCounter, object]:
    path = tmp_path / "c.pcap"
    path.write_bytes(content)
    anomalies = AnomalyCounter()
    reader = open_capture(path, anomalies)
    frames = [bytes(r.data) for r in reader]
    return frames, anomalies, reader


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_reads_both_byte_orders_and_resolutions(tmp_path: Path, order: str, nanos: bool) -> None:
    frame = ethernet_ipv4_tcp(payload=b"hello")
    frac = 500_000_000 if nanos else 500_000
    content = global_header(order, nanos) + record(frame, 1_700_000_000, frac, order)
    path = tmp_path / "c.pcap"
    path.write_bytes(content)
    records = list(open_capture(path, AnomalyCounter()))
    assert [bytes(r.data) for r in records] == [frame]
    assert records[0].timestamp == pytest.approx(1_700_000_000.5)
    assert records[0].linktype == 1


def test_empty_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="the file is empty"):
        open_capture(path, AnomalyCounter())


def test_text_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not packets\n" * 10)
    with pytest.raises(
        CaptureFormatError, match="not a pcap or pcapng capture: it looks like a text file"
    ):
        open_capture(path, AnomalyCounter())


def test_pcapng_with_bad_byte_order_magic(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\x00" * 40)
    with pytest.raises(CaptureFormatError, match="not a pcapng capture: bad byte-order magic"):
        open_capture(path, AnomalyCounter())


def test_truncated_global_header(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    path.write_bytes(global_header()[:10])
    with pytest.raises(CaptureFormatError, match="truncated pcap"):
        open_capture(path, AnomalyCounter())


def test_truncated_last_record_keeps_earlier_records(tmp_path: Path) -> None:
    good = ethernet_ipv4_tcp(payload=b"a")
    content = global_header() + record(good) + record(ethernet_ipv4_tcp(payload=b"b" * 100))
    frames, anomalies, _ = _read(tmp_path, content[:-30])
    assert frames == [good]
    assert anomalies["capture.record_exceeds_file"] == 1


def test_truncated_record_header(tmp_path: Path) -> None:
    good = ethernet_ipv4_tcp()
    frames, anomalies, _ = _read(tmp_path, global_header() + record(good) + b"\x01\x02\x03")
    assert frames == [good]
    assert anomalies["capture.truncated_record_header"] == 1


def test_caplen_beyond_end_of_file(tmp_path: Path) -> None:
    content = global_header() + record(b"\x00" * 60, caplen=5000)
    frames, anomalies, _ = _read(tmp_path, content)
    assert frames == []
    assert anomalies["capture.record_exceeds_file"] == 1


def test_absurd_caplen_stops_reading(tmp_path: Path) -> None:
    content = global_header() + record(b"\x00" * 60, caplen=0x7FFFFFFF) + b"\x00" * 100
    frames, anomalies, _ = _read(tmp_path, content)
    assert frames == []
    assert anomalies["capture.absurd_caplen"] == 1


def test_caplen_above_snaplen_is_counted_but_read(tmp_path: Path) -> None:
    frame = ethernet_ipv4_tcp(payload=b"x" * 200)
    frames, anomalies, _ = _read(tmp_path, global_header(snaplen=64) + record(frame))
    assert frames == [frame]
    assert anomalies["capture.caplen_exceeds_snaplen"] == 1
