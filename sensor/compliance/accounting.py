"""The audit's compliance hook: one object -> ledger, threshold and consistency events, alert block.

For each object with findings the sender's processor is looked up (unconfigured addresses go to
``unassigned``), the year is taken in Asia/Shanghai from the packet time, and for an export the
object's people are added to the ledger under the total (or the exemption basis its declaration
names), its destination country, its recipient (HTTP Host, else the address) and its declaration.
The processor's yearly counts then go through the evaluator; thresholds crossed or neared and
mismatches with the filed declarations become events, each emitted once per processor and year
(the ledger remembers, so a restart does not repeat them).
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detectors.engine import ObjectFindings
from sensor.compliance.declarations import (
    EXEMPTION_ARTICLES,
    Declaration,
    Inconsistency,
    check_export,
    check_volume,
    match,
)
from sensor.compliance.evaluator import Evaluator, YearlyCounts
from sensor.compliance.ledger import Ledger
from sensor.compliance.legal import Decision, LegalPath
from sensor.compliance.packs import load_packs
from sensor.compliance.processors import (
    UNASSIGNED,
    ProcessorMap,
    ProcessorProfile,
    load_processors,
    unassigned_profile,
)
from sensor.compliance.status import ledger_status, yearly_counts
from sensor.config import EgressConfig
from sensor.outputs.alerts import JsonlWriter
from sensor.policy import BorderDecision, Place

EVENT_SCHEMA_VERSION = "0.1"
# Asia/Shanghai has kept UTC+8 without daylight saving since 1991: a fixed offset is exact for any
# capture this sensor will see and needs no tz database on the appliance.
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")


def year_of(timestamp: float) -> int:
    return datetime.datetime.fromtimestamp(timestamp, SHANGHAI).year


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="microseconds")


class Accounting:
    """Owns the ledger, the evaluator, the processor map and ``events.jsonl`` for one run."""

    def __init__(
        self,
        config: EgressConfig,
        out_dir: Path,
        ledger_path: Path | None,
        key_id: str,
        persistent: bool,
    ) -> None:
        """``ledger_path`` None: a fresh ``ledger.sqlite`` in ``out_dir`` (an old one is replaced,
        like the case folder's other files); otherwise that ledger is continued."""
        self.sensor_id = config.sensor_id
        if ledger_path is None:
            ledger_path = out_dir / "ledger.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{ledger_path}{suffix}").unlink(missing_ok=True)
        self.processors: ProcessorMap = load_processors(config.compliance.processors_file)
        self.evaluator = Evaluator(load_packs(config.compliance.policy_directories))
        self.warn_fraction = config.compliance.warn_fraction
        self.ledger = Ledger(ledger_path, key_id, persistent)
        self._events = JsonlWriter(out_dir / "events.jsonl")
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # e.g. the Kafka sinks
        self._unassigned = unassigned_profile()
        self._saved: set[str] = set()

    def profile_of(self, place: Place) -> ProcessorProfile:
        return self.processors.lookup(place.ip) or self._unassigned

    def yearly(self, profile: ProcessorProfile, year: int) -> YearlyCounts:
        return yearly_counts(self.ledger, profile, year)

    def on_object(
        self,
        *,
        object_id: str,
        timestamp: float,
        host: str | None,
        findings: ObjectFindings,
        src: Place,
        dst: Place,
        border: BorderDecision,
    ) -> dict[str, Any]:
        """Account one object (an alert candidate) and return its ``egress`` block."""
        profile = self.profile_of(src)
        year = year_of(timestamp)
        important = [
            {"code": i.code, "name_zh": i.name_zh, "score": i.score} for i in findings.important
        ]
        block: dict[str, Any] = {
            "processor": profile.summary() if profile.id != UNASSIGNED else None,
            "individuals": findings.individuals_by_class,
            "important_data": important,
        }
        if not border.is_export:
            decision = Decision(LegalPath.NOT_AN_EXPORT, (), f"not_an_export: {border.reason}")
            block["policy"] = self._policy(decision, profile, year, self.yearly(profile, year))
            return block
        if profile.id not in self._saved:  # once per run: a write (and fsync) of its own
            self.ledger.save_profile(profile.id, profile.model_dump(mode="json"))
            self._saved.add(profile.id)
        recipient = (host or dst.ip).lower().split(":")[0]
        country = dst.country or "unknown"
        declarations = profile.declared_exports
        declaration = (
            match(declarations, host, dst.ip, dst.country) if declarations is not None else None
        )
        base = "total"
        if declaration is not None and declaration.exemption is not None:
            base = f"exempt:{declaration.exemption}"
        scopes = [base, f"country:{country}", f"recipient:{recipient}"]
        if declaration is not None:
            scopes.append(f"declaration:{declaration.id}")
        keys = {
            "personal": findings.individual_keys,
            "sensitive": findings.sensitive_keys,
            "account_or_medical": findings.account_or_medical_keys,
        }
        self.ledger.record(
            profile.id,
            year,
            keys,
            scopes,
            [(i.code, i.name_zh, i.score) for i in findings.important],
            object_id,
        )
        counts = self.yearly(profile, year)
        decision = self.evaluator.decide(profile, counts)
        if declaration is not None and declaration.exemption is not None:
            decision = Decision(
                LegalPath.EXEMPT,
                decision.basis,
                f"exempt for this object: declaration {declaration.id} under "
                f"促进和规范数据跨境流动规定 {EXEMPTION_ARTICLES[declaration.exemption]}; the "
                f"processor's cumulative path is {decision.legal_path.value}",
                decision.notes,
            )
        self._threshold_events(timestamp, profile, year, counts)
        if declarations is not None:
            day = datetime.datetime.fromtimestamp(timestamp, SHANGHAI).date()
            found = check_export(
                declaration,
                recipient,
                findings.individuals_by_class,
                tuple(c for c in counts.important_data if c in {i["code"] for i in important}),
                day,
            )
            if declaration is not None:
                people = self.ledger.counts(profile.id, year, f"declaration:{declaration.id}")
                over = check_volume(declaration, people["personal"])
                if over is not None:
                    found.append(over)
            split = self._split(profile, year, counts, declarations)
            if split is not None:
                found.append(split)
            for item in found:
                self._consistency_event(timestamp, profile, year, item)
        block["policy"] = self._policy(decision, profile, year, counts)
        return block

    def _policy(
        self, decision: Decision, profile: ProcessorProfile, year: int, counts: YearlyCounts
    ) -> dict[str, Any]:
        policy = decision.as_dict()
        policy["ledger"] = {
            "year": year,
            "personal": counts.personal,
            "sensitive": counts.sensitive,
            "account_or_medical": counts.account_or_medical,
            "per_run": self.ledger.per_run,
            "thresholds": {t.key: t.value for t in self.evaluator.thresholds(profile, counts)},
        }
        return policy

    def _split(
        self,
        profile: ProcessorProfile,
        year: int,
        counts: YearlyCounts,
        declarations: tuple[Declaration, ...],
    ) -> Inconsistency | None:
        """Several recipients, each under a threshold alone, that together need more than any
        declaration filed: the data was split to stay under (规定 第八条: 不得采取数量拆分等手段)."""
        overall = self.evaluator.decide(profile, counts).legal_path
        recipients = self.ledger.breakdown(profile.id, year, "recipient")
        if len(recipients) < 2 or overall.rank <= LegalPath.EXEMPT.rank:
            return None
        alone = max(
            self.evaluator.decide(
                profile,
                YearlyCounts(c["personal"], c["sensitive"], c["account_or_medical"]),
            ).legal_path.rank
            for c in recipients.values()
        )
        filed = max(
            (d.legal_path.rank for d in declarations if d.legal_path is not None),
            default=LegalPath.EXEMPT.rank,
        )
        if alone >= overall.rank or filed >= overall.rank:
            return None
        return Inconsistency(
            "split_across_recipients",
            f"split:{overall.value}",
            f"{len(recipients)} recipients each stay under the threshold, together they need "
            f"{overall.value}, and no declaration files that path",
        )

    def _event_id(self, timestamp: float, key: str) -> str:
        return f"{int(timestamp * 1000):013x}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def _threshold_events(
        self, timestamp: float, profile: ProcessorProfile, year: int, counts: YearlyCounts
    ) -> None:
        metrics = counts.metrics()
        for threshold in self.evaluator.thresholds(profile, counts):
            value = metrics[threshold.metric]
            warn_at = math.ceil(threshold.value * self.warn_fraction)
            if value >= threshold.value:
                kind = "crossed"
            elif value >= warn_at:
                kind = "warning"
            else:
                continue
            key = f"threshold:{profile.id}:{year}:{threshold.key}:{kind}"
            record = {
                "schema_version": EVENT_SCHEMA_VERSION,
                "record_type": "threshold_event",
                "event_id": self._event_id(timestamp, key),
                "@timestamp": _iso(timestamp),
                "observer": {"name": self.sensor_id},
                "kind": kind,
                "processor": profile.summary(),
                "year": year,
                "class": threshold.metric,
                "value": value,
                "threshold": threshold.value,
                "warn_at": warn_at,
                "legal_path": threshold.path.value,
                "basis": [threshold.basis.as_dict()],
            }
            if self.ledger.emit_once(key, record):
                self._write_event(record)

    def _consistency_event(
        self, timestamp: float, profile: ProcessorProfile, year: int, item: Inconsistency
    ) -> None:
        key = f"consistency:{profile.id}:{year}:{item.key}"
        record = {
            "schema_version": EVENT_SCHEMA_VERSION,
            "record_type": "consistency_event",
            "event_id": self._event_id(timestamp, key),
            "@timestamp": _iso(timestamp),
            "observer": {"name": self.sensor_id},
            "processor": profile.summary(),
            "year": year,
            "check": item.check,
            "declaration": item.declaration,
            "detail": item.detail,
            "basis": item.basis,
        }
        if self.ledger.emit_once(key, record):
            self._write_event(record)

    def summary(self) -> list[dict[str, Any]]:
        """``summary.json`` ``processors``: every processor and year in the ledger."""
        return ledger_status(self.ledger, self.evaluator, self.processors.profiles)

    def close(self) -> None:
        self._events.close()
        self.ledger.close()

    def _write_event(self, record: dict[str, Any]) -> None:
        self._events.write(record)
        if self.on_event is not None:
            self.on_event(record)
