"""Bad input through the real command: one clear line, documented exit code, no traceback."""

from pathlib import Path

import pytest

from tests.cli import run_egress
from tests.pcapbytes import ethernet_ipv4_tcp, global_header, record


def _assert_user_error(result, message: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("egress: error:"), result.stderr
    assert message in lines[0]


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty"),
    (b"GET / HTTP/1.1\r\nthis is a text file, not packets\r\n" * 4, "it looks like a text file"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap"),
])  # fmt: skip
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    capture = tmp_path / "input.pcap"
    capture.write_bytes(content)
    _assert_user_error(run_egress("audit", capture, "--out", tmp_path / "out"), message)


def test_missing_file(tmp_path: Path) -> None:
    _assert_user_error(
        run_egress("audit", tmp_path / "nope.pcap", "--out", tmp_path / "o"), "no such file"
    )


def test_bad_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "egress.yaml"
    config.write_text("sensor_id: x\nlimitz: {}\n")
    _assert_user_error(
        run_egress("--config", config, "config", "show"), "egress.yaml:2: limitz: unknown key"
    )


@pytest.mark.parametrize("tail,anomaly", [
    (lambda r: r[:-25], "capture.record_exceeds_file"),
    (lambda r: r + record(b"\x00" * 10, caplen=1_000_000), "capture.absurd_caplen"),
    (lambda r: r + record(b"\x00" * 60, caplen=9000), "capture.record_exceeds_file"),
])  # fmt: skip
def test_damaged_capture_is_counted_not_fatal(tmp_path: Path, tail, anomaly: str) -> None:  # type: ignore[no-untyped-def]
    import json

    body = global_header() + record(ethernet_ipv4_tcp(payload=b"x" * 10))
    body += record(ethernet_ipv4_tcp(payload=b"y" * 80))
    capture = tmp_path / "damaged.pcap"
    capture.write_bytes(tail(body))
    out = tmp_path / "out"
    result = run_egress("audit", capture, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["anomalies"][anomaly]["count"] == 1
    assert anomaly in result.stdout


def test_config_show_prints_effective_yaml(tmp_path: Path) -> None:
    config = tmp_path / "egress.yaml"
    config.write_text("sensor_id: span-7\n")
    result = run_egress("--config", config, "config", "show")
    assert result.returncode == 0
    assert "sensor_id: span-7" in result.stdout
    assert "max_flows: 100000" in result.stdout
