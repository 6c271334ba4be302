"""One capture worker process: AF_PACKET ring -> the audit pipeline -> its own case sub-folder.

Each worker opens its own sockets in the shared fan-out group, so the kernel hands it whole flows,
and runs an :class:`~sensor.audit.Audit` over the live records (``Audit.process_records``). It
writes ``OUT/worker-N/`` (alerts, flows, objects, evidence, summary) itself and sends every alert
and flow record (it is the Audit's record sink) and a stats snapshot once a second to the
supervisor, the single writer of everything that must be exact or ordered across workers (the
merged ``OUT/alerts.jsonl``, the configured outputs such as Kafka, the compliance ledger).

Signals: SIGTERM/SIGINT end the record stream, so open flows are flushed through the pipeline and
the outputs closed; SIGHUP reloads the configuration's signatures and jurisdiction between ring
blocks, and keeps the old ones when the new ones do not load.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from detectors.catalogue import IdentifierSpec, load_catalogue
from detectors.engine import DetectionEngine
from sensor.audit import Audit
from sensor.capture.afpacket import AfPacketCapture, RingConfig
from sensor.capture.record import CaptureRecord
from sensor.compliance.evaluator import Evaluator
from sensor.compliance.packs import load_packs
from sensor.compliance.processors import ProcessorMap, load_processors
from sensor.config import EgressConfig, load_config
from sensor.errors import EgressError
from sensor.memory_settings import tune_for_pipeline
from sensor.policy import Jurisdiction

log = logging.getLogger("sensor.live")

SNAPSHOT_SECONDS = 1.0  # how often a worker reports its counters to the supervisor
POLL_SECONDS = 0.2  # longest wait for a ring block, so signals are acted on promptly

# Anomalies that mean the pipeline dropped or cut data it had captured (internal drops).
INTERNAL_DROP_ANOMALIES = (
    "flows.evicted",
    "tcp.reassembly_buffer_full",
    "objects.truncated_at_size_limit",
    "decode.frag_memory_limit",
    "decode.frag_too_many",
)


class Outbox(Protocol):
    """Where a worker sends ``(kind, worker, payload)`` messages (a multiprocessing queue)."""

    def put(self, obj: Any, block: bool = True, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class WorkerSpec:
    index: int
    interfaces: tuple[str, ...]
    config: EgressConfig
    config_path: Path | None
    out_dir: Path
    fanout: bool


class _Flags:
    def __init__(self) -> None:
        self.stop = False
        self.reload = False

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True


@dataclass(frozen=True)
class Rules:
    """What SIGHUP reloads: signatures, jurisdiction, processors with their declared exports, and
    policy packs. Built completely before anything is swapped, so a broken file changes nothing."""

    specs: tuple[IdentifierSpec, ...]
    engine: DetectionEngine
    jurisdiction: Jurisdiction
    processors: ProcessorMap
    evaluator: Evaluator

    def apply(self, audit: Audit) -> None:
        audit.specs, audit.engine, audit.jurisdiction = self.specs, self.engine, self.jurisdiction
        audit.accounting.processors, audit.accounting.evaluator = self.processors, self.evaluator


def build_rules(audit: Audit, config: EgressConfig) -> Rules:
    """The rules of ``config`` for a running ``audit``; raises if any file is bad. Person keys
    must not change mid-run (the ledger was opened with this key): the running engine's keyed
    hasher is kept."""
    specs = load_catalogue(
        config.signatures.extra_directories, frozenset(config.signatures.disabled)
    )
    engine = DetectionEngine(specs, config.output.masked_samples_per_identifier)
    engine.share_person_key(audit.engine)
    where = config.jurisdiction
    jurisdiction = Jurisdiction(
        audit.geoip, where.home, where.internal_networks, where.domestic_networks,
        where.foreign_networks,
    )  # fmt: skip
    processors = load_processors(config.compliance.processors_file)
    evaluator = Evaluator(load_packs(config.compliance.policy_directories))
    return Rules(specs, engine, jurisdiction, processors, evaluator)


class Worker:
    """The pipeline of one worker process around its capture."""

    def __init__(self, spec: WorkerSpec, outbox: Outbox) -> None:
        self.spec = spec
        self.outbox = outbox
        self.flags = _Flags()
        live = spec.config.live
        self.capture = AfPacketCapture(
            list(spec.interfaces),
            RingConfig(live.ring.block_size, live.ring.block_count, live.ring.block_timeout_ms),
            promiscuous=live.promiscuous,
            bpf=live.bpf or None,
            fanout_group=live.fanout_group if spec.fanout else None,
        )
        self.findings = 0
        self.reloads_refused = 0
        # one ledger for all workers (transactions take its write lock): people count once
        self.audit = Audit(
            spec.config,
            spec.out_dir / f"worker-{spec.index}",
            sinks=[self],
            ledger=spec.out_dir / "ledger.sqlite",
        )

    # RecordSink: every alert and flow record goes on to the supervisor, the single writer
    def write(self, record: dict[str, Any]) -> None:
        if record.get("record_type") == "alert":
            self.findings += len(record["findings"])
        self.outbox.put(("record", self.spec.index, record))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        kernel = self.capture.update_stats()
        audit = self.audit
        anomalies = audit.anomalies
        return {
            "packets": self.capture.packets,
            "bytes": self.capture.bytes,
            "kernel_packets": kernel.packets,
            "kernel_drops": kernel.drops,
            "kernel_freezes": kernel.freezes,
            "internal_drops": sum(anomalies[name] for name in INTERNAL_DROP_ANOMALIES),
            "active_flows": len(audit.table) if audit.table is not None else 0,
            "reassembly_bytes": audit.table.buffered_bytes() if audit.table is not None else 0,
            "flows": audit.table.flows_seen if audit.table is not None else 0,
            "objects": audit.counts.objects,
            "findings": self.findings,
            "alerts": audit.counts.alerts,
            "identifiers": len(audit.specs),
            "reloads_refused": self.reloads_refused,
            "anomalies": {name: v["count"] for name, v in anomalies.as_dict().items()},
            "time": time.time(),
        }

    def reload(self) -> None:
        """Swap in the rules of the (re-read) configuration, or keep the old ones."""
        audit = self.audit
        try:
            config = load_config(self.spec.config_path) if self.spec.config_path else audit.config
            rules = build_rules(audit, config)
        except Exception as exc:  # any failure leaves the running rules untouched
            self.reloads_refused += 1
            log.error(
                "worker %d: reload refused, keeping the %d identifiers loaded before: %s",
                self.spec.index,
                len(audit.specs),
                exc,
            )
            self.outbox.put(("reload", self.spec.index, {"ok": False, "error": str(exc)}))
            return
        rules.apply(audit)
        log.warning("worker %d: reloaded, %d identifiers active", self.spec.index, len(rules.specs))
        self.outbox.put(("reload", self.spec.index, {"ok": True, "identifiers": len(rules.specs)}))

    def records(self) -> Iterator[CaptureRecord]:
        """Live records until SIGTERM; handles reloads and snapshots between ring blocks."""
        last = time.monotonic()
        while not self.flags.stop:
            for batch in self.capture.batches(POLL_SECONDS):
                yield from batch
            self.audit.release_alerts(None)  # alerts wait for evidence; live has no second pass
            if self.flags.reload:
                self.flags.reload = False
                self.reload()
            now = time.monotonic()
            if now - last >= SNAPSHOT_SECONDS:
                last = now
                self.outbox.put(("stats", self.spec.index, self.snapshot()))

    def run(self) -> None:
        audit = self.audit
        tune_for_pipeline()
        self.outbox.put(("ready", self.spec.index, {"identifiers": len(audit.specs)}))
        try:
            audit.process_records(self.records(), self.capture.name)
            audit.release_alerts(None)  # those of the flows flushed at the end
        finally:
            final = self.snapshot()
            self.capture.close()
            audit.inputs.append(
                {
                    "path": self.capture.name,
                    "packets": final["packets"],
                    "bytes": final["bytes"],
                    "kernel": {
                        "packets": final["kernel_packets"],
                        "drops": final["kernel_drops"],
                        "freezes": final["kernel_freezes"],
                    },
                }
            )
            audit.run(())  # no more inputs: closes the outputs and writes summary.json
            final["signalled"] = self.flags.stop
            self.outbox.put(("done", self.spec.index, final))


def worker_main(spec: WorkerSpec, outbox: Outbox) -> None:
    """Process entry point (forked by the supervisor)."""
    flags = _Flags()
    signal.signal(signal.SIGTERM, flags.on_stop)
    signal.signal(signal.SIGINT, flags.on_stop)
    signal.signal(signal.SIGHUP, flags.on_reload)
    try:
        worker = Worker(spec, outbox)
    except EgressError as exc:
        outbox.put(("failed", spec.index, {"error": str(exc)}))
    except Exception as exc:  # a bug: say so, with its type, rather than hang the supervisor
        outbox.put(
            ("failed", spec.index, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        )
        return
    worker.flags = flags
    try:
        worker.run()
    except Exception:
        log.exception(
            "worker %d: internal error in the pipeline (a bug: please report it)", spec.index
        )
        raise SystemExit(1) from None
