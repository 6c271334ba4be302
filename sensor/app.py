"""Application layer dispatch: choose a parser per flow and turn its events into objects.

Protocols are recognised by content, not port. The first bytes of each direction are held until
one of them decides: a stream that starts with an HTTP request line makes the flow HTTP, and the
other direction then carries its responses (held bytes are replayed, client side first). When the
capture missed the handshake and the flow table guessed the orientation wrong, the requests arrive
from the responder: the roles are swapped (``app.http_roles_swapped``) so uploads are still what
the HTTP client sent. A stream whose server speaks first with a status line (the request was not
captured) is HTTP too, its responses unpaired.

Streams nobody parses are only counted; their bytes are not kept: the handler tells the flow
(``Flow.discard_payload``) so the reassembler stops copying them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensor.anomalies import AnomalyCounter
from sensor.flows.table import Direction, Flow
from sensor.objects import TransferObject
from sensor.protocols.http import Side
from sensor.protocols.http_transfers import HttpTransfers

_HTTP_REQUEST = re.compile(rb"^\s*[A-Z][A-Z0-9_-]{2,15} \S")
_HTTP_RESPONSE = re.compile(rb"^HTTP/1\.[01] \d")
# Bytes (or one line) a direction needs before it decides whether the flow is HTTP. Either
# direction reaching it decides, so at most this plus one segment per direction is ever held.
SNIFF_BYTES = 16

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
        self._held: dict[Direction, bytearray] = {
            Direction.TO_RESPONDER: bytearray(),
            Direction.TO_ORIGINATOR: bytearray(),
        }
        self._http: HttpTransfers | None = None
        self._client_direction = Direction.TO_RESPONDER
        self._ignored = False
        self.protocol = ""

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None:
        if self._ignored:
            return
        if self._http is None:
            self._held[direction] += data
            self._sniff()
            return
        self._http.data(self._side(direction), data)

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None:
        if self._ignored:
            return
        if self._http is None:
            self._anomalies.count("app.gap_before_protocol_known", flow.uid)
            self._ignore()
            return
        self._http.gap(self._side(direction), length)

    def on_close(self, flow: Flow) -> None:
        if self._http is None and not self._ignored:
            self._sniff(final=True)
        if self._http is not None:
            self._http.close()

    def _side(self, direction: Direction) -> Side:
        return Side.CLIENT if direction is self._client_direction else Side.SERVER

    def _ignore(self) -> None:
        self._ignored = True
        for held in self._held.values():
            held.clear()
        self._flow.discard_payload()

    def _sniff(self, final: bool = False) -> None:
        """Decide the protocol from the held bytes once a direction has enough of them."""
        up, down = self._held[Direction.TO_RESPONDER], self._held[Direction.TO_ORIGINATOR]

        def ready(held: bytearray) -> bool:
            return bool(held) and (final or len(held) >= SNIFF_BYTES or b"\n" in held)

        if ready(up):
            if _HTTP_REQUEST.match(up):
                self._start_http(Direction.TO_RESPONDER)
            elif _HTTP_RESPONSE.match(up) and not (down and not _HTTP_REQUEST.match(down)):
                self._start_http(Direction.TO_ORIGINATOR)
            else:
                self._ignore()
        elif ready(down):
            if _HTTP_REQUEST.match(down):
                self._start_http(Direction.TO_ORIGINATOR)
            elif _HTTP_RESPONSE.match(down):
                self._start_http(Direction.TO_RESPONDER)
            else:
                self._ignore()  # the server speaks first: SMTP, FTP, ... not parsed here

    def _start_http(self, client_direction: Direction) -> None:
        flow = self._flow
        self._client_direction = client_direction
        client = (flow.orig_ip, flow.orig_port)
        server = (flow.resp_ip, flow.resp_port)
        if client_direction is Direction.TO_ORIGINATOR:
            self._anomalies.count("app.http_roles_swapped", flow.uid)
            client, server = server, client
        self.protocol = "http"
        self._http = HttpTransfers(
            uid=flow.uid,
            vlan=flow.vlan,
            client=client,
            server=server,
            clock=lambda: flow.last,
            sink=self._sink,
            anomalies=self._anomalies,
            max_object_bytes=self._max_object_bytes,
        )
        server_direction = (
            Direction.TO_ORIGINATOR
            if client_direction is Direction.TO_RESPONDER
            else Direction.TO_RESPONDER
        )
        for direction in (client_direction, server_direction):
            held = bytes(self._held[direction])
            self._held[direction].clear()
            if held:
                self._http.data(self._side(direction), held)
