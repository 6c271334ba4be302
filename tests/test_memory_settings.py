"""The allocator setting of sensor/memory_settings.py: freed blocks of a few megabytes stay in the
process for the next object instead of being returned to the kernel and faulted back in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Page faults taken by an object's worth of arrays (eight of 4 MiB, touched), after the arrays
# of two earlier objects were freed.
_PROBE = """
import resource, numpy as np
from sensor.memory_settings import keep_freed_memory
took = keep_freed_memory()
for _ in range(2):
    arrays = [np.ones(1 << 19) for _ in range(8)]
    del arrays
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
arrays = [np.ones(1 << 19) for _ in range(8)]
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(tuning: str) -> tuple[bool, int]:
    env = {**os.environ, "EGRESS_MALLOC_TUNING": tuning}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_blocks_are_reused_without_page_faults() -> None:
    took, faults = _probe("1")
    off, faults_off = _probe("0")
    assert took and not off
    assert faults_off >= 2000  # 8,192 pages of 4 KiB: about half faulted back in (4,072 seen)
    assert faults < 500  # the freed blocks were served again from the heap
