"""``egress audit``: run the whole pipeline over capture files and write a case folder.

    capture files -> PcapReader -> PacketDecoder -> FlowTable -> AppLayerHandler -> TransferObject
                  -> DetectionEngine -> Jurisdiction -> alert -> alerts.jsonl (+ console)

The folder gets ``alerts.jsonl``, ``flows.jsonl`` (one record per connection), ``objects.jsonl`` (one
metadata record per rebuilt object, no content; with ``extract_objects`` the objects themselves
under ``objects/<sha256>``) and ``summary.json`` (inputs with their sha256, counts, anomalies,
the GeoIP database and the rules used), so a regulator can reproduce and explain the result.
It also gets ``report.html``, ``evidence/`` (each alert's object and flow pcap; a capture's alerts
are released after a second pass over it finds their flows' packets) and the hash-chained
``audit-log.jsonl``: see docs/report.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from detectors.streaming import ObjectScanner
from geoip import CountryDatabase
from sensor.anomalies import AnomalyCounter
from sensor.app import AppContext, AppLayerHandler
from sensor.capture import open_capture
from sensor.capture.record import CaptureRecord
from sensor.capture.source import STDIN
from sensor.compliance.accounting import Accounting
from sensor.compliance.identity import load_identity_key
from sensor.config import EgressConfig
from sensor.content.extract import ExtractionLimits
from sensor.decode import batch
from sensor.decode.decoder import PacketDecoder
from sensor.flows.records import flow_record
from sensor.flows.table import Flow, FlowTable
from sensor.inspection import inspect_object
from sensor.names import NameCache, is_address
from sensor.objects import TransferObject, object_record, overflow_scanning
from sensor.outputs.alert_evidence import AlertEvidence
from sensor.outputs.alerts import JsonlWriter, build_alert
from sensor.outputs.auditlog import LOG_NAME, AuditLog
from sensor.outputs.evidence import EvidenceStore, load_key
from sensor.outputs.report import write_report
from sensor.outputs.sinks import FanOut, RecordSink
from sensor.policy import Jurisdiction
from sensor.protocols.dns import DnsNames
from sensor.protocols.ftp.expect import DataExpectations
from sensor.protocols.http_ranges import RangeStitcher
from sensor.protocols.limits import ftp_data_limits, mime_limits

log = logging.getLogger(__name__)

AlertCallback = Callable[[dict[str, Any]], None]
ProgressCallback = Callable[[Path, int], None]  # (capture, its bytes read so far)
PROGRESS_EVERY_PACKETS = 2048


def bundled_sample() -> Path:
    """The sample capture shipped with the package (synthetic people only)."""
    return Path(str(resources.files("sensor"))) / "data" / "sample-http-upload.pcap"


CASE_FILES = (
    "alerts.jsonl",
    "flows.jsonl",
    "objects.jsonl",
    "events.jsonl",
    "summary.json",
    "report.html",
    "evidence/",
    "objects/",
    "audit-log.jsonl",
    "ledger.sqlite",
)


def case_files(out_dir: Path) -> list[str]:
    """The case folder's files that exist, in a fixed order, for the final line of the audit."""
    return [name for name in CASE_FILES if (out_dir / name.rstrip("/")).exists()]


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
        sinks: Sequence[RecordSink] = (),
        on_progress: ProgressCallback | None = None,
        ledger: Path | None = None,
        on_object: Callable[[TransferObject], None] | None = None,
    ):
        self.config = config
        self.out_dir = out_dir
        self.on_alert = on_alert
        self.on_object = on_object
        self._context = AppContext()
        self.anomalies = AnomalyCounter()
        self.names = NameCache()  # address -> name (DNS answers, TLS server names), whole run
        self.dns = DnsNames(self.names, self.anomalies)
        self.counts = AuditCounts()
        self.geoip = CountryDatabase.open(config.geoip.database)
        where = config.jurisdiction
        self.jurisdiction = Jurisdiction(
            self.geoip,
            where.home,
            where.internal_networks,
            where.domestic_networks,
            where.foreign_networks,
        )
        self.specs = load_catalogue(
            config.signatures.extra_directories, frozenset(config.signatures.disabled)
        )
        identity_key = load_identity_key(config.detection.identity_key_file)
        self.engine = DetectionEngine(
            self.specs, config.output.masked_samples_per_identifier, identity_key
        )
        self.extraction_limits = ExtractionLimits(**config.limits.extraction.model_dump())
        self._overflow = self._stream_scanner if config.limits.stream_past_limit else None
        self.ranges = RangeStitcher(self._on_object, config.limits.max_object_bytes, self.anomalies)
        self.inputs: list[dict[str, Any]] = []
        self._source = ""
        self.table: FlowTable | None = None
        out_dir.mkdir(parents=True, exist_ok=True)
        # compliance (before the outputs open: a bad processors file leaves the folder alone);
        # a fresh ledger per case folder unless --ledger continues a persistent one
        self.accounting = Accounting(
            config,
            out_dir,
            ledger,
            self.engine.key_id,
            identity_key is not None,
        )
        self._alerts = JsonlWriter(out_dir / "alerts.jsonl")
        self._flows = JsonlWriter(out_dir / "flows.jsonl", flush_each=False)
        self._objects = JsonlWriter(out_dir / "objects.jsonl", flush_each=False)
        self._extract_dir = out_dir / "objects" if extract_objects else None
        self.sinks = FanOut(sinks)  # extra outputs (Kafka, stdout, ...); the caller closes them
        self.accounting.on_event = self.sinks.write  # threshold and consistency events too
        self.on_progress = on_progress
        self._init_evidence()
        self._processors: list[dict[str, Any]] = []
        # Block size of the numpy hot path (sensor.decode.batch) where the capture allows it;
        # 0 keeps the per-packet path (same results, slower).
        self.batch = batch.BLOCK_BYTES
        # What the batch path did on the last source read that way (for the bench and tests)
        self.batch_stats: batch.BatchStats | None = None

    def run(self, captures: Iterable[Path]) -> dict[str, Any]:
        """Audit every capture in order; returns the summary that is also written to disk."""
        try:
            for path in captures:
                self._audit_one(path)
        finally:
            self._alerts.close()
            self._flows.close()
            self._objects.close()
            self._processors = self.accounting.summary()
            self.accounting.close()
            self._finish_evidence()
        summary = self.summary()
        summary.update(self._evidence_summary())
        (self.out_dir / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        write_report(self.out_dir)
        return summary

    # -- evidence, audit log and report (docs/report.md) ------------------------------------

    def _init_evidence(self) -> None:
        ev = self.config.evidence
        store = None
        if ev.enabled:
            store = EvidenceStore(
                self.out_dir / "evidence",
                key=load_key(ev.key_file) if ev.key_file else None,
                max_bytes=ev.max_bytes,
                max_age_seconds=ev.max_age_days * 86400,
            )
        self.evidence = AlertEvidence(
            store, self.anomalies, self.out_dir, ev.max_pcap_bytes_per_flow
        )
        log_path = self.out_dir / LOG_NAME
        log_path.unlink(missing_ok=True)  # a new audit is a new case: its log starts afresh
        self.audit_log = AuditLog(log_path)

    def _emit(self, alert: dict[str, Any]) -> None:
        """An alert whose evidence is stored: to alerts.jsonl, the audit log and the console."""
        self._alerts.write(alert)
        self.sinks.write(alert)
        self.audit_log.append(alert)
        if self.on_alert is not None:
            self.on_alert(alert)

    def _finish_evidence(self) -> None:
        self.audit_log.seal()
        if self.evidence.store is not None:
            self.evidence.store.enforce_retention()

    def _evidence_summary(self) -> dict[str, Any]:
        store = self.evidence.store
        return {
            "audit_log": self.audit_log.info(),
            "evidence": None
            if store is None
            else {**store.info(), "flow_pcaps": self.evidence.pcaps},
        }

    def _audit_one(self, path: Path) -> None:
        reader = open_capture(path, self.anomalies)
        log.info("auditing %s", reader.name)

        def progress() -> None:
            if self.on_progress is not None:
                self.on_progress(path, reader.bytes_read)

        try:
            packets = self.process_records(reader, path.name, progress)
        finally:
            reader.close()
        self.release_alerts(path)
        progress()
        self.inputs.append(
            {
                "path": reader.name,
                "bytes_read": reader.bytes_read,
                "sha256": None if path == STDIN else _sha256_file(path),
                "packets": packets,
            }
        )

    def process_records(
        self,
        records: Iterable[CaptureRecord],
        source: str,
        progress: Callable[[], None] | None = None,
    ) -> int:
        """Run the pipeline over ``records`` from one named source (a file or a live interface);
        flows still open when the records end are flushed. Returns the number of records.
        Alerts wait in ``self.evidence`` until ``release_alerts``. Objects that outgrow their
        size limit meanwhile are inspected on past it (``limits.stream_past_limit``)."""
        with overflow_scanning(self._overflow):
            return self._process_records(records, source, progress)

    def _process_records(
        self,
        records: Iterable[CaptureRecord],
        source: str,
        progress: Callable[[], None] | None = None,
    ) -> int:
        self._source = source
        limits = self.config.limits
        # shared by the flows of this source: FTP data announcements, MIME bounds, names
        self._context = AppContext(
            DataExpectations(self.anomalies, ftp_data_limits(self.config)),
            mime_limits(self.config),
            self.names,
            self.dns,
        )
        table = FlowTable(
            self._new_handler,
            self.anomalies,
            max_flows=limits.max_flows,
            max_buffered_bytes_per_direction=limits.max_buffered_bytes_per_direction,
            on_flow_end=self._on_flow_end,
        )
        self.table = table  # live metrics read len(table) between batches
        packets = 0
        fragments = limits.fragments
        decoder = PacketDecoder(  # per source: fragments never span two files
            self.anomalies,
            reassemble_fragments=fragments.reassemble,
            fragment_timeout=fragments.timeout_seconds,
            max_fragment_bytes=fragments.max_bytes,
            on_udp=self.dns.udp,  # UDP DNS answers feed the name cache
        )
        if self.batch and batch.supports(records):  # numpy hot path over a pcap, same results
            stats = batch.BatchRunner(decoder, table, self.batch).run(
                records, None if progress is None else lambda _done: progress()
            )
            packets = stats.records
            self.counts.tcp_segments += stats.segments
            self.batch_stats = stats
        else:
            for record in records:
                packets += 1
                if progress is not None and packets % PROGRESS_EVERY_PACKETS == 0:
                    progress()
                segment = decoder.decode(record)
                if segment is not None:
                    self.counts.tcp_segments += 1
                    table.process(segment)
        decoder.finish()  # datagrams still missing fragments are counted, not forgotten
        table.flush()
        self.ranges.flush()  # ranged downloads of this source, holes and all
        self.counts.packets += packets
        self.counts.flows += table.flows_seen
        return packets

    def release_alerts(self, capture: Path | None) -> None:
        """Emit the alerts held for their evidence; ``capture`` is read again for the flows'
        pcaps, None for a live source, which has no file to read again."""
        for alert in self.evidence.release(capture):
            self._emit(alert)

    def _on_flow_end(self, flow: Flow) -> None:
        handler = flow.handler if isinstance(flow.handler, AppLayerHandler) else None
        record = flow_record(
            flow, handler.protocol if handler else "", self.config.sensor_id, self._source
        )
        if handler is not None:
            record.update(handler.metadata)  # e.g. "tls": server name, ALPN, version, JA3
        self._flows.write(record)
        self.sinks.write(record)
        self.evidence.flow_ended(flow)

    def _new_handler(self, flow: Flow) -> AppLayerHandler:
        return AppLayerHandler(
            flow,
            self._on_object,
            self.anomalies,
            self.config.limits.max_object_bytes,
            self._context,
        )

    def _stream_scanner(self, start: int, head: bytearray) -> ObjectScanner:
        """Stream inspection of an object's bytes past the size limit (detectors.streaming)."""
        return ObjectScanner(self.engine, start, head)  # keeps only the last margin bytes

    def _on_object(self, obj: TransferObject) -> None:
        self.counts.objects += 1
        if self.ranges.take(obj):  # a piece of a ranged download: inspected once stitched
            self._objects.write(
                object_record(obj, sensor_id=self.config.sensor_id, source=self._source)
            )
            return
        inspection = inspect_object(self.engine, obj, self.extraction_limits)
        findings = inspection.findings
        self._name_destination(obj)
        if self.on_object is not None:
            self.on_object(obj)
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
        alert["egress"] = self.accounting.on_object(
            object_id=alert["alert_id"],
            timestamp=obj.timestamp,
            host=obj.host,
            findings=findings,
            src=src,
            dst=dst,
            border=decision,
        )
        if decision.destination_unknown:
            alert["severity"] = self.config.jurisdiction.unknown_destination_severity
        self.evidence.hold(alert, obj)  # written by _emit once its flow's packets are stored
        self.counts.alerts += 1
        if decision.is_export:
            self.counts.exports += 1
            self.counts.individuals_exported += findings.distinct_individuals
            where = dst.label
            self.counts.by_destination[where] = (
                self.counts.by_destination.get(where, 0) + findings.distinct_individuals
            )

    def _name_destination(self, obj: TransferObject) -> None:
        """An object with no host name gets the server's name from DNS/TLS, if one was seen;
        a named one (HTTP Host, mail recipient domain) teaches the cache its server's name, unless
        the server is a forward proxy (``via_proxy``): its address is shared by every site."""
        server = obj.flow.dst_ip if obj.direction == "upload" else obj.flow.src_ip
        if obj.host and not is_address(obj.host):
            if not obj.via_proxy:
                self.names.observe(server, obj.host.split(":", 1)[0], obj.protocol)
            return
        entry = self.names.lookup(server)
        if entry is not None:
            obj.host = entry.name

    def _extract(self, obj: TransferObject) -> str | None:
        """Write the kept body to ``objects/<sha256>`` (once per content); its path, or None."""
        if self._extract_dir is None or not obj.body:
            return None
        name = obj.sha256 if not obj.truncated else hashlib.sha256(obj.body).hexdigest()
        path = self._extract_dir / name
        if not path.exists():  # raw transferred data: owner-only, like the evidence store
            self._extract_dir.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(obj.body)
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
            "processors": self._processors,
        }
