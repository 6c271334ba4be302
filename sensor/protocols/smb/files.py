"""SMB file content rebuilt from WRITE and READ pieces by offset, one object per file and direction.

Clients write and read files in pieces at explicit offsets, in any order, and may skip parts or
touch the same bytes twice. ``SmbFiles`` keeps each file's pieces (a later piece at the same
offset replaces the earlier one, as on disk) and, when the file is closed or the connection ends,
lays them out in order: bytes nobody wrote or read are holes, zero-filled so later pieces keep
their offsets, counted in ``gap_bytes`` and flagged ``smb_holes``. WRITE data becomes an upload
(client to server), READ data a download, each a ``TransferObject`` named ``share\\path``.

Memory is bounded twice: a file keeps at most ``max_file_bytes`` of extent (further bytes are
dropped and the object flagged truncated, ``smb.file_size_limit``), and a connection holds at most
``max_connection_bytes`` of pieces across its open files (``smb.connection_memory_limit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sensor.objects import FlowContext, TransferObject
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
            data = data[: max(0, limit - offset)]
            if not data:
                return
        old = file.pieces.pop(offset, None)
        freed = len(old) if old is not None else 0
        if self.held - freed + len(data) > self._limits.max_connection_bytes:
            if old is not None:
                file.pieces[offset] = old
            if not file.truncated:
                self._count("smb.connection_memory_limit", str(self._limits.max_connection_bytes))
            file.truncated = True
            return
        file.pieces[offset] = data  # re-inserted last: later pieces win where they overlap
        file.held += len(data) - freed
        self.held += len(data) - freed

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
