"""No raw identifier of the sample's people in anything an audit writes or prints, except the
evidence store, which holds the raw traffic by design and is therefore locked down (0600 files,
0700 directories) and optionally encrypted; the test proves the grep would see them there."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"
TRUTH = json.loads(SAMPLE.with_suffix(".truth.json").read_text())


def _raw_identifiers() -> set[str]:
    ids = {i for p in TRUTH["posts"] for i in p["resident_ids"]}
    ids |= {d["value"] for p in TRUTH["posts"] for d in p.get("decoys", [])}
    return ids | {i.lower() for i in ids}


def test_no_raw_identifier_outside_the_evidence_store(tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_egress("--log-level", "DEBUG", "audit", SAMPLE, "--out", case)
    assert result.returncode == 0, result.stderr
    again = run_egress("report", case)  # re-rendering must not leak either
    verify = run_egress("verify-log", case / "audit-log.jsonl")
    assert again.returncode == 0 and verify.returncode == 0
    raw = _raw_identifiers()
    assert len(raw) > 40
    outputs = {"stdout": result.stdout, "stderr": result.stderr}
    outputs |= {"report stdout": again.stdout, "verify-log": verify.stdout + verify.stderr}
    evidence_payloads = []
    for path in sorted(case.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(case)
        if rel.parts[0] == "evidence" and rel.parts[1] in ("objects", "pcap"):
            evidence_payloads.append(path)
            assert path.stat().st_mode & 0o777 == 0o600, rel
            continue
        outputs[str(rel)] = path.read_bytes().decode("utf-8", "replace")
    expected = {
        "alerts.jsonl", "flows.jsonl", "objects.jsonl", "summary.json", "report.html",
        "audit-log.jsonl",
    }  # fmt: skip
    assert expected <= set(outputs)
    for name, text in outputs.items():
        leaked = sorted(i for i in raw if i in text)
        assert not leaked, f"{name} contains raw identifiers, e.g. {leaked[0]}"
    # The grep does find them where they are expected: in the raw evidence.
    assert any(any(i.encode() in p.read_bytes() for i in raw) for p in evidence_payloads), (
        "evidence holds no raw identifier: the grep above proves nothing"
    )
    for directory in [case / "evidence", *(case / "evidence").iterdir()]:
        assert directory.stat().st_mode & 0o777 == 0o700


def test_case_folder_line_lists_every_file(tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_egress("audit", SAMPLE, "--out", case, "--quiet")
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("Case folder:")]
    listed = line.split("(", 1)[1].rstrip(")").split(", ")
    assert listed == [
        "alerts.jsonl", "flows.jsonl", "objects.jsonl", "events.jsonl", "summary.json",
        "report.html", "evidence/", "audit-log.jsonl", "ledger.sqlite",
    ]  # fmt: skip
    on_disk = {p.name + ("/" if p.is_dir() else "") for p in case.iterdir()}
    assert set(listed) == on_disk
