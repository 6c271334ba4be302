"""Stage breakdown of one audit: where the time goes, so a regression shows where it is.

The real pipeline runs unchanged; timers wrap the calls at each stage boundary (class attributes
patched for the duration of one run in a benchmark process, never in the product):

* flows: ``FlowTable.process``/``in_order``/``flush``/``advance``/``touch`` and the batch path's bulk
  accounting, minus the application handlers and flow records they call;
* application layer: ``AppLayerHandler.on_data``/``on_gap``/``on_close``, minus the object sink;
* detection: ``DetectionEngine.inspect``;
* policy and output: the rest of the object sink (GeoIP, policy, alert and object records) and
  the flow records (``Audit._on_flow_end``);
* decode: everything else in the run: reading the capture, header parsing (numpy or per packet)
  and building segments.

Each stage's figure is capture bytes divided by the time spent in that stage. The timers cost
about half a microsecond a call; ``calls`` in the result says how many there were.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from detectors.engine import DetectionEngine
from sensor.app import AppLayerHandler
from sensor.audit import Audit
from sensor.decode.batch import BatchRunner
from sensor.flows.table import FlowTable

_WRAPPED: list[tuple[type, str, str]] = [
    (FlowTable, "process", "flows"),
    (FlowTable, "in_order", "flows"),
    (FlowTable, "flush", "flows"),
    (FlowTable, "advance", "flows"),
    (FlowTable, "touch", "flows"),
    (BatchRunner, "_apply_bulk", "flows"),
    (AppLayerHandler, "on_data", "handler"),
    (AppLayerHandler, "on_gap", "handler"),
    (AppLayerHandler, "on_close", "handler"),
    (Audit, "_on_object", "sink"),
    (Audit, "_on_flow_end", "flow_end"),
    (DetectionEngine, "inspect", "detection"),
]
STAGES = ("decode", "flows", "app", "detection", "policy_output")


class StageTimers:
    """Accumulates time per boundary while installed."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        """``clock``: wall time by default; ``time.thread_time`` gives CPU time, which other load
        on a shared machine disturbs less (``breakdown``'s total must then be CPU time too)."""
        self._clock = clock
        self.spent: dict[str, float] = {}
        self.calls = 0
        self._saved: list[tuple[type, str, Any]] = []

    def install(self, audit: Audit | None = None) -> None:
        for cls, name, bucket in _WRAPPED:
            original = cls.__dict__[name]
            self._saved.append((cls, name, original))
            setattr(cls, name, self._wrap(original, bucket))

    def uninstall(self) -> None:
        for cls, name, original in reversed(self._saved):
            setattr(cls, name, original)
        self._saved.clear()

    def _wrap(self, fn: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        spent = self.spent
        spent.setdefault(bucket, 0.0)
        clock = self._clock

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[bucket] += clock() - start

        return wrapper

    def breakdown(self, total: float) -> dict[str, float]:
        """Seconds per stage (see the module docstring); they add up to ``total``."""
        s = self.spent
        flows_all = s.get("flows", 0.0)
        handler = s.get("handler", 0.0)
        sink = s.get("sink", 0.0)
        flow_end = s.get("flow_end", 0.0)
        detection = s.get("detection", 0.0)
        return {
            "decode": total - flows_all,
            "flows": flows_all - handler - flow_end,
            "app": handler - sink,
            "detection": detection,
            "policy_output": sink - detection + flow_end,
            "calls": float(self.calls),
        }
