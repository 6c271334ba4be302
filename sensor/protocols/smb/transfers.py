"""One SMB connection's session events -> ``TransferObject``s, counted anomalies with the flow id.

The glue between ``SmbSession`` (what the messages say) and ``SmbFiles`` (file content by
offset), with the ``data(side, bytes)`` / ``gap(side, length)`` / ``close()`` interface the
application-layer dispatcher gives every protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sensor.anomalies import AnomalyCounter
from sensor.objects import FlowContext, TransferObject
from sensor.protocols.http.events import Side
from sensor.protocols.smb.files import SmbFiles, SmbLimits
from sensor.protocols.smb.session import (
    FileClosed,
    FileData,
    FileGap,
    FileOpened,
    SmbAnomaly,
    SmbEvent,
    SmbSession,
)

ObjectSink = Callable[[TransferObject], None]


class SmbTransfers:
    """Objects of one SMB connection; ``encrypted`` once an SMB3 transform header was seen."""

    def __init__(
        self,
        *,
        uid: str,
        vlan: tuple[int, ...],
        client: tuple[str, int],
        server: tuple[str, int],
        clock: Callable[[], float],
        sink: ObjectSink,
        anomalies: AnomalyCounter,
        max_object_bytes: int,
        limits: SmbLimits | None = None,
    ) -> None:
        self._uid = uid
        self._sink = sink
        self._anomalies = anomalies
        self._emitted = 0
        self._failed = False
        self.session = SmbSession()
        limits = limits or SmbLimits(max_file_bytes=max_object_bytes)
        self.files = SmbFiles(
            upload=FlowContext(uid, "tcp", *client, *server, vlan),
            download=FlowContext(uid, "tcp", *server, *client, vlan),
            limits=limits,
            clock=clock,
            count=partial(_count, anomalies, uid),  # not a bound method: no reference cycle
        )

    @property
    def encrypted(self) -> bool:
        return self.session.encrypted

    def data(self, side: Side, data: bytes) -> None:
        if not self._failed:
            self._guard(lambda: self.session.feed(side, data))

    def gap(self, side: Side, length: int) -> None:
        if not self._failed:
            self._guard(lambda: self.session.gap(side, length))

    def close(self) -> None:
        if not self._failed:
            self._guard(self.session.close)
        for obj in self.files.finish_all():
            self._emit(obj)

    def _guard(self, step: Callable[[], list[SmbEvent]]) -> None:
        """A parser bug stops parsing this flow (counted), never the audit; files seen so far
        are still emitted when the flow ends."""
        try:
            events = step()
        except Exception as exc:  # the anomaly names it; the audit goes on
            self._failed = True
            self._count("smb.parser_error", f"{type(exc).__name__}: {exc}"[:200])
            return
        self._handle(events)

    def _count(self, name: str, detail: str = "") -> None:
        _count(self._anomalies, self._uid, name, detail)

    def _emit(self, obj: TransferObject) -> None:
        if self.session.encrypted:
            obj.flag("smb_session_encrypted")
        obj.index = self._emitted
        self._emitted += 1
        self._sink(obj)

    def _handle(self, events: list[SmbEvent]) -> None:
        for event in events:
            if isinstance(event, FileData):
                self.files.data(event.side, event.key, event.name, event.offset, event.data)
            elif isinstance(event, FileGap):
                self.files.missing(event.side, event.key, event.name, event.offset, event.length)
            elif isinstance(event, FileOpened):
                self.files.opened(event.key, event.name, event.size, event.alias)
            elif isinstance(event, FileClosed):
                for obj in self.files.closed(event.key):
                    self._emit(obj)
            elif isinstance(event, SmbAnomaly):
                self._count(event.name, event.detail)


def _count(anomalies: AnomalyCounter, uid: str, name: str, detail: str = "") -> None:
    anomalies.count(name, f"{uid}: {detail}" if detail else uid)
