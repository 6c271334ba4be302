"""Garbage-collector settings for a process that runs the pipeline (``egress audit``, live workers).

Flows, reassemblers and protocol parsers are freed by reference counting when a flow closes
(the flow table drops the flow <-> handler link, and the parsers hold no reference cycles), so
the cyclic collector finds almost nothing. With CPython's default young-generation threshold
(700 allocations) it still ran a full collection every ~20,000 flows, and each one walked every
live object: with 100,000 flows in the table that was a third of the CPU time (measured on 150,000
connections with eviction: 14.8 of 41.0 CPU seconds in collections, 3.6 with these settings;
docs/performance.md). Raising the young threshold makes collections rarer without turning the
collector off, so a cycle somewhere is still freed; ``gc.freeze`` moves the start-up objects
(signatures, models, GeoIP, compiled code) out of every future collection.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 50_000  # allocations between young collections (CPython: 700)


def tune_for_pipeline() -> None:
    """Call once after start-up, before the capture is read."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
