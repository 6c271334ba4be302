"""Application layer dispatch: choose a parser per flow and turn its events into objects.

Protocols are recognised by content, not port: a client stream that starts with an HTTP request line
gets the HTTP parser on any port. Streams nobody parses are only counted; their bytes are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensor.anomalies import AnomalyCounter
from sensor.flows.table import Direction, Flow
from sensor.objects import FlowContext, TransferObject
from sensor.protocols.http1 import (
    BodyData,
    BodyGap,
    Http1RequestParser,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
)

_HTTP_START = re.compile(rb"^\s*[A-Z]{3,16} \S")
SNIFF_BYTES = 16  # bytes needed to decide whether a client stream is HTTP

ObjectSink = Callable[[TransferObject], None]


class AppLayerHandler:
    """Receives one flow's reassembled streams (a ``FlowHandler``) and emits objects."""

    def __init__(
        self, flow: Flow, sink: ObjectSink, anomalies: AnomalyCounter, max_object_bytes: int
    ) -> None:
        self._flow = flow
        self._sink = sink
        self._anomalies = anomalies
        self._max_object_bytes = max_object_bytes
        self._sniffed = bytearray()
        self._http: Http1RequestParser | None = None
        self._ignored = False
        self._current: TransferObject | None = None
        self._objects = 0
        self.protocol = ""

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None:
        if direction is not Direction.TO_RESPONDER or self._ignored:
            return  # responses (downloads) arrive with the application-layer issue
        if self._http is None:
            self._sniffed += data
            if len(self._sniffed) < SNIFF_BYTES and b"\n" not in self._sniffed:
                return
            if not _HTTP_START.match(self._sniffed):
                self._ignored = True
                self._sniffed.clear()
                return
            self._http = Http1RequestParser()
            self.protocol = "http"
            data, self._sniffed = bytes(self._sniffed), bytearray()
        self._handle(self._http.feed(data))

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None:
        if direction is not Direction.TO_RESPONDER or self._ignored:
            return
        if self._http is None:
            self._anomalies.count("app.gap_before_protocol_known", flow.uid)
            self._ignored = True
            return
        self._handle(self._http.gap(length))

    def on_close(self, flow: Flow) -> None:
        if self._http is not None:
            self._handle(self._http.close())

    def _handle(self, events: list[HttpEvent]) -> None:
        for event in events:
            if isinstance(event, RequestHead):
                self._start(event)
            elif isinstance(event, BodyData):
                self._append(event.data)
            elif isinstance(event, BodyGap):
                if self._current is not None:
                    self._current.gap_bytes += event.length
            elif isinstance(event, MessageEnd):
                self._finish(event.complete)
            elif isinstance(event, ParseAnomaly):
                self._anomalies.count(event.name, f"{self._flow.uid}: {event.detail}")

    def _start(self, head: RequestHead) -> None:
        flow = self._flow
        host = head.header("Host") or flow.resp_ip
        target = head.target
        url = target if target.startswith(("http://", "https://")) else f"http://{host}{target}"
        length = head.header("Content-Length")
        self._current = TransferObject(
            flow=FlowContext(
                flow.uid,
                "tcp",
                flow.orig_ip,
                flow.orig_port,
                flow.resp_ip,
                flow.resp_port,
                flow.vlan,
            ),
            protocol="http",
            direction="upload",
            index=self._objects,
            timestamp=flow.last,
            method=head.method,
            url=url,
            host=host,
            content_type=head.header("Content-Type") or "",
            declared_length=int(length) if length and length.isdigit() else None,
        )
        self._objects += 1

    def _append(self, data: bytes) -> None:
        obj = self._current
        if obj is None:
            return
        room = self._max_object_bytes - len(obj.body)
        if len(data) > room:
            if not obj.truncated:
                self._anomalies.count("objects.truncated_at_size_limit", self._flow.uid)
            obj.truncated = True
            data = data[: max(room, 0)]
        obj.body += data

    def _finish(self, complete: bool) -> None:
        obj, self._current = self._current, None
        if obj is None:
            return
        obj.complete = complete and not obj.gap_bytes
        if obj.body or obj.gap_bytes:
            self._sink(obj)
