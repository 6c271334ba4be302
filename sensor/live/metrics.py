"""Prometheus ``/metrics`` and a ``/healthz`` endpoint for the live sensor.

Workers are separate processes, so they do not share a prometheus-client registry: each sends a
snapshot of its counters to the supervisor once a second and this collector renders the latest
snapshot of every worker with a ``worker`` label. Counters therefore lag by at most a second.
The server binds 127.0.0.1 by default; expose it deliberately (``live.metrics_address``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# snapshot key -> (metric name, help, is counter)
_SERIES = (
    ("packets", "egress_packets", "frames handed to the pipeline", True),
    ("bytes", "egress_bytes", "captured bytes handed to the pipeline", True),
    ("kernel_packets", "egress_kernel_packets", "frames the kernel queued (incl. drops)", True),
    ("kernel_drops", "egress_kernel_drops", "frames the kernel dropped: ring full", True),
    ("kernel_freezes", "egress_kernel_freezes", "times the ring queue froze", True),
    ("internal_drops", "egress_internal_drops", "data the pipeline dropped or cut", True),
    ("active_flows", "egress_active_flows", "flows tracked now", False),
    (
        "reassembly_bytes",
        "egress_reassembly_bytes",
        "out-of-order bytes held for reassembly",
        False,
    ),
    ("flows", "egress_flows", "flows seen", True),
    ("objects", "egress_objects", "objects inspected", True),
    ("findings", "egress_findings", "findings in alerts", True),
    ("alerts", "egress_alerts", "alerts written", True),
    ("identifiers", "egress_identifiers_active", "identifiers in the active signatures", False),
    ("reloads_refused", "egress_reloads_refused", "SIGHUP reloads refused", True),
)


class SensorCollector(Collector):
    """Renders the supervisor's latest per-worker snapshots."""

    def __init__(
        self,
        snapshots: dict[int, dict[str, Any]],
        queue_size: Callable[[], int],
        spools: Callable[[], list[tuple[int, int, float]]] = list,
    ) -> None:
        self.snapshots = snapshots
        self.queue_size = queue_size
        self.spools = spools  # (records, bytes, age of the oldest) of each output spool

    def collect(self) -> Iterator[Metric]:
        snaps = sorted(self.snapshots.items())
        for key, name, text, counter in _SERIES:
            family: CounterMetricFamily | GaugeMetricFamily
            if counter:
                family = CounterMetricFamily(name, text, labels=["worker"])
            else:
                family = GaugeMetricFamily(name, text, labels=["worker"])
            for worker, snap in snaps:
                family.add_metric([str(worker)], float(snap.get(key, 0)))
            yield family
        anomalies = CounterMetricFamily(
            "egress_anomalies", "anomalies by name", labels=["worker", "name"]
        )
        for worker, snap in snaps:
            for anomaly, count in snap.get("anomalies", {}).items():
                anomalies.add_metric([str(worker), anomaly], float(count))
        yield anomalies
        queue = GaugeMetricFamily(
            "egress_output_queue", "worker messages waiting for the single writer"
        )
        queue.add_metric([], float(self.queue_size()))
        yield queue
        spooled = self.spools()
        for name, text, column in (
            ("egress_spool_records", "records waiting in the Kafka spool", 0),
            ("egress_spool_bytes", "bytes waiting in the Kafka spool", 1),
            ("egress_spool_oldest_seconds", "age of the oldest spooled record", 2),
        ):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(sum(s[column] for s in spooled)) if column < 2 else
                             max((s[2] for s in spooled), default=0.0))  # fmt: skip
            yield gauge


class MetricsServer:
    """``/metrics`` (Prometheus text format) and ``/healthz`` (JSON, 200 or 503) on a thread."""

    def __init__(
        self,
        address: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], tuple[bool, dict[str, Any]]],
    ) -> None:
        self.registry = registry
        self.health = health
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    body = generate_latest(outer.registry)
                    self._send(200, CONTENT_TYPE_LATEST, body)
                elif self.path.split("?")[0] in ("/healthz", "/health"):
                    ok, detail = outer.health()
                    body = json.dumps(detail).encode() + b"\n"
                    self._send(200 if ok else 503, "application/json", body)
                else:
                    self._send(404, "text/plain", b"try /metrics or /healthz\n")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the log

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self.address = f"http://{address}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def worker_health(
    snapshots: dict[int, dict[str, Any]], alive: dict[int, bool], max_age: float
) -> tuple[bool, dict[str, Any]]:
    """Healthy when every worker process is alive and reported within ``max_age`` seconds."""
    now = time.time()
    workers = {
        str(w): {
            "alive": alive.get(w, False),
            "last_report_age": round(now - snapshots[w]["time"], 3) if w in snapshots else None,
        }
        for w in sorted(alive)
    }
    ok = bool(workers) and all(
        v["alive"] and v["last_report_age"] is not None and v["last_report_age"] <= max_age
        for v in workers.values()
    )
    return ok, {"status": "ok" if ok else "unhealthy", "workers": workers}
