"""Timing helpers shared by the suites: child processes with their own peak RSS, medians, load.

Every figure is the median of several runs, and the one-minute load average is recorded next to
it: on a shared machine a figure taken under load is a lower bound, and the reader must see that.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def loadavg() -> float:
    """The one-minute load average (0.0 where /proc is missing)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Run:
    seconds: float  # wall clock
    max_rss_mb: float = 0.0
    load: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # user + system CPU time: less disturbed by other load than wall


@dataclass
class Figure:
    """Runs of one measurement and their medians."""

    name: str
    runs: list[Run]

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def max_rss_mb(self) -> float:
        return statistics.median(r.max_rss_mb for r in self.runs)

    @property
    def load(self) -> float:
        return statistics.median(r.load for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median_seconds": round(self.seconds, 4),
            "median_cpu_seconds": round(self.cpu_seconds, 4),
            "median_max_rss_mb": round(self.max_rss_mb, 1),
            "median_load": round(self.load, 2),
            "runs": [asdict(r) for r in self.runs],
        }


def run_process(cmd: Sequence[str], out: Path | None = None, cwd: Path | None = None) -> Run:
    """Run ``cmd`` to completion; wall time and the child's own peak RSS (``wait4``)."""
    load = loadavg()
    sink = out.open("wb") if out is not None else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    finally:
        if out is not None and not isinstance(sink, int):
            sink.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr.strip()[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, max(load, loadavg()), cpu_seconds=cpu)


def repeat(name: str, runs: int, once: Callable[[], Run]) -> Figure:
    return Figure(name, [once() for _ in range(runs)])


def timed(fn: Callable[[], Any]) -> Run:
    """Time an in-process call; its return value (a dict, if any) goes to ``extra``."""
    load = loadavg()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    extra = result if isinstance(result, dict) else {}
    return Run(seconds, 0.0, max(load, loadavg()), extra, cpu_seconds=cpu)


def rate(nbytes: int, seconds: float) -> float:
    """MB/s (10^6 bytes per second), the unit of every throughput figure here."""
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")
