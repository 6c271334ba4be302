"""One file rebuilt from HTTP range responses (RFC 9110 14.4: ``206``, ``Content-Range``).

Download managers, video players and resumed downloads fetch a file in byte ranges, often over
several connections. Each range arrives as its own object (a 206 body, or a part of a
``multipart/byteranges`` body); inspected alone, a CSV cut at byte 65,536 loses the row it cuts
and a person split across two ranges is seen by neither. ``RangeStitcher`` keeps the pieces of
each file, keyed by host, path and total length, and emits the whole file once its ranges cover
it, or at the end of the capture with the holes zero-filled, counted in ``gap_bytes`` and flagged
``range_holes``. The stitched object carries ``range_stitched`` and is what detection reads; the
pieces are still recorded in ``objects.jsonl``.

A file larger than ``max_bytes`` (the object limit) is not laid out in memory: while the audit
streams past the limit (``limits.stream_past_limit``) its ranges go to a ``RangeStream``
(``sensor.protocols.http_range_stream``), which keeps the bytes below the limit and feeds the rest
in offset order to one stream scanner (``http.range_streamed_past_limit``). A range that was cut
at its own object limit or has holes of its own cannot be placed byte for byte: it is inspected on
its own (``http.range_piece_alone``) and is a hole in the file. Without stream mode such files are
not stitched (``http.range_file_too_large``) and their pieces are inspected one by one.

Files are keyed by host, path, total length and ETag (two versions of a file never mix).
Bounds: ``MAX_ASSEMBLIES`` files at once (the oldest is emitted as it stands when a new one needs
room, ``http.range_assemblies_full``), ``max_bytes`` per stitched file, and for a streamed file
``max_bytes`` kept below the limit plus ``max_bytes`` of ranges waiting for earlier bytes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sensor.anomalies import AnomalyCounter
from sensor.objects import TransferObject, overflow_enabled
from sensor.protocols.http_range_stream import RangeStream

MAX_ASSEMBLIES = 256  # files being stitched at once; each holds at most max_bytes
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I)

Key = tuple[str, str, int, str]


def parse_content_range(value: str) -> tuple[int, int, int] | None:
    """``bytes first-last/total`` as (first, end exclusive, total); None if not a usable range."""
    match = _CONTENT_RANGE.match(value)
    if match is None:
        return None
    first, last, total = (int(g) for g in match.groups())
    if not first <= last < total:
        return None
    return first, last + 1, total


@dataclass
class _Assembly:
    total: int
    template: TransferObject  # the first piece: flow, URL, host, types
    pieces: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes
    gap_pieces: int = 0  # pieces that had holes of their own

    def covered(self) -> bool:
        end = 0
        for offset in sorted(self.pieces):
            if offset > end:
                return False
            end = max(end, offset + len(self.pieces[offset]))
        return end >= self.total


class RangeStitcher:
    """Collects range pieces and emits whole files (see the module docstring)."""

    def __init__(
        self, emit: Callable[[TransferObject], None], max_bytes: int, anomalies: AnomalyCounter
    ) -> None:
        self._emit = emit
        self._max_bytes = max_bytes
        self._anomalies = anomalies
        self._files: OrderedDict[Key, _Assembly | RangeStream] = OrderedDict()

    def take(self, obj: TransferObject) -> bool:
        """Keep ``obj`` if it is a piece of a ranged download; False: handle it as usual."""
        if obj.protocol != "http" or obj.direction != "download" or not obj.content_range:
            return False  # FTP REST ("bytes 1000-") is a resumed upload or download, not a range
        parsed = parse_content_range(obj.content_range)
        if parsed is None:
            self._anomalies.count("http.range_unusable", f"{obj.flow.uid}: {obj.content_range}")
            return False
        first, end, total = parsed
        key = (obj.host, obj.url.split("?", 1)[0], total, obj.etag)
        if total > self._max_bytes:
            if not overflow_enabled():
                self._count("http.range_file_too_large", f"{obj.flow.uid}: {total} bytes")
                return False
            return self._stream(key, obj, first, end)
        assembly = self._files.get(key)
        if assembly is None:
            self._room()
            assembly = self._files[key] = _Assembly(total, obj)
        assert isinstance(assembly, _Assembly)
        data = bytes(obj.body)[: end - first]
        if data and len(data) >= len(assembly.pieces.get(first, b"")):
            assembly.pieces[first] = data
        assembly.gap_pieces += bool(obj.gap_bytes or obj.truncated)
        if assembly.covered():
            del self._files[key]
            self._finish(key, assembly)
        return True

    def _stream(self, key: Key, obj: TransferObject, first: int, end: int) -> bool:
        """A range of a file past the object limit (see the module docstring)."""
        stream = self._files.get(key)
        if stream is None:
            self._room()
            total = key[2]
            self._count("http.range_streamed_past_limit", f"{obj.flow.uid}: {total} bytes")
            stream = self._files[key] = RangeStream(
                total, self._max_bytes, obj, self._count, max_pending=self._max_bytes
            )
        assert isinstance(stream, RangeStream)
        if obj.truncated or obj.gap_bytes:  # its bytes cannot be placed: read it on its own
            stream.alone += 1
            self._count("http.range_piece_alone", f"{obj.flow.uid}: {obj.content_range}")
            return False
        stream.add(first, bytes(obj.body)[: end - first])
        if stream.done:
            del self._files[key]
            self._finish(key, stream)
        return True

    def _room(self) -> None:
        if len(self._files) >= MAX_ASSEMBLIES:
            self._count("http.range_assemblies_full", "")
            self._finish(*self._files.popitem(last=False))

    def _count(self, name: str, detail: str) -> None:
        self._anomalies.count(name, detail)

    def flush(self) -> None:
        """End of the capture: emit every file as it stands, holes flagged."""
        while self._files:
            self._finish(*self._files.popitem(last=False))

    def _finish(self, key: Key, assembly: _Assembly | RangeStream) -> None:
        if isinstance(assembly, RangeStream):
            if assembly.head or assembly.pending or assembly.sink is not None:
                self._emit(assembly.finish())
            return
        whole = bytearray(assembly.total)
        have = bytearray(assembly.total)  # 1 where a piece supplied the byte
        for offset, data in assembly.pieces.items():
            whole[offset : offset + len(data)] = data
            have[offset : offset + len(data)] = b"\x01" * len(data)
        holes = have.count(0)
        template = assembly.template
        obj = TransferObject(
            flow=template.flow,
            protocol=template.protocol,
            direction="download",
            index=template.index,  # the pieces are not inspected, so no alert id is shared
            timestamp=template.timestamp,
            method=template.method,
            url=template.url,
            host=template.host,
            content_type=template.content_type,
            declared_length=assembly.total,
            status=template.status,
            filename=template.filename,
            via_proxy=template.via_proxy,
            etag=template.etag,
        )
        obj.append(bytes(whole), self._max_bytes)
        obj.gap_bytes = holes
        obj.complete = holes == 0 and not assembly.gap_pieces
        obj.flag("range_stitched")
        if holes:
            obj.flag("range_holes")
        obj.seal()
        self._emit(obj)
