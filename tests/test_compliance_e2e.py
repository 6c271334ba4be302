"""End to end: generated captures to US, HK, SG and domestic servers, ledgers computed by hand.

The capture is crafted offline (bench.traffic.tcp_session builds frames; nothing is sent). People
are generated with known identifiers, so which person is in which upload, with which class, is
known from the test's own tables; the expected ledger below is counted from those tables.

Processors: acme-sz (10.20.30.0/24, Jiangsu FTZ, declarations: US CRM under a standard contract
for at most 35 people; HK under the cross-border HR exemption, personal information only),
bj-shop (10.40.0.0/16, Beijing FTZ retail membership), and an unconfigured host (unassigned).
An operator pack adds a small threshold (35 sensitive people) so threshold events happen.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bench.traffic.tcp_session import Frame, tcp_session, write_pcap
from detectors.corpus_values import ValueMaker
from sensor.audit import Audit, bundled_sample
from sensor.compliance.identity import write_identity_key
from sensor.config import load_config
from tests.cli import run_egress

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z = 2023-11-15 06:13 in Shanghai
NEW_YEAR_SHANGHAI = 1_704_040_200.0  # 2023-12-31T16:30:00Z = 2024-01-01 00:30 in Shanghai
US, HK, SG, CN = "63.10.20.30", "219.76.10.20", "203.116.10.20", "61.152.10.20"
ACME, SHOP, NOBODY = "10.20.30.40", "10.40.1.2", "10.99.0.5"

MAKER = ValueMaker(random.Random(20261123))
PEOPLE = [
    {"name": MAKER.name()[0], "id": MAKER.resident_id(), "mobile": MAKER.mobile()} | {
        "card": MAKER.unionpay()
    }
    for _ in range(80)
]  # fmt: skip

PROCESSORS = """\
processors:
  - id: acme-sz
    name: ACME Suzhou
    ftz: jiangsu
    networks: [10.20.30.0/24]
    declared_exports:
      - id: us-crm
        recipient: {domain: example-us.com}
        categories: [personal, sensitive]
        max_individuals: 35
        legal_path: standard_contract_or_certification
        filing: SC-2023-001
        valid_from: 2023-01-01
        valid_until: 2023-12-31
      - id: hk-hr
        recipient: {country: HK}
        categories: [personal]
        exemption: cross_border_hr
  - id: bj-shop
    name: Beijing Shop
    ftz: beijing
    scenarios: [retail_membership]
    networks: [10.40.0.0/16]
"""

SMALL_PACK = """\
format_version: 1
id: test_small
version: 1
title: test threshold
document: test document
source: tests/test_compliance_e2e.py
scope: {ftz: [jiangsu]}
rules:
  - id: small_sensitive
    group: test_small
    path: security_assessment
    article: test article 1
    when: {all: [{metric: sensitive, at_least: 35}]}
    reason: "{sensitive} sensitive people, at or above 35"
"""


def _csv(rows: list[str]) -> bytes:
    return ("姓名,身份证号,手机号,银行卡号\n" + "\n".join(rows) + "\n").encode()


def _rows(people: range, with_id: bool, with_card: bool = False) -> list[str]:
    out = []
    for i in people:
        p = PEOPLE[i]
        out.append(
            f"{p['name']},{p['id'] if with_id else ''},{p['mobile']},"
            f"{p['card'] if with_card else ''}"
        )
    return out


UPLOADS_A = [
    # (client, server, host, body, time): US gets 0-29 with IDs, 30-39 by mobile only
    (ACME, US, "crm.example-us.com", _csv(_rows(range(30), True) + _rows(range(30, 40), False)), T0),
    # HK (HR exemption): 20-29 with IDs, 30-34 by mobile
    (ACME, HK, "files.example-hk.com", _csv(_rows(range(20, 30), True) + _rows(range(30, 35), False)), T0 + 2),
]  # fmt: skip
UPLOADS_B = [
    # SG (undeclared): 40-49 with IDs and bank cards
    (ACME, SG, "api.example-sg.com", _csv(_rows(range(40, 50), True, True)), T0 + 4),
    # domestic: not an export, not counted
    (ACME, CN, "hr.example-cn.com", _csv(_rows(range(60), True)), T0 + 6),
    # Beijing shop: five members to the US
    (SHOP, US, "members.example-us.com", _csv(_rows(range(60, 65), True)), T0 + 8),
    # unconfigured host, after midnight of 1 January 2024 in Shanghai: counts for 2024
    (NOBODY, US, "x.example-us.com", _csv(_rows(range(70, 73), False)), NEW_YEAR_SHANGHAI),
]  # fmt: skip

EXPECTED_ACME = {
    "individuals": {"personal": 50, "sensitive": 40, "account_or_medical": 10},  # 0-49 / 0-29+40-49
    "exempted": {"cross_border_hr": 15},  # HK: 20-34, kept out of the totals
    "by_destination": {
        "HK": {"personal": 15, "sensitive": 10, "account_or_medical": 0},
        "SG": {"personal": 10, "sensitive": 10, "account_or_medical": 10},
        "US": {"personal": 40, "sensitive": 30, "account_or_medical": 0},
    },
}


def _capture(path: Path, uploads: list[tuple[str, str, str, bytes, float]]) -> Path:
    frames: list[Frame] = []
    for k, (client, server, host, body, when) in enumerate(uploads):
        head = (
            f"POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        frames += tcp_session(
            head + body,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            start_time=when,
            client_ip=client,
            server_ip=server,
            client_port=40000 + k,
            client_isn=1000 * (k + 1),
            server_isn=7000 * (k + 1),
        )
    write_pcap(path, frames)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compliance")
    (root / "processors.yaml").write_text(PROCESSORS, encoding="utf-8")
    (root / "packs").mkdir()
    (root / "packs" / "small.yaml").write_text(SMALL_PACK, encoding="utf-8")
    write_identity_key(root / "identity.key")
    (root / "egress.yaml").write_text(
        f"compliance:\n  processors_file: {root / 'processors.yaml'}\n"
        f"  policy_directories: [{root / 'packs'}]\n"
        f"detection:\n  identity_key_file: {root / 'identity.key'}\n",
        encoding="utf-8",
    )
    return {
        "root": root,
        "config": root / "egress.yaml",
        "a": _capture(root / "a.pcap", UPLOADS_A),
        "b": _capture(root / "b.pcap", UPLOADS_B),
    }


def _audit(
    setup: dict[str, Path], out: Path, captures: list[Path], ledger: Path | None = None
) -> dict[str, Any]:
    return Audit(load_config(setup["config"]), out, ledger=ledger).run(captures)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def whole(setup: dict[str, Path]) -> dict[str, Any]:
    out = setup["root"] / "whole"
    summary = _audit(setup, out, [setup["a"], setup["b"]])
    return {"summary": summary, "out": out}


def test_ledger_per_processor_matches_the_hand_count(whole: dict[str, Any]) -> None:
    processors = {(p["id"], p["year"]): p for p in whole["summary"]["processors"]}
    assert set(processors) == {("acme-sz", 2023), ("bj-shop", 2023), ("unassigned", 2024)}
    acme = processors["acme-sz", 2023]
    for key, value in EXPECTED_ACME.items():
        assert acme[key] == value, key
    assert set(acme["recipients"]) == {
        "crm.example-us.com",
        "files.example-hk.com",
        "api.example-sg.com",
    }
    assert acme["exports"] == 3  # the domestic upload is not an export
    assert acme["ftz"] == "jiangsu" and acme["ledger_per_run"] is False
    # 40 sensitive people: the operator pack's 35 governs over national 第八条 (under 10,000)
    assert acme["decision"]["legal_path"] == "security_assessment"
    assert [b["rule"] for b in acme["decision"]["basis"]] == ["small_sensitive"]
    assert (
        "exempted exports kept out of the totals: cross_border_hr 15" in acme["decision"]["notes"]
    )
    shop = processors["bj-shop", 2023]
    assert shop["individuals"] == {"personal": 5, "sensitive": 5, "account_or_medical": 0}
    assert shop["decision"]["legal_path"] == "exempt"
    assert shop["decision"]["basis"][0]["rule"] == "bj_exempt_below_list"
    nobody = processors["unassigned", 2024]
    assert nobody["individuals"] == {"personal": 3, "sensitive": 0, "account_or_medical": 0}
    assert nobody["decision"]["basis"][0]["article"].startswith("第五条第四项")


def test_alerts_carry_the_egress_block(whole: dict[str, Any]) -> None:
    alerts = _lines(whole["out"] / "alerts.jsonl")
    by_host = {a["destination"]["domain"]: a["egress"] for a in alerts}
    us = by_host["crm.example-us.com"]
    assert us["processor"] == {
        "id": "acme-sz",
        "name": "ACME Suzhou",
        "ciio": False,
        "ftz": "jiangsu",
    }
    assert us["individuals"] == {"personal": 40, "sensitive": 30, "account_or_medical": 0}
    assert us["policy"]["legal_path"] == "standard_contract_or_certification"  # 30 < 35 so far
    assert us["policy"]["ledger"]["year"] == 2023 and us["policy"]["ledger"]["sensitive"] == 30
    hk = by_host["files.example-hk.com"]["policy"]
    assert hk["legal_path"] == "exempt" and "第五条第二项" in hk["reason"]
    assert hk["ledger"]["personal"] == 40  # HK people stayed out of the total
    sg = by_host["api.example-sg.com"]
    assert sg["individuals"]["account_or_medical"] == 10
    assert sg["policy"]["legal_path"] == "security_assessment"
    domestic = by_host["hr.example-cn.com"]["policy"]
    assert domestic["legal_path"] == "not_an_export" and domestic["ledger"]["personal"] == 50
    assert by_host["x.example-us.com"]["processor"] is None


def test_threshold_and_consistency_events(whole: dict[str, Any]) -> None:
    events = _lines(whole["out"] / "events.jsonl")
    thresholds = [
        (e["kind"], e["value"], e["threshold"])
        for e in events
        if e["record_type"] == "threshold_event"
    ]
    assert thresholds == [("warning", 30, 35), ("crossed", 40, 35)]  # warn at 80%: 28
    checks = [
        (e["check"], e["declaration"]) for e in events if e["record_type"] == "consistency_event"
    ]
    assert checks == [
        ("volume_beyond_declared", "us-crm"),  # 40 people under a filing for 35
        ("undeclared_category", "hk-hr"),  # sensitive PI under a personal-only declaration
        ("undeclared_recipient", None),  # SG
        ("split_across_recipients", None),  # each recipient < 35 sensitive, together 40
    ]
    assert all(e["schema_version"] and e["event_id"] and e["@timestamp"] for e in events)
    consistency = [e for e in events if e["record_type"] == "consistency_event"]
    assert all("第十四条" in e["basis"][0]["article"] for e in consistency)
    assert "数量拆分" in consistency[-1]["basis"][1]["article"]
    assert len({e["event_id"] for e in events}) == len(events)


def test_a_then_b_into_one_ledger_equals_a_and_b_at_once(
    setup: dict[str, Path], whole: dict[str, Any]
) -> None:
    ledger = setup["root"] / "persistent.sqlite"
    first = _audit(setup, setup["root"] / "first", [setup["a"]], ledger)
    second = _audit(setup, setup["root"] / "second", [setup["b"]], ledger)
    assert first["processors"][0]["individuals"] == {
        "personal": 40,
        "sensitive": 30,
        "account_or_medical": 0,
    }
    assert second["processors"] == whole["summary"]["processors"]
    split_events = _lines(setup["root"] / "first" / "events.jsonl") + _lines(
        setup["root"] / "second" / "events.jsonl"
    )
    assert split_events == _lines(whole["out"] / "events.jsonl")
    # auditing B again changes nothing: people are deduplicated, events are not repeated
    again = _audit(setup, setup["root"] / "again", [setup["b"]], ledger)
    assert again["processors"][0]["individuals"] == whole["summary"]["processors"][0]["individuals"]
    assert _lines(setup["root"] / "again" / "events.jsonl") == []
    shown = run_egress("--config", setup["config"], "ledger", "show", "--ledger", ledger, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == whole["summary"]["processors"]
    text = run_egress("--config", setup["config"], "ledger", "show", "--ledger", ledger)
    assert "acme-sz (ACME Suzhou), 2023" in text.stdout and "security_assessment" in text.stdout
    only = run_egress("ledger", "show", "--ledger", ledger, "--year", "2024", "--json")
    assert [(e["id"], e["year"]) for e in json.loads(only.stdout)] == [("unassigned", 2024)]


def test_a_ledger_refuses_another_persistent_key(setup: dict[str, Path], tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    _audit(setup, tmp_path / "one", [setup["a"]], ledger)
    other = tmp_path / "other.key"
    write_identity_key(other)
    config = tmp_path / "egress.yaml"
    config.write_text(
        setup["config"].read_text().replace(str(setup["root"] / "identity.key"), str(other))
    )
    result = run_egress(
        "--config", config, "audit", setup["b"], "--out", tmp_path / "two", "--ledger", ledger
    )
    assert result.returncode == 2 and "identity key" in result.stderr


def test_without_a_key_the_ledger_says_per_run(tmp_path: Path) -> None:
    """The bundled sample, no configuration: everything is unassigned, counts are per run."""
    summary = Audit(load_config(None), tmp_path).run([bundled_sample()])
    truth = json.loads(bundled_sample().with_suffix(".truth.json").read_text(encoding="utf-8"))
    (entry,) = summary["processors"]
    assert entry["id"] == "unassigned" and entry["ledger_per_run"] is True
    posts = {
        p["expected_country"]: p
        for p in truth["posts"]
        if p["cross_border"] and p["distinct_individuals"]
    }
    for country in ("US", "HK"):
        assert (
            entry["by_destination"][country]["sensitive"] == posts[country]["distinct_individuals"]
        )
    # by hand: US 40 people with IDs plus the 6 decoy-ID rows, four identified by their mobiles
    # and two (mobiles in unallocated segments 161..., 164...) by the name in the 姓名 column;
    # HK 8 people; nothing with accounts
    assert entry["by_destination"]["US"]["personal"] == 46
    assert entry["individuals"] == {"personal": 54, "sensitive": 48, "account_or_medical": 0}
    assert entry["decision"]["legal_path"] == "standard_contract_or_certification"
    shown = run_egress("ledger", "show", "--ledger", tmp_path / "ledger.sqlite")
    assert "per-run key" in shown.stdout
    # auditing into the same case folder again starts a fresh ledger: the same counts, not double
    assert Audit(load_config(None), tmp_path).run([bundled_sample()])["processors"] == [entry]


def test_a_crash_in_the_middle_of_a_capture_changes_nothing(
    setup: dict[str, Path], whole: dict[str, Any]
) -> None:
    """The first run sees the capture only up to B's first upload (as if it died there); the rerun
    over the whole capture then gives the ledger and events of one uninterrupted run."""
    root = setup["root"]
    ledger = root / "crashed.sqlite"
    (root / "cut").mkdir()
    (root / "full").mkdir()  # same file name: alert ids (and so object ids) name the capture
    cut = _capture(root / "cut" / "ab.pcap", UPLOADS_A + UPLOADS_B[:1])
    full = _capture(root / "full" / "ab.pcap", UPLOADS_A + UPLOADS_B)
    _audit(setup, root / "before", [cut], ledger)
    after = _audit(setup, root / "after", [full], ledger)
    assert after["processors"] == whole["summary"]["processors"]
    events = _lines(root / "before" / "events.jsonl") + _lines(root / "after" / "events.jsonl")
    assert events == _lines(whole["out"] / "events.jsonl")


def test_every_compliance_record_validates_against_the_schema(whole: dict[str, Any]) -> None:
    """Alerts with the egress block and both event kinds, as the audit writes them, fit the
    published schema (sensor/outputs/schema/egress-records.schema.json)."""
    from sensor.outputs.schemas import schema_errors

    records = _lines(whole["out"] / "alerts.jsonl") + _lines(whole["out"] / "events.jsonl")
    kinds = {r["record_type"] for r in records}
    assert kinds == {"alert", "threshold_event", "consistency_event"}
    for record in records:
        assert schema_errors(record) == [], record
