"""The ``egress sensor`` parent process: starts the workers, owns every single-writer output.

Workers (``worker.py``) share the interfaces through a ``PACKET_FANOUT`` hash group, so each sees
whole flows and writes its own ``OUT/worker-N/`` files. What must be exact or ordered across workers
goes through this process, the only writer: every alert and flow record arrives here on one queue
and is handed, in arrival order, to each :class:`~sensor.outputs.sinks.RecordSink`: the merged
``OUT/alerts.jsonl``, the sinks of the ``outputs`` configuration (stdout, rotating JSON lines,
Kafka) and any passed in. The per-processor ledger of the compliance issue plugs in here as one
more sink, so counting people once per year never needs a merge of per-worker ledgers. The queue is unbounded and never drops: a worker that cannot
hand over is slowed, its ring fills, and the kernel counts the drops (docs/live-sensor.md).

It also serves the metrics, logs the startup summary and a periodic stats line, forwards SIGHUP
(reload) and SIGTERM (flush and stop) to the workers, and writes ``OUT/sensor-summary.json``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import signal
import socket
import time
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry

from sensor.capture.afpacket import CaptureSetupError, compile_bpf
from sensor.compliance.identity import key_file, write_identity_key
from sensor.config import EgressConfig
from sensor.live.metrics import MetricsServer, SensorCollector, worker_health
from sensor.live.worker import SNAPSHOT_SECONDS, WorkerSpec, worker_main
from sensor.outputs.alerts import JsonlWriter
from sensor.outputs.sinks import RecordSink, build_sinks, close_sinks

log = logging.getLogger("sensor.live")

READY_TIMEOUT = 120.0  # seconds for every worker to load signatures and open its ring
STOP_TIMEOUT = 60.0  # seconds for workers to flush after SIGTERM before they are killed
_TOTALS = (
    "packets",
    "bytes",
    "kernel_packets",
    "kernel_drops",
    "kernel_freezes",
    "internal_drops",
    "active_flows",
    "objects",
    "findings",
    "alerts",
)


class MergedAlerts:
    """``OUT/alerts.jsonl``: the alerts of all workers in one file, written by one process."""

    def __init__(self, path: Path) -> None:
        self._writer = JsonlWriter(path)

    def write(self, record: dict[str, Any]) -> None:
        if record.get("record_type") == "alert":
            self._writer.write(record)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._writer.close()


def preflight(interfaces: tuple[str, ...], bpf: str) -> int:
    """Fail before forking, with one line, on what every worker would fail on."""
    if not interfaces:
        raise CaptureSetupError("name at least one interface: --interface IF or live.interfaces")
    for name in interfaces:
        try:
            socket.if_nametoindex(name)
        except OSError:
            raise CaptureSetupError(
                f"no network interface named {name!r}; see `ip link` for the names"
            ) from None
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        raise CaptureSetupError(
            "live capture needs root or the CAP_NET_RAW capability (and CAP_NET_ADMIN for "
            "promiscuous mode); run as root or grant them (see deploy/egress-sensor.service)"
        ) from None
    return len(compile_bpf(bpf)) if bpf else 0


def shared_identity_key(config: EgressConfig, out_dir: Path) -> EgressConfig:
    """Workers share one ledger, so they must hash people with one key: without a configured key,
    one is kept in ``OUT/identity.key`` (0600) and reused by later runs of the sensor."""
    if key_file(config.detection.identity_key_file) is not None:
        return config
    path = out_dir / "identity.key"
    if not path.exists():
        write_identity_key(path)
    detection = config.detection.model_copy(update={"identity_key_file": path})
    return config.model_copy(update={"detection": detection})


class Supervisor:
    def __init__(
        self,
        config: EgressConfig,
        config_path: Path | None,
        sinks: list[RecordSink] | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.live = config.live
        self.out_dir = self.live.out_dir
        self.sinks = sinks
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.alive: dict[int, bool] = {}
        self.done: dict[int, dict[str, Any]] = {}
        self._stop = False
        self._reload = False
        self.failed = False  # a worker died: exit 1 so systemd/Kubernetes restart the sensor
        self._sinks: list[RecordSink] = []

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self._reload = True

    def run(self) -> int:
        live = self.live
        bpf_size = preflight(live.interfaces, live.bpf)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.config = shared_identity_key(self.config, self.out_dir)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        ctx = multiprocessing.get_context("fork")  # before any thread starts: fork is safe here
        inbox: multiprocessing.Queue[tuple[str, int, Any]] = ctx.Queue()
        procs = []
        for index in range(live.workers):
            spec = WorkerSpec(
                index, live.interfaces, self.config, self.config_path, self.out_dir,
                fanout=live.workers > 1,
            )  # fmt: skip
            proc = ctx.Process(
                target=worker_main, args=(spec, inbox), name=f"egress-worker-{index}"
            )
            proc.start()
            procs.append(proc)
            self.alive[index] = True
        sinks: list[RecordSink] = [MergedAlerts(self.out_dir / "alerts.jsonl")]
        self._sinks = sinks  # the metrics read the Kafka spool's size from them
        try:
            sinks += build_sinks(self.config.outputs, observer=self.config.sensor_id)
            sinks += self.sinks or []
            identifiers = self._wait_ready(inbox, procs)
            server = self._start_metrics(inbox)
            ring = live.ring
            log.info(
                "egress sensor: capturing on %s with %d worker(s)%s; ring %d x %d KiB per socket "
                "(%d MiB), block timeout %d ms; promiscuous %s; BPF %s; %d identifiers; "
                "case folder %s; metrics %s",
                ",".join(live.interfaces),
                live.workers,
                f" (fan-out hash, group {live.fanout_group})" if live.workers > 1 else "",
                ring.block_count,
                ring.block_size // 1024,
                ring.block_count * ring.block_size >> 20,
                ring.block_timeout_ms,
                "on" if live.promiscuous else "off",
                f"{live.bpf!r} ({bpf_size} instructions)" if live.bpf else "none",
                identifiers,
                self.out_dir,
                f"{server.address}/metrics" if server else "off",
            )
            self._loop(inbox, procs, sinks)
            if server is not None:
                server.stop()
        finally:
            close_sinks(sinks, log.info)
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                proc.join()
        self._write_summary()
        return 1 if self.failed else 0

    def _wait_ready(
        self, inbox: multiprocessing.Queue[tuple[str, int, Any]], procs: list[Any]
    ) -> int:
        ready: dict[int, int] = {}
        deadline = time.monotonic() + READY_TIMEOUT
        while len(ready) < len(procs):
            if self._stop:
                raise CaptureSetupError("stopped by a signal while the workers were starting")
            if time.monotonic() > deadline:
                raise CaptureSetupError("workers did not start in time; see the log above")
            try:
                kind, worker, payload = inbox.get(timeout=0.5)
            except queue.Empty:
                for i, proc in enumerate(procs):
                    if not proc.is_alive() and i not in ready:
                        raise CaptureSetupError(f"worker {i} exited while starting") from None
                continue
            if kind == "failed":
                raise CaptureSetupError(f"worker {worker}: {payload['error']}")
            if kind == "ready":
                ready[worker] = int(payload["identifiers"])
                self.snapshots[worker] = {"identifiers": ready[worker], "time": time.time()}
        return min(ready.values())

    def _spools(self) -> list[tuple[int, int, float]]:
        """(records, bytes, oldest age) of every Kafka sink's spool, for /metrics."""
        out = []
        for sink in self._sinks:
            spool = getattr(sink, "spool", None)
            if spool is not None:
                stats = spool.stats()
                out.append((stats.records, stats.bytes, stats.oldest_age_s))
        return out

    def _start_metrics(
        self, inbox: multiprocessing.Queue[tuple[str, int, Any]]
    ) -> MetricsServer | None:
        if self.live.metrics_port == 0:
            return None
        registry = CollectorRegistry()
        registry.register(SensorCollector(self.snapshots, inbox.qsize, self._spools))
        max_age = max(5.0, 5 * SNAPSHOT_SECONDS)
        try:
            server = MetricsServer(
                self.live.metrics_address,
                self.live.metrics_port,
                registry,
                lambda: worker_health(self.snapshots, self.alive, max_age),
            )
        except OSError as exc:
            raise CaptureSetupError(
                f"cannot serve metrics on {self.live.metrics_address}:{self.live.metrics_port}: "
                f"{exc.strerror}; choose another live.metrics_port or 0 to turn it off"
            ) from None
        server.start()
        return server

    def _loop(
        self,
        inbox: multiprocessing.Queue[tuple[str, int, Any]],
        procs: list[Any],
        sinks: list[RecordSink],
    ) -> None:
        next_stats = time.monotonic() + self.live.stats_interval
        stopping_since: float | None = None
        while len(self.done) < len(procs):
            if self._reload:
                self._reload = False
                log.info("egress sensor: SIGHUP, reloading signatures in every worker")
                self._signal_workers(procs, signal.SIGHUP)
            if self._stop and stopping_since is None:
                stopping_since = time.monotonic()
                log.info("egress sensor: stopping, flushing flows and outputs")
                self._signal_workers(procs, signal.SIGTERM)
            if stopping_since is not None and time.monotonic() - stopping_since > STOP_TIMEOUT:
                log.error("egress sensor: workers did not finish flushing in time; killing them")
                break
            try:
                kind, worker, payload = inbox.get(timeout=0.2)
            except queue.Empty:
                pass
            else:
                self._handle(kind, worker, payload, sinks)
            self._check_workers(procs)
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + self.live.stats_interval
                log.info("egress sensor: stats %s", self._stats_line())
        log.info("egress sensor: stopped; %s", self._stats_line())

    def _handle(self, kind: str, worker: int, payload: Any, sinks: list[RecordSink]) -> None:
        if kind == "record":
            for sink in sinks:
                sink.write(payload)
        elif kind == "stats":
            self.snapshots[worker] = payload
        elif kind == "done":
            if not self._stop and not payload.get("signalled"):  # its pipeline failed (logged)
                log.error(
                    "egress sensor: worker %d stopped unexpectedly; stopping the sensor", worker
                )
                self.failed = True
                self._stop = True
            self.snapshots[worker] = payload
            self.done[worker] = payload
            self.alive[worker] = False
        elif kind == "reload" and payload["ok"]:
            log.info("egress sensor: worker %d reloaded", worker)

    def _check_workers(self, procs: list[Any]) -> None:
        for index, proc in enumerate(procs):
            if index not in self.done and not proc.is_alive() and self.alive.get(index):
                self.alive[index] = False
                self.done[index] = self.snapshots.get(index, {})
                log.error(
                    "egress sensor: worker %d died (exit code %s); its open flows are lost; "
                    "stopping the others so the service manager restarts the sensor",
                    index,
                    proc.exitcode,
                )
                self.failed = True
                self._stop = True

    @staticmethod
    def _signal_workers(procs: list[Any], signum: int) -> None:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signum)

    def totals(self) -> dict[str, int]:
        return {key: sum(int(s.get(key, 0)) for s in self.snapshots.values()) for key in _TOTALS}

    def _stats_line(self) -> str:
        alive = sum(self.alive.values())
        text = " ".join(f"{k}={v}" for k, v in self.totals().items())
        return f"{text} workers={alive}/{len(self.alive)}"

    def _write_summary(self) -> None:
        summary = {
            "record_type": "sensor_summary",
            "interfaces": list(self.live.interfaces),
            "workers": {str(w): s for w, s in sorted(self.snapshots.items())},
            "totals": self.totals(),
        }
        (self.out_dir / "sensor-summary.json").write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
