"""Stage breakdown of one audit: where the time goes, so a regression shows where it is.

The real pipeline runs unchanged; timers wrap the calls at each stage boundary (class and module
attributes patched for the duration of one run in a benchmark process, never in the product).
Each timer counts *exclusive* time: a wrapped call's time minus the time of the wrapped calls it
makes, so nested stages (the object sink calls extraction, which is followed by detection) never
count twice and the buckets add up to the run's time:

* read: reading the capture (``PcapReader.blocks`` and per-record iteration);
* decode: numpy header parsing (``BlockHeaders``), building segments (``BatchRunner._segments``),
  the per-packet decoder and the batch runner's own planning (``BatchRunner._block``);
* flows: ``FlowTable`` (process, in_order, flush, advance, touch) and the batch path's bulk accounting;
* app: the application-layer handlers (``AppLayerHandler.on_data``/``on_gap``/``on_close``);
* extraction: content extraction of each object (archives, Office, PDF, charsets);
* detection: ``DetectionEngine.inspect``;
* policy_output: the rest of the object sink (naming, GeoIP, policy, alert and object records)
  and the flow records (``Audit._on_flow_end``);
* records: JSON encoding and writing of alerts.jsonl, objects.jsonl, flows.jsonl (and sinks);
* accounting: the compliance accounting of each alerted object (ledger transactions, events);
* evidence_objects: storing each alerted object and spooling its alert (``AlertEvidence.hold``);
* evidence_pass: after a capture, the second pass for the alerted flows' pcaps (its reading and
  decoding included), storing them and releasing the held alerts (``Audit.release_alerts``
  minus the records and audit log written);
* audit_log: the hash-chained audit log (append, seal);
* finish: sha256 of the input, summary.json, report.html, evidence retention;
* other: what no timer wraps (the run loop, progress, closing files).

Each stage's figure is capture bytes divided by the time spent in that stage. The timers cost
about a microsecond a call; ``calls`` in the result says how many there were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import sensor.audit as audit_module
import sensor.inspection as inspection_module
from detectors.engine import DetectionEngine
from sensor.app import AppLayerHandler
from sensor.audit import Audit
from sensor.capture.pcap import PcapReader
from sensor.compliance.accounting import Accounting
from sensor.decode.batch import BatchRunner, BlockHeaders
from sensor.decode.decoder import PacketDecoder
from sensor.flows.table import FlowTable
from sensor.outputs.alert_evidence import AlertEvidence
from sensor.outputs.alerts import JsonlWriter
from sensor.outputs.auditlog import AuditLog
from sensor.outputs.evidence import EvidenceStore
from sensor.outputs.sinks import FanOut

# (owner, attribute, bucket, is a generator function)
_WRAPPED: list[tuple[type | ModuleType, str, str, bool]] = [
    (PcapReader, "blocks", "read", True),
    (PcapReader, "__iter__", "read", True),
    (BlockHeaders, "__init__", "decode", False),
    (BatchRunner, "_block", "decode", False),
    (BatchRunner, "_segments", "decode", False),
    (PacketDecoder, "decode", "decode", False),
    (FlowTable, "process", "flows", False),
    (FlowTable, "in_order", "flows", False),
    (FlowTable, "flush", "flows", False),
    (FlowTable, "advance", "flows", False),
    (FlowTable, "touch", "flows", False),
    (BatchRunner, "_apply_bulk", "flows", False),
    (AppLayerHandler, "on_data", "app", False),
    (AppLayerHandler, "on_gap", "app", False),
    (AppLayerHandler, "on_close", "app", False),
    (inspection_module, "extract", "extraction", False),
    (DetectionEngine, "inspect", "detection", False),
    (Audit, "_on_object", "policy_output", False),
    (Audit, "_on_flow_end", "policy_output", False),
    (JsonlWriter, "write", "records", False),
    (FanOut, "write", "records", False),
    (Accounting, "on_object", "accounting", False),
    (Accounting, "summary", "accounting", False),
    (Accounting, "close", "accounting", False),
    (AlertEvidence, "hold", "evidence_objects", False),
    (Audit, "release_alerts", "evidence_pass", False),
    (AuditLog, "append", "audit_log", False),
    (AuditLog, "seal", "audit_log", False),
    (audit_module, "_sha256_file", "finish", False),
    (audit_module, "write_report", "finish", False),
    (EvidenceStore, "enforce_retention", "finish", False),
    (Audit, "summary", "finish", False),
]
STAGES = (
    "read",
    "decode",
    "flows",
    "app",
    "extraction",
    "detection",
    "policy_output",
    "records",
    "accounting",
    "evidence_objects",
    "evidence_pass",
    "audit_log",
    "finish",
    "other",
)


class StageTimers:
    """Accumulates exclusive time per stage while installed."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        """``clock``: ``time.perf_counter`` (wall, the default) or ``time.process_time`` (CPU
        of this process, for a shared machine; about three times the cost per call)."""
        self._clock = clock
        self.spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self.calls = 0
        self._saved: list[tuple[type | ModuleType, str, Any]] = []
        self._children: list[float] = [0.0]  # time of wrapped calls inside the current one
        self._pass = 0  # inside the evidence pass (its reading and decoding are its own)

    def install(self, audit: Audit | None = None) -> None:
        for owner, name, bucket, generator in _WRAPPED:
            original = owner.__dict__[name]
            self._saved.append((owner, name, original))
            wrap = self._wrap_generator if generator else self._wrap
            setattr(owner, name, wrap(original, bucket))

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _timed(self, bucket: str, call: Callable[[], Any]) -> Any:
        children, spent = self._children, self.spent
        self.calls += 1
        if self._pass and bucket in ("read", "decode"):
            bucket = "evidence_pass"  # the second pass reads and decodes for the evidence only
        elif bucket == "evidence_pass":
            self._pass += 1
            try:
                return self._timed("_pass", call)
            finally:
                self._pass -= 1
        children.append(0.0)
        clock = self._clock
        start = clock()
        try:
            return call()
        finally:
            elapsed = clock() - start
            spent["evidence_pass" if bucket == "_pass" else bucket] += elapsed - children.pop()
            children[-1] += elapsed

    def _wrap(self, fn: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self._timed(bucket, lambda: fn(*args, **kwargs))

        return wrapper

    def _wrap_generator(self, fn: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        """Times each resumption of the generator, not the consumer's work between them."""

        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            inner = fn(*args, **kwargs)
            done = object()
            while True:
                item = self._timed(bucket, lambda: next(inner, done))
                if item is done:
                    return
                yield item

        return wrapper

    def breakdown(self, total: float) -> dict[str, float]:
        """Seconds per stage (see the module docstring); they add up to ``total``."""
        result = {name: self.spent[name] for name in STAGES if name != "other"}
        result["other"] = max(0.0, total - sum(result.values()))
        result["calls"] = float(self.calls)
        return result
