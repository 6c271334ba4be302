"""Where capture bytes come from: files, directories, globs, stdin; plain, gzip or zstd.

``expand_inputs`` turns what the user typed into an ordered list of inputs; ``open_stream`` opens one
and transparently decompresses it (recognised by magic bytes, not by file name). ``ByteSource`` gives
the format readers exact reads over large buffered chunks, so a reader never makes a system call per
packet and never holds more than one chunk of a capture in memory.
"""

from __future__ import annotations

import glob
import io
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

from sensor.errors import CaptureFormatError

STDIN = Path("-")
CHUNK_BYTES = 4 << 20  # large reads amortise the call overhead; small enough to stay cache-friendly
# Decompressors lose what a failing read() had decoded, so compressed inputs are read in smaller
# steps: a corrupt or cut file then loses at most this much before the damage point.
COMPRESSED_CHUNK_BYTES = 64 << 10
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CAPTURE_SUFFIXES = (
    ".pcap",
    ".pcapng",
    ".cap",
    ".pcap.gz",
    ".pcapng.gz",
    ".pcap.zst",
    ".pcapng.zst",
)


def expand_inputs(items: list[str] | list[Path]) -> list[Path]:
    """Files as given, directories as their capture files (sorted), globs expanded, ``-`` stdin."""
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if text == "-":
            paths.append(STDIN)
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name.lower().endswith(CAPTURE_SUFFIXES)
            )
            if not found:
                raise CaptureFormatError(
                    f"{path}: directory holds no capture files ({', '.join(CAPTURE_SUFFIXES)})"
                )
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise CaptureFormatError(f"{text}: the pattern matches no file")
            paths.extend(matches)
        else:
            raise CaptureFormatError(f"{path}: no such file")
    return paths


def open_stream(
    path: Path,
) -> tuple[BinaryIO | io.RawIOBase | zstandard.ZstdDecompressionReader, str]:
    """Open ``path`` (or stdin) decompressed; returns the stream and its compression name."""
    try:
        buffered: BinaryIO = (
            sys.stdin.buffer if path == STDIN else path.open("rb", buffering=CHUNK_BYTES)
        )
    except FileNotFoundError:
        raise CaptureFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureFormatError(f"{path}: is a directory; give a capture file") from None
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read: {exc.strerror}") from None
    head = buffered.peek(4)[:4]  # type: ignore[attr-defined]  # a BufferedReader in both cases
    if head.startswith(_GZIP_MAGIC):
        return _GzipStream(buffered), "gzip"
    if head == _ZSTD_MAGIC:
        reader = zstandard.ZstdDecompressor().stream_reader(
            buffered, read_size=COMPRESSED_CHUNK_BYTES
        )
        return reader, "zstd"
    return buffered, "none"


class Readable(Protocol):
    """What the format readers need from a stream."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _GzipStream(io.RawIOBase):
    """gzip decoding that hands out every byte decoded before a corrupt or cut-off point.

    ``gzip.GzipFile`` raises on a truncated file without returning what it had already decoded;
    for evidence that matters, so this decoder returns the data first and reports the damage on
    the next read. Concatenated gzip members are decoded one after the other.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._decoder = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._error: str = ""
        self._started = False  # the current member has begun: ending now means it was cut

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = COMPRESSED_CHUNK_BYTES
        while not self._pending:
            if self._error:
                raise EOFError(self._error)
            block = self._raw.read(COMPRESSED_CHUNK_BYTES)
            if not block:
                if not self._decoder.eof and (self._decoder.unconsumed_tail or self._started):
                    self._error = "compressed file ended before the end-of-stream marker"
                    continue
                return b""
            self._feed(block)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _feed(self, block: bytes) -> None:
        try:
            while block:
                self._started = True
                self._pending += self._decoder.decompress(block)
                if not self._decoder.eof:
                    return
                block = self._decoder.unused_data  # next gzip member, if any
                self._decoder = zlib.decompressobj(wbits=31)
                self._started = False
        except zlib.error as exc:
            self._error = f"corrupt gzip data: {exc}"

    def close(self) -> None:
        self._raw.close()
        super().close()


class ByteSource:
    """Exact reads over a stream, refilled in large chunks; counts the offset for error messages."""

    def __init__(self, stream: Readable, chunk: int = CHUNK_BYTES) -> None:
        self._stream = stream
        self._chunk = chunk
        self._buf = b""
        self._pos = 0
        self.offset = 0  # bytes consumed so far (decompressed)
        self.damaged = ""  # why the underlying stream failed, if it did

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end) without consuming them."""
        if self._pos + n > len(self._buf):
            self._fill(n)
        return self._buf[self._pos : self._pos + n]

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end of the stream (or where it is corrupt)."""
        if n >= self._chunk:
            return self._read_direct(n)  # block reads: no second copy through the buffer
        if self._pos + n > len(self._buf):
            self._fill(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        self.offset += len(data)
        return data

    def _read_direct(self, n: int) -> bytes:
        rest = self._buf[self._pos :]
        parts = self._gather([rest] if rest else [], len(rest), n, 0)
        self._buf, self._pos = b"", 0
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.offset += len(data)
        return data

    def _fill(self, n: int) -> None:
        rest = self._buf[self._pos :]
        self._buf = b"".join(self._gather([rest], len(rest), n, self._chunk))
        self._pos = 0

    def _gather(self, parts: list[bytes], have: int, n: int, least: int) -> list[bytes]:
        """Read from the stream, at least ``least`` bytes a call, until ``parts`` hold ``n``
        bytes, the stream ends, or it is damaged (recorded in ``damaged``, not raised)."""
        while have < n:
            try:
                block = self._stream.read(max(least, n - have))
            except (OSError, EOFError, zstandard.ZstdError) as exc:
                self.damaged = f"{type(exc).__name__}: {exc}"
                break
            if not block:
                break
            parts.append(block)
            have += len(block)
        return parts

    def close(self) -> None:
        self._stream.close()
