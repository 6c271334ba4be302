"""Every record `egress audit` writes validates against the shipped JSON Schema, and so do the
examples in docs/alerts.md; records that break the rules (raw identifiers, unknown fields, bad
legal paths) do not."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sensor.audit import Audit, bundled_sample
from sensor.config import EgressConfig
from sensor.outputs.schemas import record_schema, schema_errors

ROOT = Path(__file__).resolve().parents[1]
EGRESS_BLOCK: dict[str, Any] = {  # INTERFACES.md, as the compliance helper adds it
    "processor": {"id": "acme-sz", "name": "Acme Shenzhen", "ciio": False, "ftz": "none"},
    "individuals": {"personal": 40, "sensitive": 12, "account_or_medical": 3},
    "important_data": [{"code": "IMP-GEO-01", "name_zh": "测绘地理信息", "score": 0.7}],
    "policy": {
        "legal_path": "standard_contract_or_certification",
        "basis": [
            {
                "document": "促进和规范数据跨境流动规定",
                "article": "第八条",
                "pack": "national",
                "rule": "personal_100k_to_1m",
            }
        ],
        "reason": "more than 100,000 people exported this year",
        "ledger": {
            "year": 2026,
            "personal": 123_456,
            "sensitive": 4,
            "account_or_medical": 0,
            "thresholds": {"personal_standard_contract": 100_000},
        },
    },
}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("schema-case")
    Audit(EgressConfig(), out).run([bundled_sample()])
    return out


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_schema_is_valid_and_shipped_as_package_data() -> None:
    Draft202012Validator.check_schema(record_schema())
    assert record_schema()["$defs"]["alert"]["properties"]["alert_id"]


@pytest.mark.parametrize(
    ("name", "record_type"),
    [("alerts.jsonl", "alert"), ("flows.jsonl", "flow"), ("objects.jsonl", "object")],
)
def test_every_audit_record_validates(case: Path, name: str, record_type: str) -> None:
    records = lines(case / name)
    assert records, f"the sample gives no {name}"
    for record in records:
        assert record["record_type"] == record_type
        assert schema_errors(record) == [], record


def test_alert_with_the_egress_block_validates(case: Path) -> None:
    alert = lines(case / "alerts.jsonl")[0]
    alert["egress"] = copy.deepcopy(EGRESS_BLOCK)
    assert alert["evidence"]["object"]["path"].startswith("evidence/")  # the audit's own block
    assert schema_errors(alert) == []
    alert["egress"]["processor"] = None  # records without a configured processor
    assert schema_errors(alert) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (
            lambda a: a["findings"][0].update(masked_samples=["110101199003074258"]),
            "masked_samples",
        ),
        (lambda a: a.update(raw_values=["x"]), "Additional properties"),
        (lambda a: a["source"].update(ip="10.0.0.300"), "source/ip"),
        (lambda a: a.update({"@timestamp": "yesterday"}), "date-time"),
        (lambda a: a.update(alert_id="not-sortable"), "alert_id"),
        (lambda a: a.update(egress={"policy": {"legal_path": "maybe"}}), "legal_path"),
        (lambda a: a.pop("findings"), "'findings' is a required property"),
    ],
)
def test_broken_alerts_are_refused(case: Path, mutate: Any, where: str) -> None:
    alert = lines(case / "alerts.jsonl")[0]
    mutate(alert)
    errors = schema_errors(alert)
    assert errors and any(where in e for e in errors), errors


def test_event_records_need_their_agreed_fields() -> None:
    threshold = {
        "schema_version": "0.1",
        "record_type": "threshold_event",
        "event_id": "0018bcfe56803-e0000001",
        "@timestamp": "2026-03-01T08:00:00.000000+00:00",
        "processor": {"id": "acme-sz"},
        "year": 2026,
        "class": "sensitive",
        "value": 10_001,
        "threshold": 10_000,
        "legal_path": "security_assessment",
        "basis": [{"document": "促进和规范数据跨境流动规定", "article": "第七条"}],
    }
    assert schema_errors(threshold) == []
    del threshold["threshold"]
    assert any("'threshold' is a required property" in e for e in schema_errors(threshold))
    consistency = {
        "schema_version": "0.1",
        "record_type": "consistency_event",
        "event_id": "0018bcfe56803-c0000001",
        "@timestamp": "2026-03-01T08:00:00.000000+00:00",
        "processor": "acme-sz",
        "check": "undeclared_recipient",
        "detail": "files.example-hk.com is not in the declared recipients",
    }
    assert schema_errors(consistency) == []
    consistency["check"] = "looks_odd"
    assert schema_errors(consistency)


def test_docs_examples_validate() -> None:
    text = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    kinds = set()
    for block in blocks:
        record = json.loads(block)
        kinds.add(record["record_type"])
        assert schema_errors(record) == [], (record["record_type"], schema_errors(record))
    assert kinds == {"alert", "flow", "threshold_event", "consistency_event"}


REAL = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"


@pytest.mark.skipif(not (REAL / "manifest.json").exists(), reason="real capture corpus not present")
def test_records_from_every_real_capture_validate(tmp_path: Path) -> None:
    """84 public captures (VLAN, IPv6, tunnels, gaps, odd link types): every flow and object
    record, and any alert, fits the schema."""
    manifest = json.loads((REAL / "manifest.json").read_text())
    Audit(EgressConfig(), tmp_path).run([REAL / entry["file"] for entry in manifest])
    checked = 0
    for name in ("alerts.jsonl", "flows.jsonl", "objects.jsonl"):
        for record in lines(tmp_path / name):
            assert schema_errors(record) == [], (name, record)
            checked += 1
    assert checked > 100
