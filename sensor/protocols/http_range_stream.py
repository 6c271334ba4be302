"""A ranged HTTP download larger than the object limit, read in offset order as its ranges arrive.

``RangeStitcher`` (``sensor.protocols.http_ranges``) lays the ranges of a file out whole in
memory, which only works up to ``limits.max_object_bytes``. A bigger file fetched in ranges (a
download manager, a resumed download, a video player) is read here like an SMB file past its
limit (``sensor.protocols.smb.files``): the bytes below the limit are kept by offset and become
the object's body (block mode, content extraction); the bytes past it go, in file offset order, to
the audit's stream scanner (``sensor.objects.overflow_sink``, ``detectors.streaming``) and are not
kept.

Ranges complete in any order (several connections race each other), so a range past the limit that
starts ahead of the scanner's position waits in ``pending`` until the bytes before it arrive. The
wait is bounded: when more than ``max_pending`` bytes wait, the earliest waiting range is fed and
the bytes it skips are a hole for the scanner (``http.range_pending_limit``); a range that arrives
later for bytes already read is dropped as an overlap. The scanner is opened with the kept head once
the ranges below the limit tile it (else when the wait bound forces it, or at the end of the
capture, the missing head bytes zero-filled and counted as holes). After it opened, the head is
fixed: a range below the limit that arrives later is dropped and counted
(``http.range_late_head``).

Counted and flagged on the object, never silent:

* a range that repeats bytes already held or read: ``http.range_overlap``, flag ``range_overlap``;
* bytes of the file that no range supplied: holes, ``gap_bytes``, flag ``range_holes``; past the
  limit each hole is a ``gap`` for the scanner, so no value is joined across it
  (``stream:gaps=K``);
* size is the bytes seen; sha256 is over the file as laid out from its ranges, holes zero-filled
  below the limit and skipped past it (it is the file's hash when there are no holes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sensor.objects import OverflowSink, TransferObject, overflow_sink

Count = Callable[[str, str], None]


@dataclass(slots=True)
class RangeStream:
    """One file past the limit: its kept head, the waiting ranges and the scanner's position."""

    total: int  # the file size declared by Content-Range
    limit: int  # the object size limit: bytes below it are kept, the rest streamed
    template: TransferObject  # the first range: flow, URL, host, types
    count: Count
    max_pending: int  # bytes of ranges past the limit that may wait for earlier bytes
    head: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes, below the limit
    pending: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes, past ``at``
    pending_bytes: int = 0
    sink: OverflowSink | None = None
    digest: Any = None  # sha256 of the head as laid out when the scanner opened, then as fed
    at: int = 0  # file offset of the next byte the scanner expects (set when opened)
    head_holes: int = 0  # head bytes missing when the scanner opened (zero-filled)
    tail_gaps: int = 0  # bytes past the limit the scanner was told are missing
    overlap_bytes: int = 0
    late_head_bytes: int = 0
    alone: int = 0  # ranges inspected on their own (truncated at their own limit, or holed)

    @property
    def done(self) -> bool:
        """The scanner reached the end of the file with the head whole: nothing more to wait for
        (a head with holes waits for the end of the capture, its late ranges counted)."""
        return self.sink is not None and self.at >= self.total and not self.head_holes

    def add(self, first: int, data: bytes) -> None:
        """The bytes ``data`` of the file at offset ``first`` (one range response or part)."""
        uid = self.template.flow.uid
        head = data[: max(0, self.limit - first)]
        if head:
            if self.sink is not None:
                self.late_head_bytes += len(head)
                self.count("http.range_late_head", f"{uid}: {first}+{len(head)}")
            else:
                self._hold(self.head, first, head)
        tail, offset = data[len(head) :], max(first, self.limit)
        if tail:
            if self.sink is not None and offset < self.at:
                self._overlap(offset, min(len(tail), self.at - offset))
                tail, offset = tail[self.at - offset :], self.at
            if tail:
                self.pending_bytes += self._hold(self.pending, offset, tail)
        if self.pending:  # a range past the limit, or the last one the head needed
            self._drain(force=False)

    def _hold(self, pieces: dict[int, bytes], offset: int, data: bytes) -> int:
        """Keep ``data`` at ``offset`` (the longer of two ranges at one offset); count the bytes
        it shares with ranges already held. Returns the change in bytes held."""
        end = offset + len(data)
        shared = sum(
            max(0, min(end, o + len(d)) - max(offset, o)) for o, d in pieces.items() if o != offset
        )
        old = pieces.get(offset, b"")
        shared += min(len(old), len(data))
        if shared:
            self._overlap(offset, shared)
        if len(data) <= len(old):
            return 0
        pieces[offset] = data
        return len(data) - len(old)

    def _overlap(self, offset: int, length: int) -> None:
        self.overlap_bytes += length
        self.count("http.range_overlap", f"{self.template.flow.uid}: {offset}+{length}")

    def _head_tiled(self) -> bool:
        reach = 0
        for offset in sorted(self.head):
            if offset > reach:
                return False
            reach = max(reach, offset + len(self.head[offset]))
        return reach >= self.limit

    def _open(self) -> None:
        """Hand the bytes past the limit to the stream scanner, the head laid out as history."""
        kept = self._laid_out_head()
        sink = overflow_sink(self.limit, kept)
        if sink is None:  # no audit streaming: the caller checked, so this is not reached
            raise RuntimeError("range streaming without an overflow factory")
        self.sink = sink
        self.digest = hashlib.sha256(kept)
        self.at = self.limit

    def _laid_out_head(self) -> bytearray:
        kept = bytearray(self.limit)
        have = bytearray(self.limit)
        for offset, data in self.head.items():
            kept[offset : offset + len(data)] = data
            have[offset : offset + len(data)] = b"\x01" * len(data)
        self.head_holes = have.count(0)
        return kept

    def _drain(self, force: bool) -> None:
        """Feed the waiting ranges that continue the stream; past the wait bound (or ``force``,
        the end of the capture) also the ones after a hole."""
        over = self.pending_bytes > self.max_pending
        if self.sink is None:
            if not self._head_tiled():
                if not (force or over):
                    return
                if not force:
                    self.count("http.range_pending_limit", f"{self.template.flow.uid}: head")
            self._open()
        while self.pending:
            offset = min(self.pending)
            if offset > self.at:
                if not (force or self.pending_bytes > self.max_pending):
                    return
                if not force:
                    self.count("http.range_pending_limit", f"{self.template.flow.uid}: {self.at}")
                self._skip(offset - self.at)
            data = self.pending.pop(offset)
            self.pending_bytes -= len(data)
            if offset < self.at:
                self._overlap(offset, min(len(data), self.at - offset))
                data = data[self.at - offset :]
            if data:
                self._feed(data)

    def _feed(self, data: bytes) -> None:
        assert self.sink is not None
        self.sink.feed(data)
        self.digest.update(data)
        self.at += len(data)

    def _skip(self, length: int) -> None:
        assert self.sink is not None
        self.sink.gap(length)
        self.tail_gaps += length
        self.at += length

    def finish(self) -> TransferObject:
        """The file as it stands: the kept head as body, the streamed rest on its scanner."""
        if self.pending:
            self._drain(force=True)
        if self.sink is not None and self.at < self.total:
            self._skip(self.total - self.at)  # the end of the file never arrived
        template = self.template
        obj = TransferObject(
            flow=template.flow,
            protocol=template.protocol,
            direction="download",
            index=template.index,
            timestamp=template.timestamp,
            method=template.method,
            url=template.url,
            host=template.host,
            content_type=template.content_type,
            declared_length=self.total,
            status=template.status,
            filename=template.filename,
            via_proxy=template.via_proxy,
            etag=template.etag,
        )
        if self.sink is not None:
            obj.append(bytes(self._laid_out_head()), self.limit)  # fixed since the scanner opened
            obj.continued_past_limit(
                self.sink, self.digest, self.at, self.head_holes + self.tail_gaps
            )
        else:  # no byte past the limit arrived: the head is the whole of what was seen
            head = self._laid_out_head()
            extent = max((o + len(d) for o, d in self.head.items()), default=0)
            obj.append(bytes(head[:extent]), self.limit)
            obj.total_bytes = extent - (self.head_holes - (self.limit - extent))
            obj.gap_bytes = self.total - obj.total_bytes
        obj.complete = obj.gap_bytes == 0 and not self.alone
        obj.flag("range_stitched")
        obj.flag("range_streamed")
        if obj.gap_bytes:
            obj.flag("range_holes")
        if self.overlap_bytes:
            obj.flag("range_overlap")
        if self.late_head_bytes:
            obj.flag("range_late_head")
        if self.alone:
            obj.flag(f"range_pieces_alone={self.alone}")
        obj.seal()
        return obj
