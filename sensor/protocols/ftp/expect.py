"""Expected FTP data connections: the one place where one flow's parser decides about another flow.

A control session announces where its next data connection will be accepted (``expect``: the
227/229 reply's address for passive mode, PORT/EPRT's for active mode). When the flow table opens
a flow, the application layer asks ``claim``: a flow with an announced endpoint (either end, so a
guessed orientation does not matter) is that session's data connection, whatever its bytes look
like. The announced address is matched together with the control connection's own address for the
listening side, since a server behind NAT announces its private address.

Capture order is not send order: a data connection's first packets (or all of it, for a small
file) can be captured before the 227 reply or PORT command that announced it. A flow no protocol
recognised while some FTP control session is open is therefore ``park``-ed: its bytes are held,
bounded, and handed over when a matching announcement arrives (``ftp.data_before_announcement``).

Limits (``FtpDataLimits``, all counted when hit): announcements kept (``ftp.expectations_full``,
oldest dropped), how long an announcement or a finished parked flow waits (capture seconds),
parked flows (``ftp.parked_flows_full``), bytes held per parked flow and in total
(``ftp.parked_bytes_limit``: the excess becomes a gap in the object).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from sensor.anomalies import AnomalyCounter
from sensor.flows.table import Direction, Flow

MAX_EXPECTATIONS = 10_000  # open announcements; a busy server has a few per session
EXPECT_SECONDS = 120.0  # an announced port nobody connects to within this is forgotten
MAX_PARKED_FLOWS = 1_000  # unknown flows held while FTP sessions are open
MAX_PARKED_BYTES_PER_FLOW = 4 << 20  # a data connection racing its 227 reply sends little first
MAX_PARKED_BYTES_TOTAL = 64 << 20


@dataclass(frozen=True, slots=True)
class FtpDataLimits:
    max_expectations: int = MAX_EXPECTATIONS
    expect_seconds: float = EXPECT_SECONDS
    max_parked_flows: int = MAX_PARKED_FLOWS
    max_parked_bytes_per_flow: int = MAX_PARKED_BYTES_PER_FLOW
    max_parked_bytes_total: int = MAX_PARKED_BYTES_TOTAL


class DataSink(Protocol):
    """A data connection's receiver (``ftp_transfers.FtpDataChannel``)."""

    def data(self, direction: Direction, data: bytes) -> None: ...

    def gap(self, direction: Direction, length: int) -> None: ...

    def close(self) -> None: ...

    def quiet(self, direction: Direction) -> int:
        """How many of the direction's next bytes may arrive late and in one call with the same
        result (``sensor.app.AppLayerHandler.quiet``)."""
        ...


class DataOwner(Protocol):
    """The control session that announced a data connection."""

    def open_channel(self, flow: Flow, mode: str) -> DataSink: ...


@dataclass(slots=True)
class _Expectation:
    hosts: frozenset[str]
    port: int
    owner: DataOwner
    mode: str
    deadline: float


class ParkedFlow:
    """A flow that may be a data connection announced later: its bytes, held until then."""

    def __init__(self, table: DataExpectations, flow: Flow) -> None:
        self._table = table
        self.flow = flow
        self._events: list[tuple[Direction, bytes | int]] = []
        self.held = 0
        self.closed = False
        self.limited = False  # the byte limit was hit (counted once); later bytes only counted
        self._missed: dict[Direction, int] = {}
        self.bound: DataSink | None = None

    def data(self, direction: Direction, data: bytes) -> None:
        if self.bound is not None:
            self.bound.data(direction, data)
            return
        room = 0 if self.limited else self._table.room(self, len(data))
        if room:
            self._events.append((direction, data[:room]))
            self.held += room
        if room < len(data):
            if not self.limited:
                self.limited = True
                self._table.count("ftp.parked_bytes_limit", self.flow.uid)
            self.gap(direction, len(data) - room)

    def gap(self, direction: Direction, length: int) -> None:
        if self.bound is not None:
            self.bound.gap(direction, length)
        elif self.limited:  # nothing is held after the limit: only how much was missed
            self._missed[direction] = self._missed.get(direction, 0) + length
        else:
            self._events.append((direction, length))

    def quiet(self, direction: Direction) -> int:
        """Held bytes count against shared limits and wait for an announcement: none while
        parked; the channel's answer once bound."""
        return self.bound.quiet(direction) if self.bound is not None else 0

    def close(self) -> None:
        if self.bound is not None:
            self.bound.close()
        else:
            self.closed = True

    def bind(self, sink: DataSink) -> None:
        """The announcement arrived: replay what was held, in order."""
        self.bound = sink
        for direction, item in self._events:
            if isinstance(item, bytes):
                sink.data(direction, item)
            else:
                sink.gap(direction, item)
        self._events = []
        for direction, length in self._missed.items():
            sink.gap(direction, length)
        if self.closed:
            sink.close()


class DataExpectations:
    """Announced data connections and parked flows of one capture; see the module docstring."""

    def __init__(self, anomalies: AnomalyCounter, limits: FtpDataLimits | None = None) -> None:
        self._anomalies = anomalies
        self.limits = limits or FtpDataLimits()
        self._expected: OrderedDict[int, _Expectation] = OrderedDict()  # oldest first
        self._by_port: dict[int, list[int]] = {}  # announced port -> keys, so claims are O(1)
        self._parked: OrderedDict[str, ParkedFlow] = OrderedDict()
        self._parked_bytes = 0
        self._key = 0
        self.open_sessions = 0

    def count(self, name: str, detail: str = "") -> None:
        self._anomalies.count(name, detail)

    def expect(
        self, hosts: frozenset[str], port: int, owner: DataOwner, mode: str, now: float
    ) -> None:
        """A session announced ``hosts``:``port``; a parked flow that matches is bound at once."""
        for uid, parked in list(self._parked.items()):
            if parked.bound is None and _matches(parked.flow, hosts, port):
                self.count("ftp.data_before_announcement", parked.flow.uid)
                self._forget(uid)
                parked.bind(owner.open_channel(parked.flow, mode))
                return
        self._expire(now)
        if len(self._expected) >= self.limits.max_expectations:
            self.count("ftp.expectations_full", str(self.limits.max_expectations))
            self._drop(next(iter(self._expected)))
        self._key += 1
        self._expected[self._key] = _Expectation(
            hosts, port, owner, mode, now + self.limits.expect_seconds
        )
        self._by_port.setdefault(port, []).append(self._key)

    def claim(self, flow: Flow) -> DataSink | None:
        """The data channel for a new flow that was announced, or None."""
        if not self._expected:
            return None
        self._expire(flow.start)
        for port in (flow.resp_port, flow.orig_port):
            for key in self._by_port.get(port, ()):
                expected = self._expected[key]
                if _matches(flow, expected.hosts, expected.port):
                    self._drop(key)
                    return expected.owner.open_channel(flow, expected.mode)
        return None

    def _drop(self, key: int) -> None:
        expected = self._expected.pop(key)
        keys = self._by_port[expected.port]
        keys.remove(key)
        if not keys:
            del self._by_port[expected.port]

    def park(self, flow: Flow) -> ParkedFlow | None:
        """Hold an unrecognised flow while FTP control sessions are open; None otherwise."""
        if self.open_sessions <= 0 or self.limits.max_parked_flows <= 0:
            return None
        self._expire(flow.last)
        if len(self._parked) >= self.limits.max_parked_flows:
            self.count("ftp.parked_flows_full", str(self.limits.max_parked_flows))
            self._forget(next(iter(self._parked)))
        parked = ParkedFlow(self, flow)
        self._parked[flow.uid] = parked
        return parked

    def room(self, parked: ParkedFlow, wanted: int) -> int:
        limits = self.limits
        room = min(
            wanted,
            limits.max_parked_bytes_per_flow - parked.held,
            limits.max_parked_bytes_total - self._parked_bytes,
        )
        room = max(room, 0)
        self._parked_bytes += room
        return room

    def _forget(self, uid: str) -> None:
        parked = self._parked.pop(uid, None)
        if parked is not None:
            self._parked_bytes -= parked.held

    def _expire(self, now: float) -> None:
        while self._expected:
            key, expected = next(iter(self._expected.items()))
            if expected.deadline >= now:
                break
            self._drop(key)
        horizon = now - self.limits.expect_seconds
        for uid, parked in list(self._parked.items()):
            if parked.closed and parked.flow.last < horizon:
                self._forget(uid)


def _matches(flow: Flow, hosts: frozenset[str], port: int) -> bool:
    return (flow.resp_port == port and flow.resp_ip in hosts) or (
        flow.orig_port == port and flow.orig_ip in hosts
    )
