"""Hand-made case folders for the report tests: alerts and a summary with a ``processors`` part
in the shape agreed in the helpers' INTERFACES (the compliance engine produces it for real)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HOSTILE_HOST = '"><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def make_alert(
    n: int,
    host: str,
    country: str | None,
    people: int,
    export: bool = True,
    processor: dict[str, Any] | None = None,
    ts: str = "2026-03-01T08:00:00+00:00",
) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "schema_version": "0.1",
        "record_type": "alert",
        "alert_id": f"{n:013x}-{n:016x}",
        "@timestamp": ts,
        "source": {"ip": "10.0.0.5", "port": 40000 + n, "internal": True},
        "destination": {
            "ip": f"198.51.100.{n}",
            "port": 443,
            "domain": host,
            "geo": {"country_iso_code": country},
            "internal": False,
        },
        "cross_border": {"is_export": export},
        "object": {"size": 1000 + n, "url": {"full": f"http://{host}/up?id=1"}},
        "findings": [
            {
                "identifier": "cn_resident_id",
                "name": {"en": "PRC resident identity card number", "zh": "居民身份证号码"},
                "class": "sensitive_personal_information",
                "count": people + 1,
                "distinct": people,
            }
        ],
        "individuals": {"distinct": people},
    }
    if processor is not None:
        alert["egress"] = {"processor": processor, "important_data": []}
    return alert


ACME = {"id": "acme-sz", "name": "Acme 深圳", "ciio": False, "ftz": "none"}

PROCESSORS = [
    {
        "id": "acme-sz",
        "name": "Acme 深圳",
        "ciio": False,
        "ftz": "none",
        "year": 2026,
        "individuals": {"personal": 120345, "sensitive": 12, "account_or_medical": 3},
        "by_destination": {"US": {"personal": 120000, "sensitive": 10, "account_or_medical": 3}},
        "recipients": {"crm.example.com": {"personal": 120000, "sensitive": 10}},
        "important_data": ["GB-43697-G.1"],
        "decision": {
            "legal_path": "standard_contract_or_certification",
            "basis": [
                {
                    "document": "促进和规范数据跨境流动规定",
                    "article": "第八条",
                    "pack": "national",
                    "rule": "personal>=100000",
                }
            ],
            "reason": "more than 100,000 people this year",
        },
        "consistency": [
            {"check": "undeclared_recipient", "detail": f"recipient {HOSTILE_HOST} not declared"}
        ],
    },
    {
        "id": "unassigned",
        "name": "",
        "ciio": False,
        "ftz": "none",
        "year": 2026,
        "individuals": {"personal": 5, "sensitive": 0, "account_or_medical": 0},
        "by_destination": {},
        "recipients": {},
        "important_data": [],
        "decision": {"legal_path": "exempt", "basis": [], "reason": "below thresholds"},
        "consistency": [],
    },
]


def write_case(
    case: Path,
    alerts: list[dict[str, Any]],
    processors: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A case folder the way ``egress audit`` leaves it (the parts the report reads)."""
    case.mkdir(parents=True, exist_ok=True)
    exports = [a for a in alerts if a["cross_border"]["is_export"]]
    by_dest: dict[str, int] = {}
    for a in exports:
        where = a["destination"]["geo"]["country_iso_code"] or "unknown"
        by_dest[where] = by_dest.get(where, 0) + a["individuals"]["distinct"]
    summary: dict[str, Any] = {
        "record_type": "audit_summary",
        "inputs": [{"path": "/cap/<img src=y>evil.pcap", "sha256": "ab" * 32, "packets": 9}],
        "counts": {"alerts": len(alerts), "exports": len(exports)},
        "individuals_in_exported_objects": sum(a["individuals"]["distinct"] for a in exports),
        "individuals_in_exported_objects_by_destination": dict(sorted(by_dest.items())),
        "anomalies": {"tcp.gap": {"count": 2, "examples": []}},
        "home_jurisdiction": "CN",
    }
    if processors is not None:
        summary["processors"] = processors
    (case / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    (case / "alerts.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in alerts), encoding="utf-8"
    )
    if events is not None:
        (case / "events.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8"
        )
    return summary
