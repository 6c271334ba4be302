"""SMB file content rebuilt from WRITE and READ pieces by offset, one object per file and direction.

Clients write and read files in pieces at explicit offsets, in any order, and may skip parts or
touch the same bytes twice. ``SmbFiles`` keeps each file's pieces (a later piece at the same
offset replaces the earlier one, as on disk) and, when the file is closed or the connection ends,
lays them out in order: bytes nobody wrote or read are holes, zero-filled so later pieces keep
their offsets, counted in ``gap_bytes`` and flagged ``smb_holes``. WRITE data becomes an upload
(client to server), READ data a download, each a ``TransferObject`` named ``share\\path``.

Memory is bounded twice: a file keeps at most ``max_file_bytes`` of extent, and a connection
holds at most ``max_connection_bytes`` of pieces across its open files
(``smb.connection_memory_limit``).

Past ``max_file_bytes`` (``smb.file_size_limit``, the object flagged truncated) a file written or
read front to back is still inspected: when the kept pieces tile the file from byte 0 up to the
limit, the bytes after it go to the audit's stream scanner (``sensor.objects.overflow_sink``,
``detectors.streaming``) as they arrive, in offset order, and are not kept. A piece that skips
ahead is a hole for the scanner (``gap``); one that starts before the scanner's position has its
already-read bytes dropped (``smb.stream_overlap``). A file with holes below the limit when the
limit is first crossed, or an audit that does not stream, drops the bytes past it as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sensor.objects import FlowContext, OverflowSink, TransferObject, overflow_sink
from sensor.protocols.http.events import Side

# Pieces held for one connection's open files; a file server session rarely has more than a
# few large files open at once, and an object is already capped by the object size limit.
DEFAULT_MAX_CONNECTION_BYTES = 256 * 1024 * 1024
# Offsets past this are not real files (2^48 bytes, 256 TiB): ``smb.impossible_offset``.
MAX_SANE_OFFSET = 1 << 48


@dataclass(frozen=True, slots=True)
class SmbLimits:
    max_file_bytes: int = 64 * 1024 * 1024  # the object size limit, by default
    max_connection_bytes: int = DEFAULT_MAX_CONNECTION_BYTES


@dataclass(slots=True)
class _File:
    name: str
    side: Side
    first_seen: float
    pieces: dict[int, bytes | memoryview] = field(default_factory=dict)
    held: int = 0
    truncated: bool = False
    declared: int | None = None
    reach: int = 0  # end of the furthest bytes known to exist, captured or not
    stream: _Stream | None = None  # bytes past the limit, read as they arrive
    stream_tried: bool = False


@dataclass(slots=True)
class _Stream:
    """A file's bytes past the limit: where the scanner is, and the hash of every byte so far."""

    sink: OverflowSink
    at: int  # file offset of the next byte the scanner expects
    digest: Any  # sha256 of the bytes 0..limit as laid out when streaming began, then as fed
    gap_bytes: int = 0


Count = Callable[[str, str], None]


class SmbFiles:
    """Open files of one connection, per direction; ``finish`` turns one into an object."""

    def __init__(
        self,
        *,
        upload: FlowContext,
        download: FlowContext,
        limits: SmbLimits,
        clock: Callable[[], float],
        count: Count,
    ) -> None:
        self._contexts = {Side.CLIENT: upload, Side.SERVER: download}
        self._limits = limits
        self._clock = clock
        self._count = count
        self._files: dict[tuple[bytes, Side], _File] = {}
        self._names: dict[bytes, tuple[str, int | None]] = {}
        self.held = 0

    def opened(self, key: bytes, name: str, size: int | None, alias: bytes = b"") -> None:
        self._names[key] = (name, size)
        for side in (Side.CLIENT, Side.SERVER):
            known = self._files.get((key, side))
            if known is not None:  # written before the CREATE response was seen
                known.name, known.declared = name, size
            early = self._files.pop((alias, side), None) if alias else None
            if early is not None:
                early.name = name
                self._files[(key, side)] = early

    def _file(self, side: Side, key: bytes, name: str) -> _File:
        file = self._files.get((key, side))
        if file is None:
            known, size = self._names.get(key, (name, None))
            file = _File(known or name, side, self._clock(), declared=size)
            self._files[(key, side)] = file
        return file

    def missing(self, side: Side, key: bytes, name: str, offset: int, length: int) -> None:
        """Bytes the file has but the capture lost: they count as a hole even at its end."""
        if offset < 0 or offset + length > MAX_SANE_OFFSET:
            return
        file = self._file(side, key, name)
        file.reach = max(file.reach, min(offset + length, self._limits.max_file_bytes))
        stream = file.stream
        if stream is not None and offset <= stream.at < offset + length:
            self._skip(stream, offset + length - stream.at)

    def data(
        self, side: Side, key: bytes, name: str, offset: int, data: bytes | memoryview
    ) -> None:
        if offset < 0 or offset + len(data) > MAX_SANE_OFFSET:
            self._count("smb.impossible_offset", f"{offset}+{len(data)}")
            return
        file = self._file(side, key, name)
        limit = self._limits.max_file_bytes
        if offset + len(data) > limit:
            if not file.truncated:
                self._count("smb.file_size_limit", f"{offset + len(data)} > {limit}")
            file.truncated = True
            head, tail = data[: max(0, limit - offset)], data[max(0, limit - offset) :]
            if head and not self._keep(file, offset, head):
                return
            if head and file.stream is not None:
                self._count("smb.rewrite_after_limit", f"{file.name}: {offset}+{len(head)}")
            if not file.stream_tried:  # once: the first bytes past the limit decide
                file.stream_tried = True
                self._start_stream(file, limit)
            if file.stream is not None:
                self._feed(file.stream, max(offset, limit), tail)
            return
        if not self._keep(file, offset, data):
            return
        if file.stream is not None:  # bytes below the limit after streaming began
            self._count("smb.rewrite_after_limit", f"{file.name}: {offset}+{len(data)}")

    def _keep(self, file: _File, offset: int, data: bytes | memoryview) -> bool:
        """Hold a piece below the limit; False if the connection's memory bound refused it."""
        old = file.pieces.pop(offset, None)
        freed = len(old) if old is not None else 0
        if self.held - freed + len(data) > self._limits.max_connection_bytes:
            if old is not None:
                file.pieces[offset] = old
            if not file.truncated:
                self._count("smb.connection_memory_limit", str(self._limits.max_connection_bytes))
            file.truncated = True
            return False
        file.pieces[offset] = data  # re-inserted last: later pieces win where they overlap
        file.held += len(data) - freed
        self.held += len(data) - freed
        return True

    def _start_stream(self, file: _File, limit: int) -> None:
        """Open the scanner for the bytes past ``limit`` if the kept pieces tile 0..limit."""
        spans = sorted((offset, offset + len(data)) for offset, data in file.pieces.items())
        reach = 0
        for start, end in spans:
            if start != reach:
                return  # a hole or an overlap below the limit: not a front-to-back transfer
            reach = end
        if reach != limit:
            return
        kept = bytearray(b"".join(file.pieces[start] for start, _ in spans))
        sink = overflow_sink(limit, kept)
        if sink is None:
            return
        file.pieces = {0: bytes(kept)}  # the same bytes, one piece: laid out once
        file.stream = _Stream(sink, limit, hashlib.sha256(kept))

    def _feed(self, stream: _Stream, offset: int, data: bytes | memoryview) -> None:
        if offset > stream.at:  # bytes nobody sent in this capture: a hole for the scanner
            self._skip(stream, offset - stream.at)
        elif offset < stream.at:
            self._count("smb.stream_overlap", f"{offset}+{len(data)} before {stream.at}")
            data = data[stream.at - offset :]
        if data:
            chunk = bytes(data)
            stream.sink.feed(chunk)
            stream.digest.update(chunk)
            stream.at += len(chunk)

    @staticmethod
    def _skip(stream: _Stream, length: int) -> None:
        stream.sink.gap(length)
        stream.gap_bytes += length
        stream.at += length

    def closed(self, key: bytes) -> list[TransferObject]:
        """The file was closed: its upload and download objects, if it carried data."""
        self._names.pop(key, None)
        return [
            self._finish(file)
            for side in (Side.CLIENT, Side.SERVER)
            if (file := self._files.pop((key, side), None)) is not None
        ]

    def finish_all(self) -> list[TransferObject]:
        """The connection ended: every file still holding data becomes an object."""
        files = list(self._files.values())
        self._files.clear()
        self._names.clear()
        return [self._finish(file) for file in files]

    def _finish(self, file: _File) -> TransferObject:
        extent = max((off + len(data) for off, data in file.pieces.items()), default=file.reach)
        extent = max(extent, file.reach)
        spans = sorted((offset, offset + len(data)) for offset, data in file.pieces.items())
        covered, reach, tiled = 0, 0, True
        for start, end in spans:
            tiled = tiled and start == reach  # pieces meet end to end: no hole, no overlap
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        content: bytes
        if tiled and reach == extent:
            content = b"".join(file.pieces[start] for start, _ in spans)
        else:
            filled = bytearray(extent)
            for offset, data in file.pieces.items():  # arrival order: later pieces win
                filled[offset : offset + len(data)] = data
            content = bytes(filled)
        self.held -= file.held
        upload = file.side is Side.CLIENT
        obj = TransferObject(
            flow=self._contexts[file.side],
            protocol="smb",
            direction="upload" if upload else "download",
            index=-1,
            timestamp=file.first_seen,
            method="WRITE" if upload else "READ",
            filename=file.name,
            declared_length=file.declared if not upload else None,
        )
        obj.append(content, self._limits.max_file_bytes)
        obj.truncated = obj.truncated or file.truncated
        obj.gap_bytes = extent - covered
        if file.stream is not None:
            stream = file.stream
            obj.continued_past_limit(stream.sink, stream.digest, stream.at, stream.gap_bytes)
            extent = stream.at
        if obj.gap_bytes:
            obj.flag("smb_holes")
        partial = not upload and file.declared is not None and extent < file.declared
        if partial:
            obj.flag("smb_partial_read")
        if not file.name:
            obj.flag("smb_name_unknown")
        obj.complete = not obj.gap_bytes and not obj.truncated and not partial
        obj.seal()
        return obj
