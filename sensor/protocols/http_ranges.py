"""One file rebuilt from HTTP range responses (RFC 9110 14.4: ``206``, ``Content-Range``).

Download managers, video players and resumed downloads fetch a file in byte ranges, often over
several connections. Each range arrives as its own object (a 206 body, or a part of a
``multipart/byteranges`` body); inspected alone, a CSV cut at byte 65,536 loses the row it cuts
and a person split across two ranges is seen by neither. ``RangeStitcher`` keeps the pieces of
each file, keyed by host, path and total length, and emits the whole file once its ranges cover
it, or at the end of the capture with the holes zero-filled, counted in ``gap_bytes`` and flagged
``range_holes``. The stitched object carries ``range_stitched`` and is what detection reads; the
pieces are still recorded in ``objects.jsonl``.

Bounds: ``MAX_ASSEMBLIES`` files at once (the oldest is emitted as it stands when a new one needs
room, ``http.range_assemblies_full``) and ``max_bytes`` per file (larger totals are not stitched,
``http.range_file_too_large``; their pieces are inspected one by one as before).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sensor.anomalies import AnomalyCounter
from sensor.objects import TransferObject

MAX_ASSEMBLIES = 256  # files being stitched at once; each holds at most max_bytes
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I)

Key = tuple[str, str, int]


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
        self._files: OrderedDict[Key, _Assembly] = OrderedDict()

    def take(self, obj: TransferObject) -> bool:
        """Keep ``obj`` if it is a piece of a ranged download; False: handle it as usual."""
        if obj.protocol != "http" or obj.direction != "download" or not obj.content_range:
            return False  # FTP REST ("bytes 1000-") is a resumed upload or download, not a range
        parsed = parse_content_range(obj.content_range)
        if parsed is None:
            self._anomalies.count("http.range_unusable", f"{obj.flow.uid}: {obj.content_range}")
            return False
        first, end, total = parsed
        if total > self._max_bytes:
            self._anomalies.count("http.range_file_too_large", f"{obj.flow.uid}: {total} bytes")
            return False
        key = (obj.host, obj.url.split("?", 1)[0], total)
        assembly = self._files.get(key)
        if assembly is None:
            if len(self._files) >= MAX_ASSEMBLIES:
                self._anomalies.count("http.range_assemblies_full")
                self._finish(*self._files.popitem(last=False))
            assembly = self._files[key] = _Assembly(total, obj)
        data = bytes(obj.body)[: end - first]
        if data and len(data) >= len(assembly.pieces.get(first, b"")):
            assembly.pieces[first] = data
        assembly.gap_pieces += bool(obj.gap_bytes or obj.truncated)
        if assembly.covered():
            del self._files[key]
            self._finish(key, assembly)
        return True

    def flush(self) -> None:
        """End of the capture: emit every file as it stands, holes flagged."""
        while self._files:
            self._finish(*self._files.popitem(last=False))

    def _finish(self, key: Key, assembly: _Assembly) -> None:
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
        )
        obj.append(bytes(whole), self._max_bytes)
        obj.gap_bytes = holes
        obj.complete = holes == 0 and not assembly.gap_pieces
        obj.flag("range_stitched")
        if holes:
            obj.flag("range_holes")
        obj.seal()
        self._emit(obj)
