"""The evidence second pass: the numpy block path keeps exactly the frames the per-record path
keeps (same pcap bytes, packet counts and truncation), with frames spooled to disk."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.outputs import flowpcap
from sensor.outputs.flowpcap import FlowPackets, canonical, collect_flows
from tests.cli import run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


def _flows(case: Path) -> list[FlowPackets]:
    flows = []
    for line in (case / "flows.jsonl").read_text().splitlines():
        r = json.loads(line)
        key = canonical(r["orig_h"], r["orig_p"], r["resp_h"], r["resp_p"])
        flows.append(FlowPackets(r["uid"], key))
    return flows


def _pass(case: Path, max_bytes: int) -> tuple[list[tuple[str, bytes, int, bool]], dict[str, int]]:
    flows = _flows(case)
    anomalies = AnomalyCounter()
    with tempfile.TemporaryFile() as spool:
        collect_flows(SAMPLE, flows, anomalies, max_bytes, spool)
        found = [(f.uid, f.pcap(spool), f.packets, f.truncated) for f in flows if f.packets]
    return found, {k: v["count"] for k, v in anomalies.as_dict().items()}


@pytest.mark.parametrize("max_bytes", [16 << 20, 1024])
def test_block_path_equals_record_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_bytes: int
) -> None:
    case = tmp_path / "case"
    assert run_egress("audit", SAMPLE, "--out", case, "--quiet").returncode == 0
    blocks, block_anomalies = _pass(case, max_bytes)
    monkeypatch.setattr(flowpcap, "supports", lambda reader: False)
    records, record_anomalies = _pass(case, max_bytes)
    assert blocks == records
    assert block_anomalies == record_anomalies
    assert sum(n for _, _, n, _ in blocks) > 10  # the sample's flows were found
    if max_bytes == 1024:
        assert any(truncated for *_, truncated in blocks)
        assert block_anomalies.get("evidence.pcap_truncated", 0) > 0
