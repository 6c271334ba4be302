"""A ZIP archive's members inflated as its bytes arrive, for the part of an object past the limit.

Block mode reads the kept head of a cut archive from its local headers (``ziplocal.py``). The
bytes past ``limits.max_object_bytes`` go to the stream scanner (``detectors.streaming``), which
reads text: compressed members there would be noise. ``ZipStreamDecoder`` is Sans-IO: ``feed``
the archive's bytes, ``gap`` the holes in the capture, ``finish`` at the end; it returns the
members' inflated bytes, one member after another, so a CSV export zipped past the limit is
scanned as CSV. Stored and deflated members are read (a streamed stored member ends at the data
descriptor that gives its size); an encrypted member or another method is skipped when its size
is known, else the decoder looks for the next local header, as after a hole. Output is bounded (``max_output``, then ``limit:zip_stream``), like the gzip bodies HTTP
decodes past the limit.

``zip_overflow`` puts the decoder in front of the stream scanner of an object whose kept head is a
ZIP (``sensor.objects.overflow_sink``; ``stream_decoding.py``): the head is decoded again to reach
the decoder's state at the limit, and its last inflated bytes are the scanner's history.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from sensor.content.stream_decoding import DecodingOverflow, Sink, replay_head
from sensor.content.ziplocal import CENTRAL, DEFLATED, DESCRIPTOR, LOCAL, STORED, local_header

END_OF_DIRECTORY = b"PK\x05\x06"
DECODE_FACTOR = 16  # inflated bytes past the limit: at most this many times the limit
PIECE = 1 << 20  # inflated bytes handed out at a time


class ZipStreamDecoder:
    """See the module docstring. States: ``header`` (a local header, or the central directory,
    is next), ``data`` (inside a member), ``descriptor`` (a streamed member's data descriptor is
    next), ``seek`` (looking for the next local header), ``done``."""

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.output = 0
        self.members = 0
        self.flags: set[str] = set()
        self._buf = bytearray()
        self._state = "header"
        self._skip = False  # this member's bytes are not decoded (encrypted, other method)
        self._remaining: int | None = None  # compressed bytes left; None: streamed deflate
        self._streamed = False
        self._inflater: zlib._Decompress | None = None
        self._taken = 0  # stored bytes of the member so far (streamed stored members)

    def feed(self, data: bytes) -> list[bytes]:
        if self._state == "done":
            return []
        self._buf += data
        out: list[bytes] = []
        while self._step(out):
            pass
        return out

    def gap(self, length: int) -> list[bytes]:
        """``length`` bytes are missing: the member they fall in cannot be inflated further."""
        out = self._flush() if self._state == "data" else []
        if self._state != "done":
            self.flags.add("zip:gap")
            self._buf.clear()
            self._state = "seek"
        return out

    def finish(self) -> list[bytes]:
        """The archive ended: what the inflater still holds."""
        out = self._flush() if self._state == "data" else []
        self._state = "done"
        return out

    # -- states ---------------------------------------------------------------------------------

    def _step(self, out: list[bytes]) -> bool:
        """One step of the state machine; False when it needs more bytes."""
        if self._state == "header":
            return self._header()
        if self._state == "data":
            return self._data(out)
        if self._state == "descriptor":
            return self._descriptor()
        if self._state == "seek":
            return self._seek()
        return False

    def _header(self) -> bool:
        if len(self._buf) < 4:
            return False
        signature = bytes(self._buf[:4])
        if signature in (CENTRAL, END_OF_DIRECTORY):
            self._state = "done"
            self._buf.clear()
            return False
        if signature != LOCAL:
            self.flags.add("zip:resynced")
            self._state = "seek"
            return True
        header = local_header(self._buf)
        if header is None:
            return False
        del self._buf[: header.length]
        self.members += 1
        self._streamed = header.streamed
        csize = header.compressed_size
        self._remaining = None if self._streamed and csize == 0 else csize
        self._skip = header.encrypted or header.method not in (STORED, DEFLATED)
        if self._skip:
            self.flags.add("encrypted" if header.encrypted else "unsupported:zip-method")
        if self._remaining is None and self._skip:
            self._state = "seek"  # no size and nothing to find the end by: the next header
            return True
        self._taken = 0
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if header.method == DEFLATED else None
        self._state = "data"
        return True

    def _data(self, out: list[bytes]) -> bool:
        if not self._buf:
            return False
        if self._remaining is None and self._inflater is None:
            return self._stored_streamed(out)
        take = len(self._buf) if self._remaining is None else min(self._remaining, len(self._buf))
        chunk = bytes(self._buf[:take])
        del self._buf[:take]
        if self._remaining is not None:
            self._remaining -= take
        if not self._skip:
            if self._inflater is None:
                self._emit(out, chunk)
            elif not self._inflate(out, chunk):
                return False
        if self._inflater is not None and self._inflater.eof:
            self._buf[:0] = self._inflater.unused_data  # the bytes after the stream's end
            self._remaining = 0
        if self._remaining == 0:
            self._inflater = None
            self._state = "descriptor" if self._streamed else "header"
        return self._state != "done"

    def _stored_streamed(self, out: list[bytes]) -> bool:
        """Stored data whose size only the data descriptor after it gives: it ends at the first
        descriptor signature whose compressed-size field is the number of bytes before it."""
        at = self._buf.find(DESCRIPTOR)
        while at >= 0 and at + 12 <= len(self._buf):
            if struct.unpack_from("<I", self._buf, at + 8)[0] == self._taken + at:
                self._emit(out, bytes(self._buf[:at]))
                del self._buf[:at]
                self._state = "descriptor" if self._state != "done" else "done"
                return self._state != "done"
            at = self._buf.find(DESCRIPTOR, at + 1)
        keep = len(self._buf) - at if at >= 0 else min(len(self._buf), 15)  # a split descriptor
        ready = len(self._buf) - keep
        if ready <= 0:
            return False
        self._emit(out, bytes(self._buf[:ready]))
        self._taken += ready
        del self._buf[:ready]
        return self._state != "done"

    def _inflate(self, out: list[bytes], chunk: bytes) -> bool:
        inflater = self._inflater
        assert inflater is not None
        try:
            self._emit(out, inflater.decompress(chunk, PIECE))
            while inflater.unconsumed_tail and not inflater.eof and self._state != "done":
                self._emit(out, inflater.decompress(inflater.unconsumed_tail, PIECE))
        except zlib.error:
            self.flags.add("error:zip_stream")
            self._inflater = None
            self._state = "seek"
        return self._state != "done"

    def _descriptor(self) -> bool:
        """Skip a data descriptor: optional signature, CRC and two sizes of 4 or 8 bytes."""
        at = 4 if self._buf[:4] == DESCRIPTOR else 0
        for size in (12, 20):
            if len(self._buf) < at + size + 4:
                return False
            if bytes(self._buf[at + size : at + size + 4]) in (LOCAL, CENTRAL):
                del self._buf[: at + size]
                self._state = "header"
                return True
        self._state = "seek"
        return True

    def _seek(self) -> bool:
        found = self._buf.find(LOCAL)
        if found < 0:
            del self._buf[: max(0, len(self._buf) - 3)]  # a signature may straddle two pieces
            return False
        del self._buf[:found]
        self._state = "header"
        return True

    def _flush(self) -> list[bytes]:
        out: list[bytes] = []
        if self._inflater is not None and not self._skip:
            try:
                self._emit(out, self._inflater.flush())
            except zlib.error:
                self.flags.add("error:zip_stream")
        self._inflater = None
        return out

    def _emit(self, out: list[bytes], piece: bytes) -> None:
        room = self.max_output - self.output
        if len(piece) >= room:
            piece = piece[: max(room, 0)]
            self.flags.add("limit:zip_stream")
            self._state = "done"
        if piece:
            self.output += len(piece)
            out.append(piece)


def zip_overflow(
    offset: int, kept: bytearray, factory: Callable[[int, bytearray], Sink]
) -> DecodingOverflow[ZipStreamDecoder]:
    """The ZIP decoder at its state at the limit (the kept head decoded again, its inflated tail
    the scanner's history), in front of the scanner ``factory`` opens."""
    decoder = ZipStreamDecoder(DECODE_FACTOR * max(len(kept), 1 << 20))
    history = replay_head(decoder, kept)
    decoder.output = 0  # the limit counts from here
    decoder.members = 0  # members whose local header is past the limit
    decoder.flags.clear()  # block mode reports the head's own
    return DecodingOverflow(decoder, factory(offset, history))
