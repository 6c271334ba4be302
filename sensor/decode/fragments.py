"""IPv4 and IPv6 fragment reassembly: bounded, on the capture clock, one overlap policy.

Datagrams are keyed by (version, source, destination, identification, protocol for IPv4) plus the
encapsulation context the caller supplies (VLAN tags and tunnels), so equal ids in two tunnels
never mix. When the last hole is filled the reassembler returns the upper-layer protocol and the
datagram's payload.

Overlap policy: **first wins**. Bytes already held are kept and a later fragment only fills holes,
the same rule the TCP reassembler applies to retransmissions, so one policy covers both layers.
Overlaps are counted: ``decode.frag_overlap`` when the bytes agree (duplicates),
``decode.frag_overlap_different_data`` when they do not. A receiver may resolve such a conflict
differently (RFC 5722 tells IPv6 hosts to drop the datagram; Linux drops IPv4 ones too), so the
second count is the evasion signal to look at; the sensor still inspects what it rebuilt.

A non-last fragment whose length is not a multiple of 8 is trimmed to one, as Linux does
(``decode.frag_misaligned``). The first "last fragment" fixes the datagram's length; a fragment
that contradicts it is dropped (``decode.frag_bad_offset``).

Limits: ``FRAGMENT_TIMEOUT`` after a datagram's first fragment it is dropped
(``decode.frag_timeout``); beyond ``max_bytes`` buffered, the oldest datagrams are dropped
(``decode.frag_memory_limit``); a datagram longer than 65,535 bytes (``decode.frag_too_large``) or
with more than ``MAX_FRAGMENTS_PER_DATAGRAM`` fragments (``decode.frag_too_many``) is dropped.
``decode.frag_tiny`` counts non-last fragments under ``MIN_FRAGMENT_BYTES`` (kept, but a classic
way to split a TCP header so filters miss it, RFC 1858).
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from sensor.anomalies import AnomalyCounter
from sensor.decode.ip import MAX_IP_DATAGRAM

FRAGMENT_TIMEOUT = 60.0  # seconds; RFC 8200 and Windows use 60 (Linux 30): keep the longest
MAX_FRAGMENT_BYTES = 32 << 20  # all datagrams in progress; Suricata's default defrag memcap
MAX_FRAGMENTS_PER_DATAGRAM = 2048  # a 64 KiB datagram in 64-byte pieces needs 1024; x2 for dups
MIN_FRAGMENT_BYTES = 64  # Zeek's "excessively small" bound; no real link MTU cuts this small
PIECE_COST = 64  # bytes charged per stored piece and per datagram, so floods of tiny pieces
#                  hit the memory limit by their count, not only by their few payload bytes

FragmentKey = tuple[int, bytes, bytes, int, int, Hashable]


@dataclass(slots=True)
class _Datagram:
    """One datagram being rebuilt: disjoint pieces sorted by offset."""

    started: float
    where: str  # the first fragment's frame, for anomaly examples
    starts: list[int] = field(default_factory=list)
    pieces: list[bytes] = field(default_factory=list)
    held: int = 0  # payload bytes held (pieces never overlap)
    cost: int = PIECE_COST  # what this datagram charges against the memory limit
    length: int = -1  # known once the last fragment arrived
    proto: int = -1  # from the fragment at offset 0
    fragments: int = 0


class FragmentReassembler:
    """Rebuilds fragmented IP datagrams; Sans-IO, time is the capture clock passed in."""

    def __init__(
        self,
        anomalies: AnomalyCounter,
        timeout: float = FRAGMENT_TIMEOUT,
        max_bytes: int = MAX_FRAGMENT_BYTES,
    ) -> None:
        self._anomalies = anomalies
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._datagrams: OrderedDict[FragmentKey, _Datagram] = OrderedDict()  # oldest first
        self._bytes = 0
        self.reassembled = 0
        self.next_expiry = math.inf  # capture time when the oldest datagram times out

    def __len__(self) -> int:
        return len(self._datagrams)

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    def add(
        self,
        key: FragmentKey,
        now: float,
        offset: int,
        more: bool,
        data: bytes,
        proto: int,
        header_len: int,
        where: str,
    ) -> tuple[int, bytes] | None:
        """Take one fragment; (protocol, payload) when it completes its datagram, else None."""
        anomalies = self._anomalies
        if more and len(data) % 8:
            anomalies.count("decode.frag_misaligned", where)
            data = data[: len(data) - len(data) % 8]
        if more and len(data) < MIN_FRAGMENT_BYTES:
            anomalies.count("decode.frag_tiny", where)
        stop = offset + len(data)
        if header_len + stop > MAX_IP_DATAGRAM:
            anomalies.count("decode.frag_too_large", where)
            self._drop(key)
            return None
        dg = self._datagrams.get(key)
        if dg is None:
            dg = self._datagrams[key] = _Datagram(now, where)
            self._bytes += dg.cost
            self.next_expiry = min(self.next_expiry, now + self._timeout)
        dg.fragments += 1
        if dg.fragments > MAX_FRAGMENTS_PER_DATAGRAM:
            anomalies.count("decode.frag_too_many", dg.where)
            self._drop(key)
            return None
        if not self._fits_length(dg, stop, more, where):
            return None
        if offset == 0 and dg.proto < 0:
            dg.proto = proto
        added = self._insert(dg, offset, data, where)
        self._bytes += added
        if dg.length >= 0 and dg.held == dg.length:
            del self._datagrams[key]
            self._bytes -= dg.cost
            self.reassembled += 1
            return dg.proto, b"".join(dg.pieces)
        if self._bytes > self._max_bytes:
            self._shrink()
        return None

    def expire(self, now: float) -> None:
        """Drop datagrams whose first fragment is older than the timeout."""
        horizon = now - self._timeout
        while self._datagrams:
            key, dg = next(iter(self._datagrams.items()))
            if dg.started >= horizon:
                self.next_expiry = dg.started + self._timeout
                return
            self._anomalies.count("decode.frag_timeout", dg.where)
            self._drop(key)
        self.next_expiry = math.inf

    def finish(self) -> None:
        """End of input: count the datagrams that never completed."""
        for dg in self._datagrams.values():
            self._anomalies.count("decode.frag_incomplete_at_end", dg.where)
        self._datagrams.clear()
        self._bytes = 0
        self.next_expiry = math.inf

    # -- internals --------------------------------------------------------------------------

    def _fits_length(self, dg: _Datagram, stop: int, more: bool, where: str) -> bool:
        """Check a fragment against the datagram length; the first last fragment sets it."""
        if not more:
            furthest = dg.starts[-1] + len(dg.pieces[-1]) if dg.starts else 0
            if (dg.length >= 0 and stop != dg.length) or furthest > stop:
                self._anomalies.count("decode.frag_bad_offset", where)
                return False
            dg.length = stop
        elif dg.length >= 0 and stop > dg.length:
            self._anomalies.count("decode.frag_bad_offset", where)
            return False
        return True

    def _insert(self, dg: _Datagram, start: int, data: bytes, where: str) -> int:
        """Store the parts of ``data`` not held yet (first wins); the memory added."""
        stop = start + len(data)
        starts, pieces = dg.starts, dg.pieces
        i = max(bisect.bisect_right(starts, start) - 1, 0)
        pos = start  # everything before pos is held or has been queued
        new: list[tuple[int, bytes]] = []
        overlap = differs = False
        while i < len(starts) and starts[i] < stop:
            p_start, piece = starts[i], pieces[i]
            p_stop = p_start + len(piece)
            i += 1
            if p_stop <= pos:
                continue
            if p_start > pos:
                new.append((pos, data[pos - start : p_start - start]))
            lo, hi = max(p_start, pos), min(p_stop, stop)
            overlap = True
            if piece[lo - p_start : hi - p_start] != data[lo - start : hi - start]:
                differs = True
            pos = hi
        if pos < stop:
            new.append((pos, data[pos - start :]))
        if differs:
            self._anomalies.count("decode.frag_overlap_different_data", where)
        elif overlap:
            self._anomalies.count("decode.frag_overlap", where)
        added = 0
        for p_start, piece in new:
            at = bisect.bisect_left(starts, p_start)
            starts.insert(at, p_start)
            pieces.insert(at, piece)
            dg.held += len(piece)
            added += len(piece) + PIECE_COST
        dg.cost += added
        return added

    def _shrink(self) -> None:
        """Over the memory limit: drop the oldest datagrams until it fits again."""
        while self._bytes > self._max_bytes and self._datagrams:
            key, dg = next(iter(self._datagrams.items()))
            self._anomalies.count("decode.frag_memory_limit", dg.where)
            self._drop(key)

    def _drop(self, key: FragmentKey) -> None:
        dg = self._datagrams.pop(key, None)
        if dg is not None:
            self._bytes -= dg.cost
