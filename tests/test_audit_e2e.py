"""`egress audit` end to end on the bundled sample (regenerated and compared by
tests/test_traffic_toolkit.py): alert content against the generator's truth file, and no raw
resident ID anywhere in the outputs."""

import json
from pathlib import Path

from tests.cli import run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"
TRUTH = json.loads(SAMPLE.with_suffix(".truth.json").read_text())


def test_sample_alerts_match_truth(tmp_path: Path) -> None:
    out = tmp_path / "case"
    result = run_egress("audit", SAMPLE, "--out", out)
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    by_port = {a["source"]["port"]: a for a in alerts}
    posts_with_ids = [p for p in TRUTH["posts"] if p["resident_ids_found"]]
    assert sorted(by_port) == sorted(p["client_port"] for p in posts_with_ids)
    for post in posts_with_ids:
        alert = by_port[post["client_port"]]
        assert alert["destination"]["ip"] == post["server_ip"]
        assert alert["destination"]["geo"]["country_iso_code"] == post["expected_country"]
        assert alert["cross_border"]["is_export"] is post["cross_border"]
        assert alert["object"]["url"]["full"] == post["url"]
        (ids,) = [f for f in alert["findings"] if f["identifier"] == "cn_resident_id"]
        assert ids["count"] == post["resident_ids_found"]
        assert ids["distinct"] == len(set(post["resident_ids"]))
        assert ids["masked_samples"] == post["masked_samples"]
        assert ids["class"] == "sensitive_personal_information"


def test_no_raw_identifier_in_any_output(tmp_path: Path) -> None:
    out = tmp_path / "case"
    result = run_egress("audit", SAMPLE, "--out", out)
    assert result.returncode == 0, result.stderr
    raw_ids = {i for p in TRUTH["posts"] for i in p["resident_ids"]}
    assert raw_ids
    # evidence/ holds the raw traffic by design (protected by permissions and optional
    # encryption); tests/test_case_privacy.py checks everything else more thoroughly. The ledger
    # is binary (SQLite): decode leniently, a raw ID would still show as ASCII.
    texts = [result.stdout, result.stderr] + [
        f.read_bytes().decode("utf-8", "replace")
        for f in out.rglob("*")
        if f.is_file() and "evidence" not in f.parts
    ]
    for text in texts:
        for raw in raw_ids:
            assert raw not in text and raw.lower() not in text
