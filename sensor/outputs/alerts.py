"""Alert records.

One alert per object with findings. Field names follow Elastic Common Schema where it has one
(``source.ip``, ``destination.geo.country_iso_code``, ``url.full``, ``file.hash.sha256``) so SIEMs
map them without work; egress-specific parts live under ``egress``. ``schema_version`` changes when
a field changes meaning; docs/alerts.md describes every field.

Alerts never contain raw identifiers: only counts, masked samples and byte offsets.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import IO, Any

from detectors.engine import ObjectFindings
from sensor.objects import TransferObject
from sensor.policy import BorderDecision, Place

SCHEMA_VERSION = "0.1"


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="microseconds")


def alert_id(sensor_id: str, source: str, obj: TransferObject) -> str:
    """Sortable (time first) and reproducible: the same capture gives the same ids."""
    digest = hashlib.sha256(
        f"{sensor_id}\0{source}\0{obj.flow.uid}\0{obj.index}".encode()
    ).hexdigest()[:16]
    return f"{int(obj.timestamp * 1000):013x}-{digest}"


def severity(decision: BorderDecision, findings: ObjectFindings) -> str:
    if not decision.is_export:
        return "info"
    sensitive = any(
        f.data_class.value != "personal_information" for f in findings.findings if f.count
    )
    return "high" if sensitive else "medium"


def build_alert(
    *,
    sensor_id: str,
    source: str,
    obj: TransferObject,
    findings: ObjectFindings,
    src: Place,
    dst: Place,
    decision: BorderDecision,
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The alert record for one object; ``source`` names the capture it came from."""
    body = bytes(obj.body)
    return {
        "schema_version": SCHEMA_VERSION,
        "record_type": "alert",
        "alert_id": alert_id(sensor_id, source, obj),
        "@timestamp": _iso(obj.timestamp),
        "observer": {"name": sensor_id, "input": source},
        "severity": severity(decision, findings),
        "network": {
            "transport": obj.flow.transport,
            "protocol": obj.protocol,
            "vlan": list(obj.flow.vlan),
        },
        "flow": {"id": obj.flow.uid},
        "source": {
            "ip": src.ip,
            "port": obj.flow.src_port,
            "geo": {"country_iso_code": src.country},
            "internal": src.internal,
        },
        "destination": {
            "ip": dst.ip,
            "port": obj.flow.dst_port,
            "domain": obj.host,
            "geo": {"country_iso_code": dst.country},
            "internal": dst.internal,
        },
        "cross_border": {
            "is_export": decision.is_export,
            "destination_unknown": decision.destination_unknown,
            "reason": decision.reason,
        },
        "object": {
            "protocol": obj.protocol,
            "direction": obj.direction,
            "index": obj.index,
            "http": {"request": {"method": obj.method}},
            "url": {"full": obj.url},
            "file": {"name": obj.filename},  # upload/attachment name; SMB: \\server\share\path
            "content_type": obj.content_type,
            "size": len(body),
            "declared_size": obj.declared_length,
            "sha256": hashlib.sha256(body).hexdigest(),
            "complete": obj.complete,
            "truncated": obj.truncated,
            "gap_bytes": obj.gap_bytes,
            "detected_type": obj.detected_type,
            "flags": obj.flag_names(),
            # where inside the object the findings are: sheet, archive member, charset
            "parts": parts or [],
        },
        "findings": [
            {
                "identifier": f.identifier,
                "rule": f.rule,
                "name": {"en": f.name_en, "zh": f.name_zh},
                "class": f.data_class.value,
                "basis": f.basis,
                "count": f.count,
                "distinct": f.distinct,
                "rejected_candidates": f.rejected,
                "masked_samples": list(f.masked_samples),
                "offsets": list(f.offsets),
            }
            for f in findings.findings
            if f.count
        ],
        "individuals": {"distinct": findings.distinct_individuals},
    }


class JsonlWriter:
    """Writes one JSON document per line.

    With ``flush_each`` (alerts) every record is flushed, so a crash loses at most the one being
    written; high-volume records (flows) leave flushing to the buffer.
    """

    def __init__(self, path: Path, flush_each: bool = True) -> None:
        self.path = path
        self._flush_each = flush_each
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self.records = 0

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        if self._flush_each:
            self._file.flush()
        self.records += 1

    def close(self) -> None:
        self._file.close()
