"""The figures of the audit report, computed from the case folder's records.

Kept apart from the HTML so the numbers can be tested on their own and so the report is a pure
function of ``summary.json``, ``alerts.jsonl`` and ``events.jsonl``: the same case folder always
gives the same figures. Every ordering has a tie-breaker (value, then name) for that reason.

Individuals are summed per exported object, as in summary.json: one person in two objects counts
twice. The processors' yearly ledger (``summary.json`` ``processors``, from the compliance engine)
counts distinct people across objects and is shown beside these figures, never mixed with them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNKNOWN_COUNTRY = "unknown"
# Bucket sizes the timeline may use, smallest first; the first giving at most MAX_BUCKETS wins.
TIMELINE_STEPS = (1, 10, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 60


@dataclass
class Tally:
    """Objects, bytes and individuals accounted to one key (a country, a recipient, a category)."""

    objects: int = 0
    bytes: int = 0
    individuals: int = 0
    values: int = 0  # identifier values found (categories only)
    countries: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    first: str = ""
    last: str = ""

    def add(self, alert: dict[str, Any], individuals: int) -> None:
        self.objects += 1
        self.bytes += int(alert["object"].get("size") or 0)
        self.individuals += individuals
        ts = str(alert.get("@timestamp", ""))
        self.first = min(self.first, ts) if self.first else ts
        self.last = max(self.last, ts)


@dataclass
class ReportData:
    """Everything the report shows, already aggregated and sorted."""

    summary: dict[str, Any]
    alerts: int = 0
    exports: int = 0
    exported_bytes: int = 0
    individuals: int = 0
    by_country: list[tuple[str, Tally]] = field(default_factory=list)
    by_recipient: list[tuple[str, Tally]] = field(default_factory=list)
    by_category: list[tuple[str, Tally]] = field(default_factory=list)
    category_names: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # zh, en, class
    transfers: list[tuple[tuple[str, str, str], Tally]] = field(default_factory=list)
    timeline: list[tuple[str, int]] = field(default_factory=list)
    timeline_step: int = 0
    processors: list[dict[str, Any]] | None = None
    # Without summary.json's processors part: the last ledger and decision each processor's alerts
    # carried (egress.policy), keyed by processor id.
    ledgers_from_alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    exported: list[dict[str, Any]] = field(default_factory=list)  # export alerts, by alert id
    events: list[dict[str, Any]] = field(default_factory=list)
    malformed: int = 0  # alert lines without the fields the report needs (skipped, shown)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a missing file is empty, a damaged line is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def alert_individuals(alert: dict[str, Any]) -> int:
    """Distinct people in one alert's object."""
    return int((alert.get("individuals") or {}).get("distinct") or 0)


def sender_of(alert: dict[str, Any]) -> str:
    """The configured processor's name when known, else the sending address."""
    processor = (alert.get("egress") or {}).get("processor")
    if isinstance(processor, dict) and (processor.get("name") or processor.get("id")):
        return str(processor.get("name") or processor.get("id"))
    return str(alert["source"].get("ip") or "")


def recipient_of(alert: dict[str, Any]) -> str:
    dst = alert["destination"]
    return str(dst.get("domain") or dst.get("ip") or "")


def country_of(alert: dict[str, Any]) -> str:
    """The receiver's place as summary.json labels it (``internal``, an ISO code, ``unknown``)."""
    dst = alert["destination"]
    if dst.get("internal"):
        return "internal"
    return str((dst.get("geo") or {}).get("country_iso_code") or UNKNOWN_COUNTRY)


def _ranked(tallies: dict[Any, Tally], by: str = "individuals") -> list[tuple[Any, Tally]]:
    return sorted(tallies.items(), key=lambda kv: (-getattr(kv[1], by), -kv[1].objects, kv[0]))


def _timeline(stamps: Iterable[str]) -> tuple[list[tuple[str, int]], int]:
    times = sorted(datetime.datetime.fromisoformat(s).timestamp() for s in stamps if s)
    if not times:
        return [], 0
    span = times[-1] - times[0]
    step = next((s for s in TIMELINE_STEPS if span / s < MAX_BUCKETS), TIMELINE_STEPS[-1])
    origin = times[0] - times[0] % step
    counts = [0] * (int((times[-1] - origin) // step) + 1)
    for t in times:
        counts[min(int((t - origin) // step), len(counts) - 1)] += 1
    fmt = "%Y-%m-%d" if step >= 86400 else "%Y-%m-%d %H:%M:%S"
    labels = [
        datetime.datetime.fromtimestamp(origin + i * step, datetime.UTC).strftime(fmt)
        for i in range(len(counts))
    ]
    return list(zip(labels, counts, strict=True)), step


def _well_formed(alert: dict[str, Any]) -> bool:
    return all(isinstance(alert.get(k), dict) for k in ("destination", "object", "source")) and (
        isinstance(alert.get("findings", []), list)
    )


def build_report_data(case: Path) -> ReportData:
    """Aggregate the case folder; ``summary.json`` must exist (the audit writes it last)."""
    summary = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    alerts = read_jsonl(case / "alerts.jsonl")
    data = ReportData(summary=summary, alerts=len(alerts))
    countries: dict[str, Tally] = {}
    recipients: dict[str, Tally] = {}
    categories: dict[str, Tally] = {}
    transfers: dict[tuple[str, str, str], Tally] = {}
    stamps = []
    ledgers: dict[str, dict[str, Any]] = {}
    for alert in sorted(alerts, key=lambda a: str(a.get("alert_id", ""))):
        if not _well_formed(alert):
            data.malformed += 1
            continue
        if not (alert.get("cross_border") or {}).get("is_export"):
            continue
        people = alert_individuals(alert)
        egress = alert.get("egress") or {}
        processor = egress.get("processor") if isinstance(egress.get("processor"), dict) else None
        if isinstance(egress.get("policy"), dict):
            pid = str((processor or {}).get("id") or "unassigned")
            ledgers[pid] = {"processor": processor or {"id": pid}, **egress["policy"]}
        data.exported.append(alert)
        data.exports += 1
        data.individuals += people
        data.exported_bytes += int(alert["object"].get("size") or 0)
        stamps.append(str(alert.get("@timestamp", "")))
        country, recipient = country_of(alert), recipient_of(alert)
        countries.setdefault(country, Tally()).add(alert, people)
        rec = recipients.setdefault(recipient, Tally())
        rec.add(alert, people)
        rec.countries.add(country)
        transfer = transfers.setdefault((sender_of(alert), recipient, country), Tally())
        transfer.add(alert, people)
        for finding in alert.get("findings", []):
            if not isinstance(finding, dict):
                continue
            ident = str(finding.get("identifier", ""))
            name = finding.get("name")
            if not isinstance(name, dict):
                name = {}
            data.category_names[ident] = (
                str(name.get("zh", ident)),
                str(name.get("en", ident)),
                str(finding.get("class", "")),
            )
            cat = categories.setdefault(ident, Tally())
            cat.add(alert, int(finding.get("distinct") or 0))
            cat.values += int(finding.get("count") or 0)
            rec.categories.add(ident)
            transfer.categories.add(ident)
        for tag in egress.get("important_data") or []:
            if not isinstance(tag, dict):
                continue
            code = str(tag.get("code", ""))
            data.category_names[code] = (str(tag.get("name_zh", code)), code, "important_data")
            imp = categories.setdefault(code, Tally())
            imp.add(alert, 0)
            imp.values += 1
            transfer.categories.add(code)
    data.by_country = _ranked(countries)
    data.by_recipient = _ranked(recipients)
    data.by_category = _ranked(categories, by="values")
    data.transfers = _ranked(transfers)
    data.timeline, data.timeline_step = _timeline(stamps)
    data.ledgers_from_alerts = sorted(ledgers.items())
    processors = summary.get("processors")
    data.processors = processors if isinstance(processors, list) else None
    data.events = sorted(
        (
            e
            for e in read_jsonl(case / "events.jsonl")
            if e.get("record_type") in ("threshold_event", "consistency_event")
        ),
        key=lambda e: (str(e.get("@timestamp", "")), str(e.get("event_id", ""))),
    )
    return data
