"""Run one audit in this process and print its timing as JSON: ``python -m bench.audit_run``.

The suites run it as a child process, so each run has a fresh interpreter and its own peak RSS.
``--block-bytes 0`` uses the per-packet path instead of the numpy batch path; ``--stages`` wraps
the stage boundaries with timers (see ``bench.stages``) and reports the time spent in each
(``--stage-clock cpu``: CPU seconds of this process instead of wall time, for a shared machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sensor.audit import Audit
from sensor.config import EgressConfig, LimitsConfig
from sensor.decode.batch import BLOCK_BYTES
from sensor.memory_settings import tune_for_pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_run")
    parser.add_argument("capture", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--block-bytes", type=int, default=BLOCK_BYTES)
    parser.add_argument("--max-flows", type=int, default=0, help="0: the default limit")
    parser.add_argument("--stages", action="store_true")
    parser.add_argument(
        "--stage-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what the stage timers measure: wall time, or this process's CPU time",
    )
    args = parser.parse_args(argv)
    config = EgressConfig()
    if args.max_flows:
        config = EgressConfig(limits=LimitsConfig(max_flows=args.max_flows))
    started = time.perf_counter()
    audit = Audit(config, args.out)
    audit.batch = args.block_bytes
    setup = time.perf_counter() - started
    timers = None
    if args.stages:
        from bench.stages import StageTimers

        timers = StageTimers(time.process_time if args.stage_clock == "cpu" else time.perf_counter)
        timers.install(audit)
    tune_for_pipeline()  # as `egress audit` does
    started, cpu = time.perf_counter(), time.process_time()
    summary = audit.run([args.capture])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    result = {
        "setup_seconds": setup,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "counts": summary["counts"],
        "bytes": summary["inputs"][0]["bytes_read"],
        "evicted": summary["anomalies"].get("flows.evicted", {}).get("count", 0),
    }
    if timers is not None:
        timers.uninstall()
        result["stages"] = timers.breakdown(cpu if args.stage_clock == "cpu" else seconds)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
