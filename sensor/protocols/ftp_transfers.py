"""FTP control events + data connections -> ``TransferObject``: one object per file transferred.

``FtpTransfers`` parses a control connection (``FtpControl``) and registers each data-connection
announcement with the capture's ``DataExpectations``. Each data connection that arrives becomes an
``FtpDataChannel``; channels are paired, in order, with the transfer commands (STOR, STOU, APPE,
RETR, LIST, NLST, MLSD), whichever of the two the capture shows first. A channel's bytes become an
object once the channel closed and its command's final reply came (or the control connection
ended): direction upload for STOR/STOU/APPE, download for RETR and listings; without a command
(never captured), the sender decides: bytes from the control client's address are an upload.

The object carries the file name, the command, the REST offset (``content_range`` ``bytes N-``),
the data flow's addresses oriented sender -> receiver and the control flow id
(``related_flow``). A transfer whose final reply is an error is flagged ``ftp_transfer_failed``.
Anomalies: ``ftp.*`` from the parser and ``DataExpectations``, ``ftp.encrypted`` (AUTH TLS),
``ftp.data_without_command``, ``objects.truncated_at_size_limit``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from sensor.anomalies import AnomalyCounter
from sensor.flows.table import Direction, Flow
from sensor.objects import FlowContext, TransferObject
from sensor.protocols.ftp import (
    DataOffer,
    FtpAnomaly,
    FtpControl,
    FtpEncrypted,
    FtpEvent,
    Side,
    TransferEnd,
    TransferStart,
    UniqueName,
)
from sensor.protocols.ftp.expect import DataExpectations
from sensor.protocols.tls_meta import SwitchesToTls, TlsMetadata, tls_after_switch

ObjectSink = Callable[[TransferObject], None]
UPLOAD_VERBS = frozenset({"STOR", "STOU", "APPE"})


class FtpDataChannel:
    """One data connection: the bytes each side sent, until the connection ends."""

    def __init__(self, owner: FtpTransfers, flow: Flow, mode: str) -> None:
        self.owner = owner
        self.flow = flow
        self.mode = mode
        self.received: dict[Direction, TransferObject] = {}
        self.command: TransferStart | None = None
        self.end_code: int | None = None
        self.closed = False
        self.emitted = False

    def _object(self, direction: Direction) -> TransferObject:
        obj = self.received.get(direction)
        if obj is None:
            flow = self.flow
            ends = [(flow.orig_ip, flow.orig_port), (flow.resp_ip, flow.resp_port)]
            if direction is Direction.TO_ORIGINATOR:
                ends.reverse()
            ctx = FlowContext(flow.uid, "tcp", *ends[0], *ends[1], flow.vlan)
            obj = TransferObject(ctx, "ftp", "", -1, flow.last)
            self.received[direction] = obj
        return obj

    def data(self, direction: Direction, data: bytes) -> None:
        obj = self._object(direction)
        if obj.append(data, self.owner.max_object_bytes):
            self.owner.count("objects.truncated_at_size_limit", self.flow.uid)

    def quiet(self, direction: Direction) -> int:
        """Bytes ``data`` only adds to the direction's object, whatever their split: once the
        object exists (its timestamp is the first byte's), up to the size limit. Nothing reads
        the object before the data connection closes (``FlowHandler.coalesce``)."""
        obj = self.received.get(direction)
        if obj is None:
            return 0
        return max(self.owner.max_object_bytes - len(obj.body), 0)

    def gap(self, direction: Direction, length: int) -> None:
        self._object(direction).gap_bytes += length

    def close(self) -> None:
        self.closed = True
        self.owner.channel_closed(self)


class FtpTransfers(SwitchesToTls):
    """One FTP control connection's data transfers; see the module docstring."""

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
        expectations: DataExpectations | None = None,
    ) -> None:
        self._uid = uid
        self._tls: TlsMetadata | None = None  # after AUTH TLS
        self._client_ip = client[0]
        self._server_ip = server[0]
        self._clock = clock
        self._sink = sink
        self._anomalies = anomalies
        self.max_object_bytes = max_object_bytes
        self._expectations = expectations or DataExpectations(anomalies)
        self._expectations.open_sessions += 1
        self.control = FtpControl()
        self._channels: list[FtpDataChannel] = []  # in arrival order, until emitted
        # transfer commands without a channel yet, each with its final reply code once known
        self._commands: deque[tuple[TransferStart, int | None]] = deque()
        self._closed = False

    @property
    def encrypted(self) -> bool:
        return self.control.encrypted

    def _feed_plain(self, side: Side, data: bytes) -> None:
        self._handle(self.control.feed(side, data))

    def gap(self, side: Side, length: int) -> None:
        self._handle(self.control.gap(side, length))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._expectations.open_sessions -= 1
        for channel in list(self._channels):
            self._maybe_emit(channel)

    def count(self, name: str, detail: str = "") -> None:
        self._anomalies.count(name, f"{self._uid}: {detail}" if detail else self._uid)

    # -- data connections -------------------------------------------------------------------------

    def open_channel(self, flow: Flow, mode: str) -> FtpDataChannel:
        channel = FtpDataChannel(self, flow, mode)
        self._channels.append(channel)
        self._pair()
        return channel

    def channel_closed(self, channel: FtpDataChannel) -> None:
        self._maybe_emit(channel)

    def _pair(self) -> None:
        for channel in self._channels:
            if not self._commands:
                return
            if channel.command is None:
                channel.command, channel.end_code = self._commands.popleft()

    def _maybe_emit(self, channel: FtpDataChannel) -> None:
        if channel.emitted:
            return
        settled = channel.command is not None and channel.end_code is not None
        if not channel.closed or not (settled or self._closed):
            return
        channel.emitted = True
        self._channels.remove(channel)
        command = channel.command
        if command is None:
            self.count("ftp.data_without_command", channel.flow.uid)
        index = 0  # objects of the data flow, as other protocols number theirs
        for direction, obj in channel.received.items():
            if not obj.total_bytes and not obj.gap_bytes:
                continue
            obj.index = index
            index += 1
            self._finish(channel, obj, command, direction)

    def _finish(
        self,
        channel: FtpDataChannel,
        obj: TransferObject,
        command: TransferStart | None,
        direction: Direction,
    ) -> None:
        if command is not None:
            obj.method = command.verb
            obj.filename = command.path
            upload = command.verb in UPLOAD_VERBS
            if command.rest:
                obj.content_range = f"bytes {command.rest}-"
                obj.flag("ftp_rest")
            if command.type == "A":
                obj.flag("ascii_mode")
        else:
            upload = obj.flow.src_ip == self._client_ip
            obj.flag("ftp_command_unknown")
        obj.direction = "upload" if upload else "download"
        obj.host = self._server_ip
        obj.related_flow = self._uid
        obj.encoded_bytes = obj.total_bytes
        failed = channel.end_code is not None and channel.end_code >= 400
        if failed:
            obj.flag("ftp_transfer_failed")
        obj.complete = channel.end_code is not None and not failed and not obj.gap_bytes
        obj.flag(f"ftp_{channel.mode}")
        obj.seal()
        self._sink(obj)

    # -- control events ---------------------------------------------------------------------------

    def _handle(self, events: list[FtpEvent]) -> None:
        for event in events:
            if isinstance(event, DataOffer):
                if event.mode == "passive":
                    hosts = frozenset({event.host or self._server_ip, self._server_ip})
                else:
                    hosts = frozenset({event.host, self._client_ip})
                self._expectations.expect(hosts, event.port, self, event.mode, self._clock())
            elif isinstance(event, TransferStart):
                self._commands.append((event, None))
                self._pair()
            elif isinstance(event, TransferEnd):
                self._transfer_end(event)
            elif isinstance(event, UniqueName):
                self._unique_name(event.path)
            elif isinstance(event, FtpEncrypted):
                self._tls = tls_after_switch(
                    self._uid, self._server_ip, self._anomalies, self.control.leftover
                )
                self.count("ftp.encrypted", event.reason)
            elif isinstance(event, FtpAnomaly):
                self.count(event.name, event.detail)

    def _unique_name(self, path: str) -> None:
        """STOU without a name: the server's choice names the oldest unnamed STOU transfer."""
        for channel in self._channels:
            command = channel.command
            if command is not None and command.verb == "STOU" and not command.path:
                channel.command = TransferStart("STOU", path, command.rest, command.type)
                return
        for i, (start, code) in enumerate(self._commands):
            if start.verb == "STOU" and not start.path:
                self._commands[i] = (TransferStart("STOU", path, start.rest, start.type), code)
                return

    def _transfer_end(self, event: TransferEnd) -> None:
        for channel in self._channels:
            if channel.command is not None and channel.end_code is None:
                channel.end_code = event.code
                self._maybe_emit(channel)
                return
        for i, (start, code) in enumerate(self._commands):
            if code is None:
                if event.code >= 400:
                    del self._commands[i]  # refused: no data connection will carry it
                else:
                    self._commands[i] = (start, event.code)  # the data flow is still to come
                return
