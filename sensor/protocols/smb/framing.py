"""NetBIOS session framing of one direction, with gaps and resynchronisation, Sans-IO.

``NbssFramer.feed(data)`` returns each whole NetBIOS session message's payload (a ``Frame``) and
the names of anomalies met on the way. Gaps: a gap inside a message whose length is known is
zero-filled and remembered as a hole of the frame, so framing stays in step and the bytes around
the hole can still be used; a gap that swallows a message boundary loses sync
(``smb.gap_lost_sync``) and framing resumes at the next bytes that look like a NetBIOS header
followed by an SMB header (``smb.gap_resync``). ``finish()`` hands over a message the flow ended
inside, its missing tail a hole (``smb.truncated_message``).

The buffer remembers where the current message starts and compacts lazily, so input trickled in
one byte at a time is not quadratic; a message is at most the 16 MiB a 24-bit length allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sensor.protocols.smb import records as r

RESYNC_TAIL = 16  # bytes kept while probing, so a header split across segments is still seen

Holes = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Frame:
    payload: memoryview  # over immutable bytes: slices may be kept without copying
    holes: Holes  # zero-filled ranges of ``payload`` that were never captured


FramerOutput = list[Frame | str]  # frames in order, interleaved with anomaly names


@dataclass(slots=True)
class NbssFramer:
    buf: bytearray = field(default_factory=bytearray)
    pos: int = 0  # start of the current message in ``buf``
    need: int | None = None  # total bytes of the current message (NetBIOS header included)
    holes: Holes = field(default_factory=list)  # relative to ``pos``
    lost: bool = False

    def feed(self, data: bytes) -> FramerOutput:
        out: FramerOutput = []
        self.buf += data
        if self.lost:
            self._probe(out)
        self._frames(out)
        return out

    def gap(self, length: int) -> FramerOutput:
        out: FramerOutput = []
        if self.lost or length <= 0:
            return out
        held = len(self.buf) - self.pos
        if self.need is not None:
            fill = min(length, self.need - held)
            self.holes.append((held, held + fill))
            self.buf += bytes(fill)
            length -= fill
            self._frames(out)
        if length > 0:
            self._lose(out, "smb.gap_lost_sync")
        return out

    def finish(self) -> FramerOutput:
        """The flow ended: a message cut short is parsed with its missing tail as a hole."""
        held = len(self.buf) - self.pos
        if self.lost or not held:
            return []
        out: FramerOutput = ["smb.truncated_message"]
        if self.need is not None:
            out += self.gap(self.need - held)
        return out

    def _lose(self, out: FramerOutput, name: str) -> None:
        out.append(name)
        self.buf.clear()
        self.pos = 0
        self.need = None
        self.holes = []
        self.lost = True

    def _probe(self, out: FramerOutput) -> None:
        """Find the next plausible NetBIOS + SMB header in the bytes after a lost gap."""
        buf = self.buf
        search = 0
        while True:
            at = buf.find(b"SMB", search)
            if at < 0:
                break
            start = at - 5
            search = at + 1
            if start < 0 or buf[start] != 0 or buf[at - 1] not in (0xFE, 0xFF, 0xFD, 0xFC):
                continue
            length = r.nbss_length(buf[start : start + 4]) or 0
            if length < r.SMB1_HEADER:
                continue
            if buf[at - 1] == 0xFE and len(buf) >= start + 4 + 6 and r.u16(buf, start + 8) != 64:
                continue
            del buf[:start]
            self.lost = False
            out.append("smb.gap_resync")
            return
        keep = buf[-RESYNC_TAIL:]
        buf.clear()
        buf += keep

    def _frames(self, out: FramerOutput) -> None:
        buf = self.buf
        while not self.lost:
            held = len(buf) - self.pos
            if self.need is None:
                if held < r.NBSS_HEADER:
                    break
                length = r.nbss_length(buf[self.pos : self.pos + 4])
                if length is None:  # not a session message: look for the next one
                    rest = bytes(buf[self.pos + 1 :])
                    self._lose(out, "smb.bad_nbss_header")
                    buf += rest
                    self._probe(out)
                    continue
                self.need = r.NBSS_HEADER + length
            if held < self.need:
                break
            start, end = self.pos + r.NBSS_HEADER, self.pos + self.need
            holes = [(a - r.NBSS_HEADER, b - r.NBSS_HEADER) for a, b in self.holes]
            kind = buf[self.pos]
            payload = memoryview(bytes(memoryview(buf)[start:end]))
            self.pos, self.need, self.holes = end, None, []
            if payload and kind == r.SESSION_MESSAGE:  # not session requests, keep-alives...
                out.append(Frame(payload, holes))
        if self.pos and (self.pos > len(buf) // 2 or self.pos == len(buf)):
            del buf[: self.pos]
            self.pos = 0
