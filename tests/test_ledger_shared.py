"""Several processes writing one ledger (the live sensor's workers) count every person once."""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path

from sensor.compliance.ledger import Ledger

KEY_ID = "shared-test-key"


def _writer(path: Path, people: list[str], seed: int) -> None:
    ledger = Ledger(path, KEY_ID, persistent_key=True)
    rng = random.Random(seed)
    rng.shuffle(people)
    for n in range(0, len(people), 50):  # many small objects, as alerts arrive
        batch = people[n : n + 50]
        ledger.record(
            "acme", 2026, {"personal": batch}, ["total", "country:US"], object_id=f"w{seed}-{n}"
        )
    ledger.close()


def test_concurrent_writers_count_the_union_exactly(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path, KEY_ID, persistent_key=True).close()  # created once, as the first worker does
    everyone = [f"{i:032x}" for i in range(6000)]
    # three workers: overlapping thirds, so about half the people are seen by two of them
    shares = [everyone[0:3000], everyone[1500:4500], everyone[3000:6000] + everyone[0:1000]]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(path, s, i)) for i, s in enumerate(shares)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    ledger = Ledger(path, KEY_ID, persistent_key=True)
    assert ledger.counts("acme", 2026)["personal"] == len(everyone)
    assert ledger.counts("acme", 2026, "country:US")["personal"] == len(everyone)
    ledger.close()
