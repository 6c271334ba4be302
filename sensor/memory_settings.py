"""Memory settings for a process that runs the pipeline (``egress audit``, ``egress scan``, live
workers): the cyclic garbage collector and the C allocator.

**Garbage collector.** Flows, reassemblers and protocol parsers are freed by reference counting when
a flow closes (the flow table drops the flow <-> handler link, and the parsers hold no reference
cycles), so the cyclic collector finds almost nothing. With CPython's default young-generation
threshold (700 allocations) it still ran a full collection every ~20,000 flows, and each one walked
every live object: with 100,000 flows in the table that was a third of the CPU time (measured on
150,000 connections with eviction: 14.8 of 41.0 CPU seconds in collections, 3.6 with these
settings; docs/performance.md). Raising the young threshold makes collections rarer without turning
the collector off, so a cycle somewhere is still freed; ``gc.freeze`` moves the start-up objects
(signatures, models, GeoIP, compiled code) out of every future collection.

**Allocator.** Detection works on whole objects with numpy arrays of a few megabytes each (match
offsets, values, row numbers). glibc serves such blocks with ``mmap`` and gives them back to the
kernel when they are freed, so the next object takes a page fault on every 4 KiB it touches again:
on the 10.2 MB dense CSV that was 20 ms of a 0.225 s inspection. With the mmap threshold at 32 MiB
and the trim threshold at 256 MiB, freed blocks stay in the heap for the next object (0.205 s;
peak RSS 159 -> 170 MB). Memory is still bounded by the object and flow limits; it is only not
handed back between objects. glibc only (``mallopt``); elsewhere, or with
``EGRESS_MALLOC_TUNING=0``, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

YOUNG_GENERATION_THRESHOLD = 50_000  # allocations between young collections (CPython: 700)
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc's own maximum)
TRIM_THRESHOLD = 256 << 20  # free memory at the heap top kept before it is returned
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def tune_for_pipeline() -> None:
    """Call once after start-up, before the capture is read."""
    keep_freed_memory()
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)


def keep_freed_memory() -> bool:
    """Keep freed blocks in the heap for the next object (see the module docstring); whether the
    allocator took the settings."""
    if os.environ.get("EGRESS_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
