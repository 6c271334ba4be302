"""pcapng, compressed inputs, directories/globs/stdin, and packet counts on the real corpus."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from sensor.anomalies import AnomalyCounter
from sensor.capture import expand_inputs, open_capture
from sensor.errors import CaptureFormatError
from tests.pcapbytes import (
    ethernet_ipv4_tcp,
    global_header,
    pcapng_epb,
    pcapng_interface,
    pcapng_name_resolution,
    pcapng_section,
    pcapng_spb,
    record,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"


def _records(path: Path) -> tuple[list, AnomalyCounter]:  # type: ignore[type-arg]
    anomalies = AnomalyCounter()
    reader = open_capture(path, anomalies)
    try:
        return list(reader), anomalies
    finally:
        reader.close()


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_interfaces_link_types_and_resolutions(tmp_path: Path, order: str) -> None:
    eth = ethernet_ipv4_tcp(payload=b"eth")
    raw_ip = eth[14:]
    content = (
        pcapng_section(order)
        + pcapng_interface(1, None, order)  # Ethernet, microseconds (default)
        + pcapng_interface(101, 9, order)  # raw IP, nanoseconds
        + pcapng_name_resolution(order)
        + pcapng_epb(eth, 0, 1_700_000_000_250_000, order)
        + pcapng_epb(raw_ip, 1, 1_700_000_000_500_000_000, order)
        + pcapng_spb(eth, order)
    )
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(content)
    records, anomalies = _records(path)
    assert [(r.linktype, r.data) for r in records] == [(1, eth), (101, raw_ip), (1, eth)]
    assert records[0].timestamp == pytest.approx(1_700_000_000.25)
    assert records[1].timestamp == pytest.approx(1_700_000_000.5)
    assert anomalies.total() == 0


def test_pcapng_second_section_resets_interfaces_and_counts_unknown(tmp_path: Path) -> None:
    eth = ethernet_ipv4_tcp()
    content = pcapng_section() + pcapng_interface(1) + pcapng_epb(eth)
    content += pcapng_section(">") + pcapng_epb(eth, 0, order=">")  # no interface in section 2
    path = tmp_path / "two.pcapng"
    path.write_bytes(content)
    records, anomalies = _records(path)
    assert len(records) == 1
    assert anomalies["capture.pcapng_unknown_interface"] == 1


def test_pcapng_bad_block_length_is_counted(tmp_path: Path) -> None:
    content = pcapng_section() + pcapng_interface(1) + pcapng_epb(ethernet_ipv4_tcp())
    content += b"\x06\x00\x00\x00\x07\x00\x00\x00" + b"\x00" * 20
    path = tmp_path / "bad.pcapng"
    path.write_bytes(content)
    records, anomalies = _records(path)
    assert len(records) == 1
    assert anomalies["capture.pcapng_bad_block_length"] == 1


@pytest.mark.parametrize(
    "compress", [gzip.compress, lambda b: zstandard.ZstdCompressor().compress(b)]
)
def test_compressed_pcap(tmp_path: Path, compress) -> None:  # type: ignore[no-untyped-def]
    frames = [ethernet_ipv4_tcp(seq=i, payload=bytes([i]) * 100) for i in range(50)]
    content = global_header() + b"".join(record(f) for f in frames)
    path = tmp_path / "c.pcap.x"
    path.write_bytes(compress(content))
    records, anomalies = _records(path)
    assert [r.data for r in records] == frames
    assert anomalies.total() == 0


def test_corrupt_gzip_keeps_what_decompressed(tmp_path: Path) -> None:
    frames = [ethernet_ipv4_tcp(seq=i, payload=b"z" * 500) for i in range(200)]
    packed = gzip.compress(global_header() + b"".join(record(f) for f in frames))
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) // 2])
    records, anomalies = _records(path)
    assert 0 < len(records) < 200
    assert [r.data for r in records] == frames[: len(records)]
    assert anomalies["capture.decompression_error"] == 1


def test_expand_inputs(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.pcap", "d/sub/a.pcapng", "d/notes.txt", "x1.pcap", "x2.pcap"):
        (tmp_path / name).write_bytes(b"")
    assert expand_inputs([tmp_path / "d"]) == [tmp_path / "d/b.pcap", tmp_path / "d/sub/a.pcapng"]
    assert expand_inputs([str(tmp_path / "x*.pcap")]) == [
        tmp_path / "x1.pcap",
        tmp_path / "x2.pcap",
    ]
    assert expand_inputs(["-"]) == [Path("-")]
    with pytest.raises(CaptureFormatError, match="matches no file"):
        expand_inputs([str(tmp_path / "y*.pcap")])
    with pytest.raises(CaptureFormatError, match="no such file"):
        expand_inputs([tmp_path / "missing.pcap"])


def test_stdin_input(tmp_path: Path) -> None:
    content = global_header() + record(ethernet_ipv4_tcp(payload=b"from stdin"))
    code = (
        "import sys; from pathlib import Path; from sensor.anomalies import AnomalyCounter;"
        "from sensor.capture import open_capture;"
        "print(sum(1 for _ in open_capture(Path('-'), AnomalyCounter())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=content, capture_output=True, check=True
    )
    assert result.stdout.strip() == b"1"


def _manifest() -> list[dict]:  # type: ignore[type-arg]
    path = CORPUS / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else []


@pytest.mark.skipif(
    not CORPUS.exists(), reason="shared corpus not present at ../shared/corpus/real"
)
@pytest.mark.parametrize("entry", _manifest(), ids=lambda e: e["file"])
def test_corpus_packet_counts_match_tshark(entry: dict) -> None:  # type: ignore[type-arg]
    records, anomalies = _records(CORPUS / entry["file"])
    assert len(records) == entry["capture"]["packets"]
    capture_anomalies = [name for name in anomalies.as_dict() if name.startswith("capture.")]
    if "cut short" in entry["capture"].get("tshark_warning", ""):
        assert capture_anomalies in (
            ["capture.truncated_record_header"],
            ["capture.record_exceeds_file"],
        )
    else:
        assert capture_anomalies == []
