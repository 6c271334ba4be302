"""Application layer dispatch: choose a parser per flow and turn its events into objects.

Protocols are recognised by content, not port (``sensor.protocols.detect``): the first bytes of
each direction are held until they decide HTTP, SMTP or FTP control, then replayed into that
protocol's transfers object. When the capture missed the handshake and the flow table guessed the
orientation wrong, the client is the responder: the roles are swapped (``app.http_roles_swapped``,
``app.smtp_roles_swapped``, ...) so uploads are still what the client sent. A stream whose server
speaks first with a status line (the request was not captured) is HTTP too, its responses unpaired.

FTP data connections are the exception to "content decides": a flow whose endpoint an FTP control
session announced (``sensor.protocols.ftp.expect``) is that session's data at once, and a flow
nothing recognised while FTP sessions are open is parked there, bounded, in case its announcement
was captured after its first bytes.

Streams nobody parses are only counted; their bytes are not kept: the handler tells the flow
(``Flow.discard_payload``) so the reassembler stops copying them. The same happens once a parser
says it reads nothing more (``payload_done``: the TLS hellos were read, on a direct TLS flow, after
SMTP STARTTLS or FTP AUTH TLS, or inside an HTTP CONNECT tunnel); for a tunnel the bytes the flow
then counts are handed back to it as a number at the end, so its objects keep their sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sensor.anomalies import AnomalyCounter
from sensor.content.mime import MimeLimits
from sensor.flows.table import Direction, Flow
from sensor.names import NameCache
from sensor.objects import TransferObject
from sensor.protocols.detect import detect
from sensor.protocols.dns import DnsNames, DnsTcp
from sensor.protocols.ftp.expect import DataExpectations, DataSink
from sensor.protocols.ftp_transfers import FtpTransfers
from sensor.protocols.http import Side
from sensor.protocols.http_transfers import HttpTransfers
from sensor.protocols.smb import SmbTransfers
from sensor.protocols.smb.records import smb_client_is_originator
from sensor.protocols.smtp_transfers import SmtpTransfers
from sensor.protocols.tls_meta import SwitchesToTls, TlsMetadata

ObjectSink = Callable[[TransferObject], None]
# Parsers that can say they read nothing more of a connection (``payload_done``): TLS hellos read,
# directly, after STARTTLS / AUTH TLS, or inside an HTTP CONNECT tunnel. Checked by type so other
# parsers pay nothing per segment.
_FINISHING = (HttpTransfers, TlsMetadata, SwitchesToTls)
Endpoint = tuple[str, int]


class _Parser(Protocol):
    """What every protocol's transfers object offers the dispatcher."""

    def data(self, side: Side, data: bytes) -> None: ...

    def gap(self, side: Side, length: int) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AppContext:
    """What the parsers of one capture share across flows."""

    expectations: DataExpectations | None = None  # FTP data connections announced / parked
    mime_limits: MimeLimits | None = None
    names: NameCache | None = None  # address -> name, fed by TLS server names
    dns: DnsNames | None = None  # DNS answers -> names (UDP from the decoder, TCP here)


class AppLayerHandler:
    """Receives one flow's reassembled streams (a ``FlowHandler``) and emits objects.

    It accepts coalesced runs (``FlowHandler.coalesce``) only as far as ``quiet`` allows: plain
    body bytes that change nothing but the object they grow, so every output stays the
    per-segment one (the clock, events and anomalies only happen outside quiet bytes).
    """

    coalesce = True

    def __init__(
        self,
        flow: Flow,
        sink: ObjectSink,
        anomalies: AnomalyCounter,
        max_object_bytes: int,
        context: AppContext | None = None,
    ) -> None:
        context = context or AppContext()
        expectations = context.expectations
        self._flow = flow
        self._mime_limits = context.mime_limits
        self._names = context.names
        self._dns = context.dns
        self._sink = sink
        self._anomalies = anomalies
        self._max_object_bytes = max_object_bytes
        self._held: dict[Direction, bytearray] = {
            Direction.TO_RESPONDER: bytearray(),
            Direction.TO_ORIGINATOR: bytearray(),
        }
        self._parser: _Parser | None = None
        self._client_direction = Direction.TO_RESPONDER
        self._ignored = False
        self._counting: dict[Direction, int] | None = None  # bytes delivered when copying stopped
        self.protocol = ""
        # FTP data connections: announced ones are claimed at once, unknown ones may be parked
        self._expectations = expectations
        self._data: DataSink | None = expectations.claim(flow) if expectations else None
        if self._data is not None:
            self.protocol = "ftp-data"

    def on_data(self, flow: Flow, direction: Direction, offset: int, data: bytes) -> None:
        if self._data is not None:
            self._data.data(direction, data)
            return
        if self._ignored:
            return
        if self._parser is None:
            self._held[direction] += data
            self._sniff()
            return
        if self._counting is not None:  # produced before copying stopped: not counted twice
            self._counting[direction] += len(data)
        parser = self._parser
        parser.data(self._side(direction), data)
        if self._counting is None and isinstance(parser, _FINISHING) and parser.payload_done:
            self._counting = {d: flow.side(d).stream.bytes_delivered for d in Direction}
            flow.discard_payload()

    def quiet(self, direction: Direction) -> int:
        """How many of the direction's next bytes may arrive late (after calls for the other
        direction that came between them on the wire) and in one call with the same result:
        an HTTP body's plain bytes (``HttpTransfers.quiet``) or an FTP data connection's
        (``FtpDataChannel.quiet``); 0 for everything else, which keeps per-segment delivery."""
        if self._data is not None:
            return self._data.quiet(direction)
        parser = self._parser
        if self._counting is not None or not isinstance(parser, HttpTransfers):
            return 0
        return parser.quiet(self._side(direction))

    def on_gap(self, flow: Flow, direction: Direction, offset: int, length: int) -> None:
        if self._data is not None:
            self._data.gap(direction, length)
            return
        if self._ignored:
            return
        if self._parser is None:
            self._anomalies.count("app.gap_before_protocol_known", flow.uid)
            self._ignore()
            return
        self._parser.gap(self._side(direction), length)

    def on_close(self, flow: Flow) -> None:
        if self._parser is None and self._data is None and not self._ignored:
            self._sniff(final=True)
        if self._data is not None:
            self._data.close()
        elif self._parser is not None:
            if self._counting is not None and isinstance(self._parser, HttpTransfers):
                for direction, before in self._counting.items():
                    after = flow.side(direction).stream.bytes_delivered
                    self._parser.counted_without_payload(self._side(direction), after - before)
            self._parser.close()
            if isinstance(self._parser, SmbTransfers) and self._parser.encrypted:
                self.protocol = "smb,encrypted"  # SMB3 transform headers: the flow record says so
            elif getattr(self._parser, "encrypted", False) and self.protocol != "tls":
                self.protocol += ",tls"  # STARTTLS / AUTH TLS: the flow record says so

    def _side(self, direction: Direction) -> Side:
        return Side.CLIENT if direction is self._client_direction else Side.SERVER

    def _ignore(self) -> None:
        self._ignored = True
        for held in self._held.values():
            held.clear()
        self._flow.discard_payload()

    def _sniff(self, final: bool = False) -> None:
        """Decide the protocol from the held bytes (``sensor.protocols.detect``)."""
        flow = self._flow
        up, down = self._held[Direction.TO_RESPONDER], self._held[Direction.TO_ORIGINATOR]
        smb = smb_client_is_originator(up, down)  # NetBIOS + SMB header, any port
        if smb is not None:
            self._start_smb(Direction.TO_RESPONDER if smb else Direction.TO_ORIGINATOR)
            return
        verdict = detect(bytes(up), bytes(down), final, flow.resp_port, flow.orig_port)
        if verdict is None:
            return
        if verdict.protocol == "http":
            self._start_http(verdict.client)
        elif verdict.protocol == "tls":
            self._start_tls(verdict.client)
        elif verdict.protocol == "dns" and self._dns is not None:
            self._client_direction = verdict.client
            self.protocol = "dns"
            self._parser = DnsTcp(self._dns, flow.uid)
            self._replay_held(verdict.client)
        elif verdict.protocol in ("smtp", "ftp"):
            self._start_dialogue(verdict.protocol, verdict.client)
        elif self._expectations is not None and (parked := self._expectations.park(flow)):
            self._data = parked  # perhaps an FTP data connection announced later
            for direction, held in self._held.items():
                if held:
                    parked.data(direction, bytes(held))
                held.clear()
        else:
            self._ignore()

    def _start_tls(self, client_direction: Direction) -> None:
        """TLS: the hellos become flow metadata; nothing after them is read or kept."""
        self._client_direction = client_direction
        self.protocol = "tls"
        _, server = self._endpoints(client_direction)
        names = self._names
        self._parser = TlsMetadata(
            uid=self._flow.uid,
            server_ip=server[0],
            anomalies=self._anomalies,
            observe_name=names.observe if names is not None else None,
        )
        self._replay_held(client_direction)

    @property
    def metadata(self) -> dict[str, Any]:
        """Protocol metadata for the flow record (TLS hellos), {} when there is none."""
        meta = getattr(self._parser, "metadata", None)
        return dict(meta) if isinstance(meta, dict) else {}

    def _endpoints(self, client_direction: Direction) -> tuple[Endpoint, Endpoint]:
        flow = self._flow
        client = (flow.orig_ip, flow.orig_port)
        server = (flow.resp_ip, flow.resp_port)
        if client_direction is Direction.TO_ORIGINATOR:
            self._anomalies.count(f"app.{self.protocol}_roles_swapped", flow.uid)
            client, server = server, client
        return client, server

    def _transfer_args(self, client: Endpoint, server: Endpoint) -> dict[str, Any]:
        """What every protocol's transfers object is built with (each adds its own limits)."""
        flow = self._flow
        return {
            "uid": flow.uid,
            "vlan": flow.vlan,
            "client": client,
            "server": server,
            "clock": lambda: flow.last,
            "sink": self._sink,
            "anomalies": self._anomalies,
            "max_object_bytes": self._max_object_bytes,
        }

    def _start_dialogue(self, protocol: str, client_direction: Direction) -> None:
        """SMTP or FTP control: a command/reply dialogue parser for the flow."""
        self._client_direction = client_direction
        self.protocol = protocol
        client, server = self._endpoints(client_direction)
        if protocol == "smtp":
            self._parser = SmtpTransfers(
                **self._transfer_args(client, server),
                mime_limits=self._mime_limits,
            )
        else:
            self._parser = FtpTransfers(
                **self._transfer_args(client, server),
                expectations=self._expectations,
            )
        self._replay_held(client_direction)

    def _replay_held(self, client_direction: Direction, client_first: bool = False) -> None:
        """Hand the bytes held while sniffing to the new parser: the server's greeting first for
        dialogue protocols, the client's request first for request/response ones."""
        server_direction = (
            Direction.TO_ORIGINATOR
            if client_direction is Direction.TO_RESPONDER
            else Direction.TO_RESPONDER
        )
        order = (
            (client_direction, server_direction)
            if client_first
            else (server_direction, client_direction)
        )
        for direction in order:
            held = bytes(self._held[direction])
            self._held[direction].clear()
            if held and self._parser is not None:
                self._parser.data(self._side(direction), held)

    def _start_smb(self, client_direction: Direction) -> None:
        self._client_direction, self.protocol = client_direction, "smb"
        client, server = self._endpoints(client_direction)
        self._parser = SmbTransfers(**self._transfer_args(client, server))
        self._replay_held(client_direction, client_first=True)

    def _start_http(self, client_direction: Direction) -> None:
        self._client_direction = client_direction
        self.protocol = "http"
        client, server = self._endpoints(client_direction)
        self._parser = HttpTransfers(**self._transfer_args(client, server))
        self._replay_held(client_direction, client_first=True)
