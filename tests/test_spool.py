"""The on-disk spool: FIFO order, durability across reopen, torn writes, full-spool policies."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sensor.outputs.spool import HEADER_BYTES, MAGIC, Spool, SpoolError


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def payloads(spool: Spool) -> list[bytes]:
    return [e.payload for e in spool.peek(10_000)]


def test_fifo_acknowledge_and_stats(tmp_path: Path) -> None:
    clock = FakeClock()
    with Spool(tmp_path / "s", clock=clock) as spool:
        for i in range(5):
            assert spool.append(b"r%d" % i)
            clock.now += 10
        window = spool.peek(3)
        assert [e.payload for e in window] == [b"r0", b"r1", b"r2"]
        assert [e.seq for e in window] == [0, 1, 2]
        stats = spool.stats()
        assert stats.records == 5
        assert stats.bytes == 5 * (HEADER_BYTES + 2)
        assert stats.oldest_age_s == 50.0  # r0 was written 50 fake seconds ago
        assert spool.acknowledge(window[-1].seq) == 3
        assert payloads(spool) == [b"r3", b"r4"]
        stats = spool.stats()
        assert (stats.records, stats.acknowledged, stats.appended) == (2, 3, 5)
        assert stats.oldest_age_s == 20.0


def test_unacknowledged_records_survive_reopen_in_order(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    with Spool(directory, segment_bytes=200) as spool:  # several segments
        for i in range(40):
            spool.append(b"record-%03d" % i)
        spool.acknowledge(spool.peek(15)[-1].seq)
        assert spool.stats().segments > 2
    with Spool(directory, segment_bytes=200) as again:
        assert payloads(again) == [b"record-%03d" % i for i in range(15, 40)]
        assert again.stats().recovered == 25
        again.append(b"new")  # sequence numbers continue after the old ones
        entries = again.peek(100)
        assert entries[-1].payload == b"new"
        assert entries[-1].seq == 40
        again.acknowledge(entries[-1].seq)
        assert len(again) == 0
    # fully acknowledged segments are deleted; only the current one may remain
    assert len(list(directory.glob("seg-*.log"))) <= 1
    with Spool(directory) as empty:
        assert len(empty) == 0


def test_torn_tail_is_truncated_and_counted(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    with Spool(directory) as spool:
        for i in range(3):
            spool.append(b"whole-%d" % i)
    (segment,) = directory.glob("seg-*.log")
    whole = segment.stat().st_size
    with segment.open("ab") as f:  # a crash in the middle of writing a fourth frame
        f.write(b"\x00\x00\x00\x10\x12\x34")
    with Spool(directory) as spool:
        assert payloads(spool) == [b"whole-0", b"whole-1", b"whole-2"]
        assert spool.stats().torn_tail_bytes == 6
        assert segment.stat().st_size == whole
        spool.append(b"after")
        assert payloads(spool)[-1] == b"after"


def test_corrupt_frame_in_an_older_segment_is_counted(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    with Spool(directory, segment_bytes=len(MAGIC) + 2 * (HEADER_BYTES + 8)) as spool:
        for i in range(6):
            spool.append(b"frame-%02d" % i)
    first = sorted(directory.glob("seg-*.log"))[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 0xFF  # flip a payload byte of the second frame: CRC mismatch
    first.write_bytes(bytes(data))
    with Spool(directory) as spool:
        assert payloads(spool) == [b"frame-%02d" % i for i in (0, 2, 3, 4, 5)]
        assert spool.stats().corrupt_frames == 1


def test_drop_newest_refuses_and_counts(tmp_path: Path) -> None:
    size = HEADER_BYTES + 4
    with Spool(tmp_path / "s", max_bytes=3 * size, when_full="drop_newest") as spool:
        results = [spool.append(b"n%03d" % i) for i in range(5)]
        assert results == [True, True, True, False, False]
        assert payloads(spool) == [b"n000", b"n001", b"n002"]
        assert spool.stats().dropped_newest == 2


def test_drop_oldest_keeps_the_newest_and_counts(tmp_path: Path) -> None:
    size = HEADER_BYTES + 4
    directory = tmp_path / "s"
    with Spool(directory, max_bytes=3 * size, when_full="drop_oldest") as spool:
        assert all(spool.append(b"o%03d" % i) for i in range(5))
        assert payloads(spool) == [b"o002", b"o003", b"o004"]
        stats = spool.stats()
        assert (stats.dropped_oldest, stats.records, stats.bytes) == (2, 3, 3 * size)
    with Spool(directory, max_bytes=3 * size) as again:  # the drop is durable too
        assert payloads(again) == [b"o002", b"o003", b"o004"]


def test_block_waits_for_room_then_times_out(tmp_path: Path) -> None:
    size = HEADER_BYTES + 4
    with Spool(tmp_path / "s", max_bytes=2 * size, when_full="block", block_timeout_s=30) as spool:
        spool.append(b"b000")
        spool.append(b"b001")
        done: list[bool] = []
        writer = threading.Thread(target=lambda: done.append(spool.append(b"b002")))
        writer.start()
        assert spool.wait_empty(0.3) is False  # nobody acknowledges: the writer is waiting
        assert done == []
        spool.acknowledge(spool.peek(1)[0].seq)  # room for one
        writer.join(10)
        assert done == [True]
        assert payloads(spool) == [b"b001", b"b002"]
        assert spool.stats().blocked_writes == 1
    with Spool(tmp_path / "t", max_bytes=size, when_full="block", block_timeout_s=0.05) as spool:
        assert spool.append(b"t000")
        assert not spool.append(b"t001")  # nothing drains it: dropped after the timeout
        stats = spool.stats()
        assert (stats.blocked_writes, stats.dropped_block_timeout) == (1, 1)


def test_record_larger_than_the_spool_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path / "s", max_bytes=4096) as spool:
        assert not spool.append(b"x" * 5000)
        assert spool.stats().dropped_too_large == 1
        assert len(spool) == 0


def test_one_process_per_spool_and_private_files(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    with Spool(directory) as spool:
        spool.append(b"secret-ish")
        with pytest.raises(SpoolError, match="in use by another egress process"):
            Spool(directory)
        (segment,) = directory.glob("seg-*.log")
        assert segment.stat().st_mode & 0o077 == 0
        assert directory.stat().st_mode & 0o077 == 0
    Spool(directory).close()  # released on close


def test_closed_spool_refuses_use(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.append(b"late")


@pytest.mark.parametrize("policy", ["always", "never"])
def test_fsync_policies_write_the_same_frames(tmp_path: Path, policy: str) -> None:
    directory = tmp_path / policy
    with Spool(directory, fsync=policy) as spool:  # type: ignore[arg-type]
        for i in range(3):
            spool.append(b"f%d" % i)
    (segment,) = directory.glob("seg-*.log")
    assert segment.stat().st_size == len(MAGIC) + 3 * (HEADER_BYTES + 2)
    with Spool(directory) as spool:
        assert payloads(spool) == [b"f0", b"f1", b"f2"]
