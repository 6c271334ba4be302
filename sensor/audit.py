"""``egress audit``: run the whole pipeline over capture files and write a case folder.

    capture files -> PcapReader -> PacketDecoder -> FlowTable -> AppLayerHandler -> TransferObject
                  -> DetectionEngine -> Jurisdiction -> alert -> alerts.jsonl (+ console)

The folder gets ``alerts.jsonl``, ``flows.jsonl`` (one record per connection), ``objects.jsonl`` (one
metadata record per rebuilt object, no content; with ``extract_objects`` the objects themselves
under ``objects/<sha256>``) and ``summary.json`` (inputs with their sha256, counts, anomalies,
the GeoIP database and the rules used), so a regulator can reproduce and explain the result.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from geoip import CountryDatabase
from sensor.anomalies import AnomalyCounter
from sensor.app import AppLayerHandler
from sensor.capture import open_capture
from sensor.capture.record import CaptureRecord
from sensor.capture.source import STDIN
from sensor.config import EgressConfig
from sensor.content.extract import ExtractionLimits
from sensor.decode.decoder import PacketDecoder
from sensor.flows.records import flow_record
from sensor.flows.table import Flow, FlowTable
from sensor.inspection import inspect_object
from sensor.objects import TransferObject, object_record
from sensor.outputs.alerts import JsonlWriter, build_alert
from sensor.policy import Jurisdiction

log = logging.getLogger(__name__)

AlertCallback = Callable[[dict[str, Any]], None]


def bundled_sample() -> Path:
    """The sample capture shipped with the package (synthetic people only)."""
    return Path(str(resources.files("sensor"))) / "data" / "sample-http-upload.pcap"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class AuditCounts:
    packets: int = 0
    tcp_segments: int = 0
    flows: int = 0
    objects: int = 0
    alerts: int = 0
    exports: int = 0
    individuals_exported: int = 0
    by_destination: dict[str, int] = field(default_factory=dict)


class Audit:
    """One audit run: shared engine and GeoIP, per-capture flow tables, one output folder."""

    def __init__(
        self,
        config: EgressConfig,
        out_dir: Path,
        on_alert: AlertCallback | None = None,
        extract_objects: bool = False,
    ):
        self.config = config
        self.out_dir = out_dir
        self.on_alert = on_alert
        self.anomalies = AnomalyCounter()
        self.counts = AuditCounts()
        self.geoip = CountryDatabase.open(config.geoip.database)
        self.jurisdiction = Jurisdiction(
            self.geoip, config.jurisdiction.home, config.jurisdiction.internal_networks
        )
        self.specs = load_catalogue(
            config.signatures.extra_directories, frozenset(config.signatures.disabled)
        )
        self.engine = DetectionEngine(self.specs, config.output.masked_samples_per_identifier)
        self.extraction_limits = ExtractionLimits(**config.limits.extraction.model_dump())
        self.inputs: list[dict[str, Any]] = []
        self._source = ""
        self.table: FlowTable | None = None
        out_dir.mkdir(parents=True, exist_ok=True)
        self._alerts = JsonlWriter(out_dir / "alerts.jsonl")
        self._flows = JsonlWriter(out_dir / "flows.jsonl", flush_each=False)
        self._objects = JsonlWriter(out_dir / "objects.jsonl", flush_each=False)
        self._extract_dir = out_dir / "objects" if extract_objects else None

    def run(self, captures: Iterable[Path]) -> dict[str, Any]:
        """Audit every capture in order; returns the summary that is also written to disk."""
        try:
            for path in captures:
                self._audit_one(path)
        finally:
            self._alerts.close()
            self._flows.close()
            self._objects.close()
        summary = self.summary()
        (self.out_dir / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return summary

    def _audit_one(self, path: Path) -> None:
        reader = open_capture(path, self.anomalies)
        log.info("auditing %s", reader.name)
        try:
            packets = self.process_records(reader, path.name)
        finally:
            reader.close()
        self.inputs.append(
            {
                "path": reader.name,
                "bytes_read": reader.bytes_read,
                "sha256": None if path == STDIN else _sha256_file(path),
                "packets": packets,
            }
        )

    def process_records(self, records: Iterable[CaptureRecord], source: str) -> int:
        """Run the pipeline over ``records`` from one named source (a file or a live interface);
        flows still open when the records end are flushed. Returns the number of records."""
        self._source = source
        limits = self.config.limits
        table = FlowTable(
            self._new_handler,
            self.anomalies,
            max_flows=limits.max_flows,
            max_buffered_bytes_per_direction=limits.max_buffered_bytes_per_direction,
            on_flow_end=self._on_flow_end,
        )
        self.table = table  # live metrics read len(table) between batches
        packets = 0
        decoder = PacketDecoder(self.anomalies)  # per source: fragments never span two files
        for record in records:
            packets += 1
            segment = decoder.decode(record)
            if segment is not None:
                self.counts.tcp_segments += 1
                table.process(segment)
        decoder.finish()  # datagrams still missing fragments are counted, not forgotten
        table.flush()
        self.counts.packets += packets
        self.counts.flows += table.flows_seen
        return packets

    def _on_flow_end(self, flow: Flow) -> None:
        service = flow.handler.protocol if isinstance(flow.handler, AppLayerHandler) else ""
        self._flows.write(flow_record(flow, service, self.config.sensor_id, self._source))

    def _new_handler(self, flow: Flow) -> AppLayerHandler:
        return AppLayerHandler(
            flow, self._on_object, self.anomalies, self.config.limits.max_object_bytes
        )

    def _on_object(self, obj: TransferObject) -> None:
        self.counts.objects += 1
        inspection = inspect_object(self.engine, obj, self.extraction_limits)
        findings = inspection.findings
        self._objects.write(
            object_record(
                obj,
                sensor_id=self.config.sensor_id,
                source=self._source,
                extracted=self._extract(obj),
            )
        )
        if not findings:
            return
        # The flow context is oriented sender -> receiver of the object, so for a download the
        # sender placed here is the server: a foreign client pulling data from home is an export.
        src = self.jurisdiction.place(obj.flow.src_ip)
        dst = self.jurisdiction.place(obj.flow.dst_ip)
        decision = self.jurisdiction.decide(src, dst)
        if obj.direction == "download" and not decision.is_export:
            return  # downloads alert only when they carry data out of the jurisdiction
        alert = build_alert(
            sensor_id=self.config.sensor_id,
            source=self._source,
            obj=obj,
            findings=findings,
            src=src,
            dst=dst,
            decision=decision,
            parts=inspection.located(),
        )
        self._alerts.write(alert)
        self.counts.alerts += 1
        if decision.is_export:
            self.counts.exports += 1
            self.counts.individuals_exported += findings.distinct_individuals
            where = dst.label
            self.counts.by_destination[where] = (
                self.counts.by_destination.get(where, 0) + findings.distinct_individuals
            )
        if self.on_alert is not None:
            self.on_alert(alert)

    def _extract(self, obj: TransferObject) -> str | None:
        """Write the kept body to ``objects/<sha256>`` (once per content); its path, or None."""
        if self._extract_dir is None or not obj.body:
            return None
        name = obj.sha256 if not obj.truncated else hashlib.sha256(obj.body).hexdigest()
        path = self._extract_dir / name
        if not path.exists():
            self._extract_dir.mkdir(exist_ok=True)
            path.write_bytes(obj.body)
        return f"objects/{name}"

    def summary(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "record_type": "audit_summary",
            "inputs": self.inputs,
            "counts": {
                "packets": counts.packets,
                "tcp_segments": counts.tcp_segments,
                "flows": counts.flows,
                "objects": counts.objects,
                "alerts": counts.alerts,
                "exports": counts.exports,
            },
            # Summed per object: the same person in two exported objects counts twice here; the
            # yearly ledger (compliance issue) deduplicates across objects with keyed hashes.
            "individuals_in_exported_objects": counts.individuals_exported,
            "individuals_in_exported_objects_by_destination": dict(
                sorted(counts.by_destination.items())
            ),
            "anomalies": self.anomalies.as_dict(),
            "geoip": self.geoip.info(),
            "rules": [spec.rule for spec in self.specs],
            "home_jurisdiction": self.config.jurisdiction.home,
        }
