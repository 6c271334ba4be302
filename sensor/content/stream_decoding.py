"""A decoder in front of the stream scanner, for the part of an object past the size limit.

Past ``limits.max_object_bytes`` an object's bytes go to the stream scanner
(``detectors.streaming``) as they arrive. Some objects need decoding first: a mail's MIME leaves
(``mime_stream.py``), a ZIP archive's members (``zip_stream.py``). Both decoders are Sans-IO
(``feed``, ``gap``, ``finish`` return decoded pieces); ``DecodingOverflow`` connects one to the
scanner, and ``replay_head`` brings a decoder to its state at the limit by decoding the kept head
again, whose last decoded bytes become the scanner's history.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

HEAD_SLICE = 1 << 20  # the kept head is decoded this much at a time when streaming begins
HISTORY = 4096  # decoded bytes before the limit handed to the scanner (>= its margin)


class StreamDecoder(Protocol):
    def feed(self, data: bytes) -> list[bytes]: ...
    def gap(self, length: int) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...


class Sink(Protocol):  # sensor.objects.OverflowSink (that module imports the decoders)
    def feed(self, chunk: bytes) -> None: ...
    def gap(self, length: int) -> None: ...


D = TypeVar("D", bound=StreamDecoder)


def replay_head(decoder: StreamDecoder, kept: bytearray) -> bytearray:
    """Feed the kept head to ``decoder``; the last ``HISTORY`` decoded bytes."""
    history = bytearray()
    for at in range(0, len(kept), HEAD_SLICE):
        for piece in decoder.feed(bytes(kept[at : at + HEAD_SLICE])):
            history += piece
            del history[:-HISTORY]
    return history


class DecodingOverflow(Generic[D]):
    """The stream scanner (``sink``) behind ``decoder``: an object's bytes past the limit, decoded."""

    def __init__(self, decoder: D, sink: Sink) -> None:
        self.decoder = decoder
        self.sink = sink

    def feed(self, chunk: bytes) -> None:
        for piece in self.decoder.feed(chunk):
            self.sink.feed(piece)

    def gap(self, length: int) -> None:
        for piece in self.decoder.gap(length):
            self.sink.feed(piece)
        self.sink.gap(length)

    def close(self) -> Sink:
        """The object ended: the decoder's tail fed; the scanner, for inspection."""
        for piece in self.decoder.finish():
            self.sink.feed(piece)
        return self.sink
