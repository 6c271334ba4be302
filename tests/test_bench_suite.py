"""Smoke run of ``python -m bench --quick``: every suite runs and its output makes sense.

No timing is asserted (speed figures belong in bench/RESULTS.md); the checks are on what the
suites counted and that each figure is a positive number.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--runs",
            "1",
            "--cpu",
            "-1",
            "--work",
            str(work),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| end to end `egress audit`, MB/s of capture |" in done.stdout
    assert (work / "results.md").read_text() in done.stdout
    data: dict[str, object] = json.loads((work / "results.json").read_text())
    return data


def test_machine_described(results: dict[str, object]) -> None:
    machine = results["machine"]
    assert isinstance(machine, dict)
    assert machine["cores"] and machine["kernel"] and machine["python"]
    assert machine["packages"]["numpy"] != "missing"


def test_end_to_end_and_stages(results: dict[str, object]) -> None:
    suites = results["suites"]
    assert isinstance(suites, dict)
    e2e = suites["e2e"]
    assert e2e["packets"] > 1000 and e2e["counts"]["tcp_segments"] <= e2e["packets"]
    assert e2e["counts"]["objects"] > 0
    assert e2e["mb_per_s"] > 0 and e2e["peak_rss_mb"] > 10
    assert set(e2e["in_process_mb_per_s"]) == {"batch", "per_packet"}
    stages = suites["stages"]
    assert set(stages["mb_per_s"]) == set(STAGES)
    assert all(v >= 0 for v in stages["seconds"].values())
    assert all(stages["seconds"][n] > 0 for n in ("read", "decode", "flows", "app", "finish"))


def test_dense_finds_every_resident_id(results: dict[str, object]) -> None:
    dense = results["suites"]["dense"]  # type: ignore[index]
    assert 70 <= dense["bytes_per_person"] <= 95
    assert dense["detection_rate"]["cn_resident_id"] == 1.0
    assert dense["detection_rate"]["cn_mobile"] == 1.0  # the generator draws allocated segments
    assert dense["detection_rate"]["email"] == 1.0
    # the re peer validates the same identifiers, so it finds the same resident IDs and mobiles
    assert dense["re_peer"]["found"]["cn_resident_id"] == dense["found"]["cn_resident_id"]
    assert dense["re_peer"]["found"]["cn_mobile"] == dense["found"]["cn_mobile"]
    assert dense["ratio_to_re"] > 0 and dense["sparse"]["ratio_to_re"] > 0
    assert dense["sparse"]["found"]
    assert dense["individual_rate"] == 1.0


def test_flow_stress_counts(results: dict[str, object]) -> None:
    flows = results["suites"]["flows"]  # type: ignore[index]
    assert flows["syn_flood"]["flows_seen"] == flows["syn_flood"]["flows_offered"]
    assert flows["million_flows"]["flows_seen"] == flows["million_flows"]["flows_offered"]
    assert flows["million_flows"]["evicted"] == 0  # 3,000 flows: far below the default limit


def test_spine_counts_every_stream_byte(results: dict[str, object]) -> None:
    spine = results["suites"]["spine"]  # type: ignore[index]
    stream, strict = spine["stream"], spine["strict"]
    assert stream["packets"] == strict["packets"] > 1000
    assert stream["delivered_bytes"] == strict["delivered_bytes"] > 1 << 20
    assert stream["batch"]["runs"] > 0 and strict["batch"]["runs"] == 0
    assert stream["mb_per_s"] > 0 and stream["peak_rss_mb"] > 10
    if shutil.which("tshark"):
        assert spine["ratio stream / tshark_conv_tcp"] > 0
    assert "skipped" in spine["dpkt_parse"] or spine["ratio strict / dpkt_parse"] > 0


def test_peers_and_ratios(results: dict[str, object]) -> None:
    peers = results["suites"]["peers"]  # type: ignore[index]
    if shutil.which("tshark"):
        assert peers["tshark_export_objects"]["objects"]["http"] > 0
    for name in ("dpkt_re", "scapy", "pyshark"):
        assert "skipped" in peers[name] or peers[name]["mb_per_s"] > 0
    assert peers["hyperscan_raw"]["payload_bytes"] > 0
    assert peers["cat"]["mb_per_s"] > 0
    ratios = results["ratios"]
    assert isinstance(ratios, dict)
    assert "egress / cat" in ratios and "egress / hyperscan_raw" in ratios
