"""Content-Encoding decoding (gzip, x-gzip, deflate, br, zstd, stacked), incremental and bounded.

``ContentDecoder(codings, max_output)`` takes the encoded body as it arrives (``feed``) and returns
decoded bytes. Codings are listed in the order they were applied (RFC 9110 8.4), so they are undone
from last to first; each stage hands the next at most ``OUTPUT_CHUNK`` bytes at a time, so a small
input never turns into a large allocation before the limits are checked.

Limits, both flagged on the decoder (and from there on the object) rather than silent:

- ``max_output``: decoded bytes kept (the configured object size limit); past it decoding stops
  (``limit == "size"``).
- ``MAX_EXPANSION_RATIO``: decoded bytes per encoded byte, judged once ``RATIO_GRACE_BYTES`` are
  out; past it the body is a decompression bomb and decoding stops (``limit == "ratio"``).

Failures: an unknown coding or a stream that does not decode before producing any output falls
back to the raw bytes (``fallback``), so detection still sees what was sent; a stream that breaks
after producing output keeps what was decoded (``error``). ``deflate`` accepts both the zlib
wrapping RFC 9110 asks for and the raw deflate some servers send.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import IO, Protocol, cast

import brotli  # type: ignore[import-untyped]
import zstandard

# Legitimate text compresses 5-20x and very repetitive exports (CSV of zeros) a few hundred times;
# zlib cannot exceed ~1032x, so past 1000x it is brotli or zstd built to expand. libhtp uses 2048.
MAX_EXPANSION_RATIO = 1000
RATIO_GRACE_BYTES = 1 << 20  # small bodies may expand a lot (a 1 KiB page of spaces) and harm none
OUTPUT_CHUNK = 64 * 1024  # bytes one stage produces per step before the limits are checked
SUPPORTED = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd"})


class _Stop(Exception):
    """Raised inside the zstd writer callback to stop a stream that passed its budget."""


class _Stage(Protocol):
    def push(self, data: bytes) -> None: ...

    def pull(self) -> bytes: ...  # up to about OUTPUT_CHUNK decoded bytes; b"" when starved

    def finished(self) -> bool: ...


class _ZlibStage:
    """gzip (several members allowed) or deflate, zlib-wrapped or raw."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding in ("gzip", "x-gzip")
        self._d: zlib._Decompress | None = None
        self._pending = b""
        self._ended = False  # the stream ended; whatever follows is trailing garbage
        self.trailing = 0  # bytes after the end of the stream that are not another gzip member

    def push(self, data: bytes) -> None:
        if self._ended:
            self.trailing += len(data)
        else:
            self._pending += data

    def pull(self) -> bytes:
        while True:
            if self._d is None:
                if self._gzip:
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif len(self._pending) < 2:
                    return b""
                else:
                    first, second = self._pending[0], self._pending[1]
                    wrapped = first & 0x0F == 8 and ((first << 8) | second) % 31 == 0
                    self._d = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            if self._d.eof:  # between gzip members, or past the end of the stream
                if self._gzip and len(self._pending) < 2:
                    return b""
                if self._gzip and self._pending[:2] == b"\x1f\x8b":
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    self._ended = True
                    self.trailing += len(self._pending)
                    self._pending = b""
                    return b""
            if not self._pending:
                return b""
            out = self._d.decompress(self._pending, OUTPUT_CHUNK)
            self._pending = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            if out or not self._d.eof:
                return out

    def finished(self) -> bool:
        return self._ended or (self._d is not None and self._d.eof)


class _BrotliStage:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self._pending = b""

    def push(self, data: bytes) -> None:
        self._pending += data

    def pull(self) -> bytes:
        if self._d.can_accept_more_data():
            if not self._pending or self._d.is_finished():
                return b""
            data, self._pending = self._pending, b""
            out: bytes = self._d.process(data, output_buffer_limit=OUTPUT_CHUNK)
            return out
        more: bytes = self._d.process(b"", output_buffer_limit=OUTPUT_CHUNK)
        return more

    def finished(self) -> bool:
        return bool(self._d.is_finished())


class _ZstdStage:
    """zstandard has no bounded-output call, so output goes to a writer that stops at a budget.

    The budget is asked of the decoder before each byte of output is accepted, so the bytes held
    here never pass the size limit or what the ratio limit allows for the input seen so far.
    """

    def __init__(self, budget: Callable[[], int]) -> None:
        self._out = bytearray()
        self._budget = budget
        self._produced = 0
        self.stopped = False
        sink = cast(IO[bytes], self)  # only write() is called on it
        self._w = zstandard.ZstdDecompressor().stream_writer(
            sink, write_size=OUTPUT_CHUNK, closefd=False
        )

    def write(self, data: bytes) -> int:  # the stream writer's sink
        self._out += data
        self._produced += len(data)
        if self._produced > self._budget():
            raise _Stop
        return len(data)

    def push(self, data: bytes) -> None:
        if self.stopped:
            return
        try:
            self._w.write(data)
        except _Stop:
            self.stopped = True

    def pull(self) -> bytes:
        out = bytes(self._out[:OUTPUT_CHUNK])
        del self._out[:OUTPUT_CHUNK]
        return out

    def finished(self) -> bool:
        return True  # zstandard does not say whether the frame ended; HTTP framing does


class ContentDecoder:
    """Undoes a Content-Encoding list; see the module docstring."""

    def __init__(
        self,
        codings: list[str],
        max_output: int,
        max_ratio: int = MAX_EXPANSION_RATIO,
        ratio_grace: int = RATIO_GRACE_BYTES,
    ) -> None:
        self.codings = [c for c in codings if c != "identity"]
        self.max_output = max_output
        self.max_ratio = max_ratio
        self.ratio_grace = ratio_grace
        self.input_bytes = 0
        self.output_bytes = 0
        self.error = ""  # "<coding>: <reason>" once decoding failed
        self.fallback = False  # the raw bytes are passed through instead
        self.limit = ""  # "size" or "ratio" once a limit stopped decoding
        self.stopped_by_gap = False
        self.incomplete = False  # the body ended before the encoded stream did
        self._raw = bytearray()  # input kept until the first output, for the fallback
        self._stages: list[_Stage] = []
        unknown = [c for c in self.codings if c not in SUPPORTED]
        if unknown:
            self.error = f"{unknown[0]}: unsupported coding"
            self.fallback = True
            return
        for coding in reversed(self.codings):
            if coding == "br":
                self._stages.append(_BrotliStage())
            elif coding == "zstd":
                self._stages.append(_ZstdStage(self._zstd_budget))
            else:
                self._stages.append(_ZlibStage(coding))

    @property
    def active(self) -> bool:
        return not (self.fallback or self.error or self.limit or self.stopped_by_gap)

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes for ``data`` (raw bytes in fallback, nothing once stopped)."""
        self.input_bytes += len(data)
        if self.fallback or not self._stages:
            return data  # raw bytes, or nothing to undo ("identity")
        if not self.active:
            return b""
        if self.output_bytes == 0:
            self._raw += data
        try:
            self._stages[0].push(data)
            return self._drain()
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            return self._fail(str(exc))

    def gap(self) -> None:
        """Encoded bytes are missing: nothing after them can be decoded."""
        if self.active:
            self.stopped_by_gap = True

    def finish(self) -> bytes:
        """The body ended; returns any decoded bytes still held by the stages."""
        if not self.active or not self._stages:
            return b""
        try:
            out = self._drain()
        except (zlib.error, brotli.error, zstandard.ZstdError) as exc:
            return self._fail(str(exc))
        if self.input_bytes and not all(stage.finished() for stage in self._stages):
            self.incomplete = True
        if self.input_bytes and self.output_bytes == 0 and not out:
            return self._fail("no output")
        return out

    @property
    def trailing_bytes(self) -> int:
        return sum(s.trailing for s in self._stages if isinstance(s, _ZlibStage))

    def _zstd_budget(self) -> int:
        """Decoded bytes a zstd stage may hold now: the size limit or what the ratio allows."""
        by_ratio = max(self.ratio_grace, self.max_ratio * self.input_bytes)
        return min(self.max_output, by_ratio) + OUTPUT_CHUNK

    def _fail(self, reason: str) -> bytes:
        self.error = f"{','.join(self.codings)}: {reason}"
        if self.output_bytes == 0:
            self.fallback = True
            raw, self._raw = bytes(self._raw), bytearray()
            return raw
        return b""

    def _pull(self, index: int) -> bytes:
        stage = self._stages[index]
        while True:
            out = stage.pull()
            if out or index == 0:
                return out
            upstream = self._pull(index - 1)
            if not upstream:
                return b""
            stage.push(upstream)

    def _drain(self) -> bytes:
        out = bytearray()
        while True:
            chunk = self._pull(len(self._stages) - 1)
            if not chunk:
                break
            if self.output_bytes == 0:
                self._raw = bytearray()
            room = self.max_output - self.output_bytes
            if len(chunk) > room:
                chunk = chunk[:room]
                self.limit = "size"
            out += chunk
            self.output_bytes += len(chunk)
            if self.limit:
                break
            if self._over_ratio():
                self.limit = "ratio"
                break
        if not self.limit and any(isinstance(s, _ZstdStage) and s.stopped for s in self._stages):
            self.limit = "size" if self.output_bytes >= self.max_output else "ratio"
        return bytes(out)

    def _over_ratio(self) -> bool:
        return (
            self.output_bytes > self.ratio_grace
            and self.output_bytes > self.max_ratio * self.input_bytes
        )
