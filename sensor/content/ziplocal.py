"""ZIP members read from their local headers, for archives whose central directory is not there.

``zipfile`` reads an archive from its central directory at the end of the file. The end is exactly
what an egress sensor often lacks: an upload larger than ``limits.max_object_bytes`` is kept only
up to the limit, a capture that lost packets near the end leaves a hole there, and a ZIP written
as a stream may still be arriving. Every member is also preceded by a local header (signature
``PK\\x03\\x04``, name, method, sizes), so the members can be walked from the front: this module
does that, without I/O, and says for each member how its data ends.

A member's compressed length comes from its local header, or its ZIP64 extra field; when the
writer streamed it (flag bit 3, sizes in a data descriptor after the data), a deflated member ends
where its deflate stream ends, and a stored one at the data descriptor whose size matches. Data
cut by the end of the buffer is returned as far as it goes (``truncated``); the caller inflates
what is there. Bytes that are not a local header are skipped up to the next one (``resynced``).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
DESCRIPTOR = b"PK\x07\x08"
_HEADER = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
STORED, DEFLATED = 0, 8
_ZIP64 = 0x0001
_STREAMED = 0x0008  # flag bit 3: sizes in a data descriptor after the data
_ENCRYPTED = 0x0001
_CHUNK = 1 << 20  # compressed bytes fed at a time when looking for a deflate stream's end


@dataclass(frozen=True, slots=True)
class LocalMember:
    name: str
    method: int
    encrypted: bool
    data: memoryview  # the compressed bytes (as far as the buffer goes)
    uncompressed_size: int  # declared; 0 when streamed and unknown
    truncated: bool  # the buffer ends inside this member's data
    resynced: bool  # bytes before this header were not a local header


@dataclass(frozen=True, slots=True)
class LocalHeader:
    """One local file header: what a reader needs to find and decode the data after it."""

    name: str
    method: int
    encrypted: bool
    streamed: bool  # flag bit 3: a data descriptor follows the data
    compressed_size: int  # 0 when streamed and unknown (ZIP64 sizes already applied)
    uncompressed_size: int
    length: int  # header bytes: the data starts this far after the signature


def local_header(data: bytes | bytearray, at: int = 0) -> LocalHeader | None:
    """The local header at ``at`` (its signature already checked), or None when ``data`` ends
    before the header does."""
    if at + _HEADER.size > len(data):
        return None
    (_sig, _version, flags, method, _time, _date, _crc, csize, usize, name_len, extra_len) = (
        _HEADER.unpack_from(data, at)
    )
    name_at = at + _HEADER.size
    start = name_at + name_len + extra_len
    if start > len(data):
        return None
    name = bytes(data[name_at : name_at + name_len]).decode("utf-8", "replace")
    if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
        usize, csize = _zip64_sizes(memoryview(data)[name_at + name_len : start], usize, csize)
    return LocalHeader(
        name,
        method,
        bool(flags & _ENCRYPTED),
        bool(flags & _STREAMED),
        csize,
        usize,
        start - at,
    )


def local_members(data: bytes) -> Iterator[LocalMember]:
    """The members of ``data`` in file order, from their local headers, until the central
    directory, the end of the buffer, or a member whose end cannot be found."""
    view = memoryview(data)
    at, resynced = 0, False
    while at + _HEADER.size <= len(data):
        if data[at : at + 4] != LOCAL:
            if data[at : at + 4] == CENTRAL:
                return
            found = data.find(LOCAL, at + 1)
            if found < 0:
                return
            at, resynced = found, True
            continue
        header = local_header(data, at)
        if header is None:
            return
        start, csize = at + header.length, header.compressed_size
        streamed = header.streamed and csize == 0
        end = _streamed_end(data, start, header.method) if streamed else start + csize
        if end is None:  # cannot tell where it ends: what is there, and nothing after it
            yield LocalMember(
                header.name,
                header.method,
                header.encrypted,
                view[start:],
                header.uncompressed_size,
                True,
                resynced,
            )
            return
        truncated = end > len(data)
        yield LocalMember(
            header.name,
            header.method,
            header.encrypted,
            view[start : min(end, len(data))],
            header.uncompressed_size,
            truncated,
            resynced,
        )
        if truncated:
            return
        at, resynced = _after_descriptor(data, end) if streamed else end, False


def _zip64_sizes(extra: memoryview, usize: int, csize: int) -> tuple[int, int]:
    """The 64-bit sizes of the ZIP64 extra field (only the ones the header left at 0xFFFFFFFF)."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + size]
        if tag == _ZIP64:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            break
        at += 4 + size
    return usize, csize


def _streamed_end(data: bytes, start: int, method: int) -> int | None:
    """Where a streamed member's data ends: its deflate stream's end, or for stored data the first
    data descriptor whose compressed size is the distance to it. None when it is not found."""
    if method == DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        at = start
        try:
            while at < len(data) and not inflater.eof:
                chunk = data[at : at + _CHUNK]
                at += len(chunk)
                inflater.decompress(chunk, _CHUNK * 4)  # output dropped: only the end is wanted
                while inflater.unconsumed_tail and not inflater.eof:
                    inflater.decompress(inflater.unconsumed_tail, _CHUNK * 4)
        except zlib.error:
            return None
        if not inflater.eof:
            return len(data) + 1  # the stream runs past the buffer: truncated
        return at - len(inflater.unused_data)
    if method == STORED:
        at = data.find(DESCRIPTOR, start)
        while at >= 0:
            if at + 12 <= len(data) and struct.unpack_from("<I", data, at + 8)[0] == at - start:
                return at
            at = data.find(DESCRIPTOR, at + 1)
    return None


def _after_descriptor(data: bytes, end: int) -> int:
    """The offset after a data descriptor at ``end`` (signature optional; 32- or 64-bit sizes)."""
    at = end + 4 if data[end : end + 4] == DESCRIPTOR else end
    for size in (12, 20):  # crc + two 4-byte sizes, or + two 8-byte sizes (ZIP64)
        if data[at + size : at + size + 4] in (LOCAL, CENTRAL):
            return at + size
    return at + 12
