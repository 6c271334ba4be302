"""The issue's figure: decode + flow tracking + TCP reassembly, nothing above it.

``python -m bench.spine CAPTURE`` reads the capture with the product's reader, decoder, flow
table and reassemblers (the numpy batch path where the capture allows it, as ``egress audit``)
and hands every flow's streams to a minimal application handler that only counts the delivered
bytes and gaps. No protocol parser, no detection, no output: the figure is the cost of the
sensor's spine, not of what sits on it. It prints JSON: seconds (wall) and CPU seconds of the
work loop (imports and start-up excluded), bytes read, packets, flows, delivered and missed
stream bytes, and the process's peak RSS. The handler never discards a direction, so every
stream is rebuilt, TLS records included (an upper bound for "the cleartext streams": the
application layer discards TLS after the hellos, which the batch path then only counts).

Handlers (``--handler``):

* ``stream`` (default): a stream consumer that accepts coalesced delivery
  (``FlowHandler.coalesce``): a flow direction's in-order run of segments in one block arrives
  as one chunk. This is what a stream consumer (a hash, a stream writer) gets.
* ``strict``: the same counting without ``coalesce``: every segment's bytes are delivered on
  their own, in capture order, as the application layer receives them in ``egress audit``.

``--block-bytes 0`` uses the per-packet path. ``--profile FILE`` writes a cProfile of the loop.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from sensor.anomalies import AnomalyCounter
from sensor.capture import open_capture
from sensor.decode import batch
from sensor.decode.decoder import PacketDecoder
from sensor.flows.table import Direction, Flow, FlowTable


class Totals:
    """What the handlers of one run saw, summed over every flow."""

    def __init__(self) -> None:
        self.data_bytes = 0
        self.data_calls = 0
        self.gap_bytes = 0
        self.closed = 0


class StrictCounter:
    """Counts delivered bytes and gaps; every segment's bytes arrive on their own."""

    coalesce = False

    def __init__(self, totals: Totals) -> None:
        self.totals = totals

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None:
        totals = self.totals
        totals.data_bytes += len(data)
        totals.data_calls += 1

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None:
        self.totals.gap_bytes += length

    def on_close(self, flow: Flow) -> None:
        self.totals.closed += 1


class StreamCounter(StrictCounter):
    """The same, accepting a direction's in-order runs as one chunk (``coalesce``)."""

    coalesce = True


HANDLERS: dict[str, type[StrictCounter]] = {"stream": StreamCounter, "strict": StrictCounter}


def run(capture: Path, handler: str = "stream", block_bytes: int = batch.BLOCK_BYTES) -> Any:
    """One pass over ``capture``; the figures as a dict (see the module docstring)."""
    anomalies = AnomalyCounter()
    totals = Totals()
    kind = HANDLERS[handler]
    started, cpu = time.perf_counter(), time.process_time()
    reader = open_capture(capture, anomalies)
    table = FlowTable(lambda flow: kind(totals), anomalies)
    decoder = PacketDecoder(anomalies)
    stats: batch.BatchStats | None = None
    packets = 0
    if block_bytes and batch.supports(reader):
        stats = batch.BatchRunner(decoder, table, block_bytes).run(reader)
        packets = stats.records
    else:
        process = table.process
        for record in reader:
            packets += 1
            segment = decoder.decode(record)
            if segment is not None:
                process(segment)
    decoder.finish()
    table.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    read = reader.bytes_read
    reader.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": read,
        "packets": packets,
        "flows": table.flows_seen,
        "delivered_bytes": totals.data_bytes,
        "data_calls": totals.data_calls,
        "gap_bytes": totals.gap_bytes,
        "closed": totals.closed,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "batch": None if stats is None else vars(stats),
        "handler": handler,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("capture", type=Path)
    parser.add_argument("--handler", choices=sorted(HANDLERS), default="stream")
    parser.add_argument("--block-bytes", type=int, default=batch.BLOCK_BYTES)
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile here")
    args = parser.parse_args(argv)
    if args.profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(run, args.capture, args.handler, args.block_bytes)
        profiler.dump_stats(str(args.profile))
    else:
        result = run(args.capture, args.handler, args.block_bytes)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
