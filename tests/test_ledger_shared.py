"""Several processes writing one ledger (the live sensor's workers) count every person once."""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any

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


def _open_at_once(path: Path, barrier: Any) -> None:
    barrier.wait()
    Ledger(path, KEY_ID, persistent_key=True).close()


def test_workers_opening_a_new_ledger_at_once_all_succeed(tmp_path: Path) -> None:
    """The live sensor's workers open one new ledger at the same moment. Switching a file to WAL
    needs it to itself and SQLite does not wait for that, so some opens failed with "database is
    locked" (measured: 5 of 20 rounds of 8 processes) until the switch was retried."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        path = tmp_path / f"ledger-{round_}.sqlite"
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier)) for _ in range(8)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        assert [proc.exitcode for proc in procs] == [0] * 8, f"round {round_}"
