"""A bounded, durable on-disk spool: the write-ahead queue in front of the Kafka producer.

Every record bound for Kafka is appended here first and removed (acknowledged) only after the
broker confirmed it, so records survive a broker outage and a process restart, and records
produced while older ones wait queue behind them: the spool is one FIFO, which keeps the order
of every key.

Layout of the directory (created with mode 0700, files 0600):

* ``seg-<first sequence number, 20 digits>.log``: append-only segment files. Each starts with
  ``MAGIC`` and holds frames ``length:u32 crc32:u32 seq:u64 enqueued_at:f64 payload`` (big
  endian; the CRC covers seq, time and payload). A new segment starts when the current one would
  exceed ``segment_bytes``; a segment is deleted when every record in it is acknowledged.
* ``head``: the sequence number of the first unacknowledged record, replaced atomically
  (write + rename) on every acknowledgement.
* ``lock``: an exclusive ``flock`` so two processes never share one spool.

On open the segments are scanned: a frame cut short or with a bad CRC at the end of the last
segment is a torn write from a crash and is truncated away (``torn_tail_bytes``); a bad frame
elsewhere ends that segment's scan (``corrupt_frames``). Records below ``head`` are skipped.

fsync policy (``fsync``): ``always`` syncs every append (a power cut loses nothing appended);
``interval`` (default) syncs appends at most ``fsync_interval_s`` after they were made (on the
next append, or from ``sync_if_due`` while idle), on segment roll and on close (a power cut can
lose that interval; a process crash loses nothing, the data is in the page cache); ``never`` leaves it to the OS. ``head`` is synced with the same
policy: if it lags behind after a crash, acknowledged records are sent again (duplicates, never
loss).

When the spool holds ``max_bytes`` (frames of unacknowledged records; the disk also holds up to
one segment of acknowledged ones) the ``when_full`` policy applies and is counted:
``drop_oldest`` acknowledges the oldest records unsent, ``drop_newest`` refuses the new one,
``block`` makes the writer wait up to ``block_timeout_s`` for room and then refuses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sensor.errors import EgressError

log = logging.getLogger(__name__)

WhenFull = Literal["drop_oldest", "drop_newest", "block"]
FsyncPolicy = Literal["always", "interval", "never"]

MAGIC = b"EGSPOOL1"
_HEADER = struct.Struct(">IIQd")  # payload length, crc32, sequence number, enqueue time (epoch s)
HEADER_BYTES = _HEADER.size
#: A frame claiming more than this is corruption, not a record (Kafka's own default limit is 1 MB).
MAX_PAYLOAD_BYTES = 64 << 20


class SpoolError(EgressError):
    """The spool directory cannot be used (in use by another process, unreadable, ...)."""


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    enqueued_at: float
    payload: bytes


@dataclass(slots=True)
class _Meta:
    seq: int
    segment: int
    offset: int  # of the frame header
    size: int  # header + payload
    enqueued_at: float


@dataclass(slots=True)
class _Segment:
    first_seq: int
    path: Path
    size: int
    last_seq: int  # -1 while empty


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Counters and gauges; ``as_dict`` feeds logs, the CLI and the tests."""

    records: int
    bytes: int
    oldest_age_s: float
    segments: int
    appended: int
    acknowledged: int
    dropped_oldest: int
    dropped_newest: int
    dropped_block_timeout: int
    dropped_too_large: int
    blocked_writes: int
    write_errors: int
    corrupt_frames: int
    torn_tail_bytes: int
    recovered: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def dropped(self) -> int:
        return (
            self.dropped_oldest
            + self.dropped_newest
            + self.dropped_block_timeout
            + self.dropped_too_large
        )


def _crc(seq: int, enqueued_at: float, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack(">Qd", seq, enqueued_at)))


def _segment_name(first_seq: int) -> str:
    return f"seg-{first_seq:020d}.log"


class Spool:
    """FIFO of byte payloads on disk; thread-safe (writers ``append``, one reader ``peek``/``acknowledge``)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 256 << 20,
        segment_bytes: int = 8 << 20,
        when_full: WhenFull = "drop_oldest",
        block_timeout_s: float = 30.0,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < HEADER_BYTES + 1 or segment_bytes < len(MAGIC) + HEADER_BYTES + 1:
            raise SpoolError("spool max_bytes and segment_bytes are too small to hold a record")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.when_full = when_full
        self.block_timeout_s = block_timeout_s
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._entries: deque[_Meta] = deque()
        self._segments: dict[int, _Segment] = {}
        self._read_fds: dict[int, int] = {}
        self._bytes = 0
        self._head = 0
        self._next_seq = 0
        self._write_fd: int | None = None
        self._write_segment: _Segment | None = None
        self._last_sync = clock()
        self._dirty = False  # appended since the last fsync
        self._closed = False
        self._counts = dict.fromkeys(
            (
                "appended",
                "acknowledged",
                "dropped_oldest",
                "dropped_newest",
                "dropped_block_timeout",
                "dropped_too_large",
                "blocked_writes",
                "write_errors",
                "corrupt_frames",
                "torn_tail_bytes",
                "recovered",
            ),
            0,
        )
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot use spool directory {directory}: {exc.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SpoolError(
                f"spool directory {directory} is in use by another egress process; "
                "give each sensor its own outputs.kafka.spool.directory"
            ) from None
        self._recover()

    # -- opening ---------------------------------------------------------------------------

    def _recover(self) -> None:
        head_file = self.directory / "head"
        with contextlib.suppress(FileNotFoundError, ValueError):
            self._head = int(head_file.read_text().strip() or 0)
        self._next_seq = self._head
        paths = sorted(self.directory.glob("seg-*.log"))
        for index, path in enumerate(paths):
            try:
                first = int(path.stem[4:])
            except ValueError:
                continue
            self._scan_segment(first, path, last=index == len(paths) - 1)
        for first in [s for s, seg in self._segments.items() if seg.last_seq < self._head]:
            if self._segments[first].last_seq >= 0 or first < self._head:
                self._delete_segment(first)
        self._counts["recovered"] = len(self._entries)
        if self._entries:
            log.info(
                "spool %s: %d records from an earlier run to replay",
                self.directory,
                len(self._entries),
            )

    def _scan_segment(self, first: int, path: Path, *, last: bool) -> None:
        data = path.read_bytes()
        segment = _Segment(first, path, len(data), -1)
        self._segments[first] = segment
        if not data.startswith(MAGIC):
            if last and MAGIC.startswith(data):  # crashed while creating it
                self._truncate(path, 0, len(data))
                segment.size = 0
                return
            self._counts["corrupt_frames"] += 1
            log.warning("spool %s: %s is not a spool segment; skipped", self.directory, path.name)
            return
        offset = len(MAGIC)
        while offset < len(data):
            frame = self._parse_frame(data, offset)
            if frame is None:
                if last:
                    self._truncate(path, offset, len(data) - offset)
                    segment.size = offset
                else:
                    self._counts["corrupt_frames"] += 1
                    log.warning(
                        "spool %s: bad frame in %s at byte %d; rest of the segment skipped",
                        self.directory,
                        path.name,
                        offset,
                    )
                return
            seq, enqueued_at, size = frame
            segment.last_seq = seq
            self._next_seq = max(self._next_seq, seq + 1)
            if seq >= self._head:
                self._entries.append(_Meta(seq, first, offset, size, enqueued_at))
                self._bytes += size
            offset += size

    @staticmethod
    def _parse_frame(data: bytes, offset: int) -> tuple[int, float, int] | None:
        if offset + HEADER_BYTES > len(data):
            return None
        length, crc, seq, enqueued_at = _HEADER.unpack_from(data, offset)
        end = offset + HEADER_BYTES + length
        if length > MAX_PAYLOAD_BYTES or end > len(data):
            return None
        if _crc(seq, enqueued_at, data[offset + HEADER_BYTES : end]) != crc:
            return None
        return seq, enqueued_at, HEADER_BYTES + length

    def _truncate(self, path: Path, offset: int, lost: int) -> None:
        log.warning(
            "spool %s: %d bytes of a torn write at the end of %s removed",
            self.directory,
            lost,
            path.name,
        )
        self._counts["torn_tail_bytes"] += lost
        with path.open("r+b") as f:
            f.truncate(offset)

    # -- writing ---------------------------------------------------------------------------

    def append(self, payload: bytes) -> bool:
        """Store ``payload`` at the tail; False if the full-spool policy refused it (counted)."""
        size = HEADER_BYTES + len(payload)
        with self._lock:
            self._check_open()
            if size > self.max_bytes or len(payload) > MAX_PAYLOAD_BYTES:
                self._counts["dropped_too_large"] += 1
                return False
            if self._bytes + size > self.max_bytes and not self._make_room(size):
                return False
            return self._write(payload, size)

    def _make_room(self, size: int) -> bool:
        """Apply ``when_full``; called with the lock held. True when the record may be written."""
        if self.when_full == "drop_newest":
            self._counts["dropped_newest"] += 1
            return False
        if self.when_full == "drop_oldest":
            dropped = 0
            while self._entries and self._bytes + size > self.max_bytes:
                meta = self._entries.popleft()
                self._bytes -= meta.size
                dropped += 1
            self._counts["dropped_oldest"] += dropped
            self._set_head(self._entries[0].seq if self._entries else self._next_seq)
            return True
        self._counts["blocked_writes"] += 1
        deadline = time.monotonic() + self.block_timeout_s
        while self._bytes + size > self.max_bytes and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._counts["dropped_block_timeout"] += 1
                return False
            self._changed.wait(remaining)
        self._check_open()
        return True

    def _write(self, payload: bytes, size: int) -> bool:
        seq, now = self._next_seq, self._clock()
        segment = self._writable_segment(size)
        frame = _HEADER.pack(len(payload), _crc(seq, now, payload), seq, now) + payload
        assert self._write_fd is not None
        try:
            written = os.write(self._write_fd, frame)
            if written != len(frame):
                raise OSError(0, f"short write ({written} of {len(frame)} bytes)")
        except OSError as exc:
            self._counts["write_errors"] += 1
            log.error("spool %s: cannot append a record: %s", self.directory, exc)
            with contextlib.suppress(OSError):
                os.ftruncate(self._write_fd, segment.size)
            return False
        self._entries.append(_Meta(seq, segment.first_seq, segment.size, size, now))
        segment.size += size
        segment.last_seq = seq
        self._bytes += size
        self._next_seq = seq + 1
        self._counts["appended"] += 1
        self._dirty = True
        if self.fsync == "always" or (
            self.fsync == "interval" and now - self._last_sync >= self.fsync_interval_s
        ):
            self._sync(now)
        self._changed.notify_all()
        return True

    def _sync(self, now: float) -> None:
        if self._write_fd is not None and self._dirty:
            os.fsync(self._write_fd)
        self._dirty = False
        self._last_sync = now

    def sync_if_due(self) -> None:
        """With ``fsync=interval``: sync appends older than the interval even if no more come
        (the Kafka sender calls this while it waits)."""
        with self._lock:
            now = self._clock()
            if (
                not self._closed
                and self._dirty
                and self.fsync == "interval"
                and now - self._last_sync >= self.fsync_interval_s
            ):
                self._sync(now)

    def _writable_segment(self, size: int) -> _Segment:
        # Segments of an earlier run are never appended to: a new one starts at the next number.
        segment = self._write_segment
        if segment is not None and (
            segment.size + size <= self.segment_bytes or segment.last_seq < 0
        ):
            return segment
        self._close_write_segment()
        first = self._next_seq
        path = self.directory / _segment_name(first)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, MAGIC)
        segment = _Segment(first, path, len(MAGIC), -1)
        self._segments[first] = segment
        self._write_segment, self._write_fd = segment, fd
        if self.fsync != "never":
            with contextlib.suppress(OSError):
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        return segment

    def _close_write_segment(self) -> None:
        if self._write_fd is not None:
            if self.fsync != "never":
                os.fsync(self._write_fd)
            os.close(self._write_fd)
            self._write_fd = None
            self._write_segment = None

    # -- reading ---------------------------------------------------------------------------

    def peek(self, max_records: int) -> list[SpoolEntry]:
        """The oldest ``max_records`` unacknowledged records, oldest first (not removed)."""
        with self._lock:
            self._check_open()
            metas = [self._entries[i] for i in range(min(max_records, len(self._entries)))]
            return [SpoolEntry(m.seq, m.enqueued_at, self._read_payload(m)) for m in metas]

    def _read_payload(self, meta: _Meta) -> bytes:
        fd = self._read_fds.get(meta.segment)
        if fd is None:
            fd = os.open(self._segments[meta.segment].path, os.O_RDONLY)
            self._read_fds[meta.segment] = fd
        return os.pread(fd, meta.size - HEADER_BYTES, meta.offset + HEADER_BYTES)

    def acknowledge(self, through_seq: int) -> int:
        """Remove every record up to and including ``through_seq``; returns how many went."""
        removed = 0
        with self._lock:
            self._check_open()
            while self._entries and self._entries[0].seq <= through_seq:
                self._bytes -= self._entries.popleft().size
                removed += 1
            self._counts["acknowledged"] += removed
            if removed:
                self._set_head(self._entries[0].seq if self._entries else self._next_seq)
                self._changed.notify_all()
        return removed

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a record to be present; True if there is one."""
        with self._lock:
            if not self._entries and not self._closed:
                self._changed.wait(timeout)
            return bool(self._entries)

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every record is acknowledged or dropped."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._entries and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return not self._entries

    def _set_head(self, head: int) -> None:
        """Persist the first unacknowledged sequence number and delete finished segments."""
        self._head = head
        path = self.directory / "head"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{head}\n".encode())
            if self.fsync == "always":
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        for first, segment in list(self._segments.items()):
            if segment is not self._write_segment and segment.last_seq < head:
                self._delete_segment(first)

    def _delete_segment(self, first: int) -> None:
        segment = self._segments.pop(first)
        fd = self._read_fds.pop(first, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    # -- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def stats(self) -> SpoolStats:
        with self._lock:
            oldest = self._entries[0].enqueued_at if self._entries else None
            return SpoolStats(
                records=len(self._entries),
                bytes=self._bytes,
                oldest_age_s=0.0 if oldest is None else max(0.0, self._clock() - oldest),
                segments=len(self._segments),
                **self._counts,
            )

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolError(f"spool {self.directory} is closed")

    def close(self) -> None:
        """Sync and close the files and release the directory; unacknowledged records stay."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_write_segment()
            for fd in self._read_fds.values():
                os.close(fd)
            self._read_fds.clear()
            os.close(self._lock_fd)  # releases the flock
            self._changed.notify_all()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
