"""HTTP/1 connection events -> ``TransferObject``: uploads and downloads, decoded and split.

``HttpTransfers`` owns one connection's ``Http1Connection`` and turns each message body into
objects:

- a request body is an upload (client to server), a response body a download; each download knows
  the method and URL of the request it answers;
- bodies are content-decoded (``sensor.content.encoding``) with the object size limit as the
  maximum expanded size (``STREAM_DECODE_FACTOR`` times it when the audit streams past the limit:
  the decoded bytes past it go to the stream scanner); failures and limits are flagged on the
  object and counted;
- ``multipart/form-data`` uploads become one object per part (field name, filename, declared type);
  ``multipart/byteranges`` downloads one object per range; url-encoded forms and JSON get a text
  view for detection;
- CONNECT and Upgrade tunnels become one object per direction that carried bytes, with the byte
  count and whether the bytes look like TLS, their content not parsed as HTTP. TLS inside a
  CONNECT tunnel is read like a direct TLS flow (``sensor.protocols.http_tunnel``): its hellos
  and certificate are the flow's ``tls`` metadata (``encrypted``; ``metadata``), the tunnel
  object is named by the server name (else by the CONNECT authority), and once the reader is done
  ``payload_done`` lets the dispatcher stop copying the flow's bytes; the bytes the flow then
  counts without delivering are added back with ``counted_without_payload``.

Anomaly names: ``http.*`` from the parsers, ``content.*`` for decoding and multipart
(``content.decode_error``, ``content.decompressed_size_limit``,
``content.decompression_ratio_limit``, ``content.encoded_stream_truncated``,
``content.trailing_bytes``, ``content.multipart_*``), ``objects.truncated_at_size_limit``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sensor.anomalies import AnomalyCounter
from sensor.content.encoding import ContentDecoder
from sensor.content.forms import json_text, urlencoded_text
from sensor.content.multipart import (
    MultipartAnomaly,
    MultipartEvent,
    MultipartParser,
    PartData,
    PartEnd,
    PartGap,
    PartStart,
    boundary_of,
    header_params,
)
from sensor.content.sniff import detect_type, is_encrypted
from sensor.objects import FlowContext, TransferObject, overflow_enabled
from sensor.protocols.http import (
    BodyData,
    BodyGap,
    Http1Connection,
    HttpEvent,
    MessageEnd,
    ParseAnomaly,
    RequestHead,
    ResponseHead,
    Side,
    TunnelStart,
)
from sensor.protocols.http.framing import header_values, parse_length
from sensor.protocols.http_tunnel import TunnelTls

ObjectSink = Callable[[TransferObject], None]
# A content-encoded body is decoded up to the object limit when only the kept bytes are read; when
# the audit streams past the limit (``limits.stream_past_limit``) the decoded bytes past it are
# scanned and dropped, not kept, so decoding goes on up to this many times the limit (1 GiB at the
# default 64 MiB): a bound on CPU, not memory; the expansion-ratio guard of
# ``sensor.content.encoding`` still stops bombs early. Hitting it is ``content.decompressed_size_limit``.
STREAM_DECODE_FACTOR = 16


class _Body:
    """One message body on its way to becoming one object, or one per multipart part."""

    def __init__(
        self,
        owner: HttpTransfers,
        template: TransferObject,
        decoder: ContentDecoder | None,
        multipart: MultipartParser | None,
    ) -> None:
        self._owner = owner
        self._template = template
        self._decoder = decoder
        self._multipart = multipart
        self._current: TransferObject | None = None if multipart else owner.copy(template)
        self._finished: list[TransferObject] = []
        self._wire = 0

    def write(self, data: bytes) -> None:
        self._wire += len(data)
        self._decoded(self._decoder.feed(data) if self._decoder else data)

    def quiet(self) -> int:
        """Bytes ``write`` only adds to the current object, whatever their split: a body neither
        content-decoded nor multipart, up to the size limit (``HttpTransfers.quiet``)."""
        current = self._current
        if self._decoder is not None or self._multipart is not None or current is None:
            return 0
        return max(self._owner.max_object_bytes - len(current.body), 0)

    def gap(self, length: int) -> None:
        if self._decoder is not None:
            self._decoder.gap()
            if self._current is not None:
                self._current.gap_bytes += length
            return
        if self._multipart is not None:
            self._parts(self._multipart.gap(length))
        elif self._current is not None:
            self._current.gap_bytes += length

    def finish(self, complete: bool) -> list[TransferObject]:
        """The message ended; returns every object it produced, in order."""
        if self._decoder is not None:
            self._decoded(self._decoder.finish())
            self._decoder_report(complete)
        if self._multipart is not None:
            self._parts(self._multipart.close())
            if not self._multipart.ended and self._multipart.parts:
                for obj in self._finished[-1:]:
                    obj.flag("multipart_unterminated")
        if self._current is not None:
            self._close_object(self._current, complete)
        return self._finished

    # -- internals ----------------------------------------------------------------------------

    def _decoded(self, data: bytes) -> None:
        if not data:
            return
        if self._multipart is not None:
            self._parts(self._multipart.feed(data))
        elif self._current is not None:
            self._owner.append(self._current, data)

    def _parts(self, events: list[MultipartEvent]) -> None:
        for event in events:
            if isinstance(event, PartData):
                if self._current is not None:
                    self._owner.append(self._current, event.data)
            elif isinstance(event, PartStart):
                obj = self._owner.copy(self._template)
                obj.field_name = event.name
                obj.filename = event.filename
                obj.content_type = event.content_type
                obj.content_range = event.content_range or obj.content_range
                obj.declared_length = None
                if event.overflow:
                    obj.flag("multipart_remainder")
                self._current = obj
            elif isinstance(event, PartGap):
                if self._current is not None:
                    self._current.gap_bytes += event.length
            elif isinstance(event, PartEnd):
                if self._current is not None:
                    self._close_object(self._current, event.complete)
                self._current = None
            elif isinstance(event, MultipartAnomaly):
                self._owner.count(
                    event.name.replace("multipart.", "content.multipart_"), event.detail
                )

    def _close_object(self, obj: TransferObject, complete: bool) -> None:
        obj.complete = complete and not obj.gap_bytes
        if self._multipart is None:
            obj.encoded_bytes = self._wire
        else:
            obj.encoded_bytes = obj.total_bytes
        self._decoder_flags(obj)
        self._finished.append(obj)

    def _decoder_flags(self, obj: TransferObject) -> None:
        decoder = self._decoder
        if decoder is None:
            return
        if decoder.fallback:
            obj.flag("undecoded")
        elif decoder.error:
            obj.flag("decode_error")
        if decoder.limit == "size":
            obj.flag("decompression_size_limit")
            obj.truncated = True
        elif decoder.limit == "ratio":
            obj.flag("decompression_ratio_limit")
            obj.truncated = True
        if decoder.stopped_by_gap:
            obj.flag("decode_stopped_at_gap")

    def _decoder_report(self, complete: bool) -> None:
        decoder = self._decoder
        if decoder is None:
            return
        coding = ",".join(decoder.codings)
        if decoder.error:
            self._owner.count("content.decode_error", decoder.error[:120])
        if decoder.limit == "size":
            self._owner.count("content.decompressed_size_limit", f"{coding}: {decoder.max_output}")
        elif decoder.limit == "ratio":
            self._owner.count(
                "content.decompression_ratio_limit",
                f"{coding}: {decoder.output_bytes} from {decoder.input_bytes} bytes",
            )
        if decoder.incomplete and complete and not decoder.stopped_by_gap:
            self._owner.count("content.encoded_stream_truncated", coding)
            if self._current is not None:
                self._current.flag("encoded_stream_truncated")
        if decoder.trailing_bytes:
            self._owner.count("content.trailing_bytes", f"{coding}: {decoder.trailing_bytes}")


class HttpTransfers:
    """One HTTP/1 connection's objects; see the module docstring."""

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
    ) -> None:
        self._uid = uid
        self._upload_ctx = FlowContext(uid, "tcp", *client, *server, vlan)
        self._download_ctx = FlowContext(uid, "tcp", *server, *client, vlan)
        self._server_ip = server[0]
        self._clock = clock
        self._sink = sink
        self._anomalies = anomalies
        self.max_object_bytes = max_object_bytes
        self.connection = Http1Connection()
        self.tunnel_tls = TunnelTls(uid, server[0], anomalies)
        self.connection.requests.on_tunnel = partial(self.tunnel_tls.data, Side.CLIENT)
        self.connection.responses.on_tunnel = partial(self.tunnel_tls.data, Side.SERVER)
        self._uncopied: dict[Side, int] = {Side.CLIENT: 0, Side.SERVER: 0}
        self._bodies: dict[Side, _Body | None] = {Side.CLIENT: None, Side.SERVER: None}
        self._tunnels: dict[Side, tuple[TunnelStart, RequestHead | None]] = {}
        self._last_request: RequestHead | None = None
        self._last_response: ResponseHead | None = None
        self._emitted = 0

    def data(self, side: Side, data: bytes) -> None:
        self._handle(side, self.connection.feed(side, data))

    def gap(self, side: Side, length: int) -> None:
        parser = self.connection.requests if side is Side.CLIENT else self.connection.responses
        if parser.state == "tunnel":
            self.tunnel_tls.gap(side, length)
        self._handle(side, self.connection.gap(side, length))

    def quiet(self, side: Side) -> int:
        """How many of ``side``'s next bytes may be fed late and in one call (the batch path's
        coalesced runs, ``FlowHandler.coalesce``) with exactly the same result: plain body bytes
        that only grow the current object (no message end, no decoding or multipart parts, no
        size limit reached, so no event, anomaly, clock reading or object). They touch nothing
        the other side's calls read or write, so those may come first. 0 otherwise."""
        connection = self.connection
        requests, responses = connection.requests, connection.responses
        if requests.state == "tunnel" or responses.state == "tunnel":
            return 0
        if side is Side.CLIENT:
            if connection.held_client_events or requests.switch_request is not None:
                return 0
            left = requests.quiet_bytes()
        else:
            left = responses.quiet_bytes()
        body = self._bodies[side]
        if left <= 0 or body is None:
            return 0
        return min(left, body.quiet())

    @property
    def encrypted(self) -> bool:
        """A CONNECT tunnel carries TLS: the flow record says ``http,tls``."""
        return self.tunnel_tls.reader is not None

    @property
    def metadata(self) -> dict[str, Any]:
        """The tunnelled TLS session's hellos, for the flow record ({} without one)."""
        return self.tunnel_tls.metadata

    @property
    def payload_done(self) -> bool:
        """Nothing later in the connection is read: the TLS reader inside the tunnel is done."""
        return self.tunnel_tls.finished

    def counted_without_payload(self, side: Side, length: int) -> None:
        """``length`` tunnelled bytes the flow counted after it stopped delivering them."""
        self._uncopied[side] += length

    def close(self) -> None:
        for side in (Side.CLIENT, Side.SERVER):
            self._handle(side, self.connection.close(side))
        for side, (tunnel, request) in self._tunnels.items():
            self._emit_tunnel(side, tunnel, request)

    # -- helpers used by _Body ----------------------------------------------------------------

    def copy(self, template: TransferObject) -> TransferObject:
        return TransferObject(
            flow=template.flow,
            protocol=template.protocol,
            direction=template.direction,
            index=-1,
            timestamp=self._clock(),
            method=template.method,
            url=template.url,
            host=template.host,
            content_type=template.content_type,
            declared_length=template.declared_length,
            status=template.status,
            filename=template.filename,
            content_encoding=template.content_encoding,
            content_range=template.content_range,
            etag=template.etag,
            flags=list(template.flags),
            via_proxy=template.via_proxy,
        )

    def append(self, obj: TransferObject, data: bytes) -> None:
        if obj.append(data, self.max_object_bytes):
            self.count("objects.truncated_at_size_limit")

    def count(self, name: str, detail: str = "") -> None:
        self._anomalies.count(name, f"{self._uid}: {detail}" if detail else self._uid)

    # -- events -------------------------------------------------------------------------------

    def _handle(self, side: Side, events: list[HttpEvent]) -> None:
        for event in events:
            if isinstance(event, BodyData):
                body = self._bodies[side]
                if body is not None:
                    body.write(event.data)
            elif isinstance(event, BodyGap):
                body = self._bodies[side]
                if body is not None:
                    body.gap(event.length)
            elif isinstance(event, MessageEnd):
                self._finish(side, event.complete)
            elif isinstance(event, RequestHead):
                self._last_request = event
                self._start(side, self._request_template(event), event.headers)
            elif isinstance(event, ResponseHead):
                if not event.interim:
                    self._last_response = event
                    self._start(side, self._response_template(event), event.headers)
            elif isinstance(event, TunnelStart):
                answered = self._last_response.request if self._last_response else None
                request = self._last_request if side is Side.CLIENT else answered
                self._tunnels[side] = (event, request)
            elif isinstance(event, ParseAnomaly):
                self.count(event.name, event.detail)

    def _request_template(self, head: RequestHead) -> TransferObject:
        host = head.header("Host") or self._server_ip
        target = head.target
        url = target if target.startswith(("http://", "https://")) else f"http://{host}{target}"
        if head.method == "CONNECT":
            url = target
            host = head.header("Host") or target  # the authority, not the proxy's address
        length = head.header("Content-Length")
        return TransferObject(
            flow=self._upload_ctx,
            protocol="http",
            direction="upload",
            index=-1,
            timestamp=self._clock(),
            method=head.method,
            url=url,
            host=host,
            content_type=head.header("Content-Type") or "",
            declared_length=parse_length(length),
            via_proxy=head.method == "CONNECT" or target.startswith(("http://", "https://")),
        )

    def _response_template(self, head: ResponseHead) -> TransferObject:
        request = head.request
        template = (
            self._request_template(request)
            if request is not None
            else TransferObject(self._upload_ctx, "http", "upload", -1, self._clock())
        )
        template.flow = self._download_ctx
        template.direction = "download"
        template.status = head.status
        template.content_type = head.header("Content-Type") or ""
        length = head.header("Content-Length")
        template.declared_length = parse_length(length)
        template.content_range = head.header("Content-Range") or ""
        template.etag = head.header("ETag") or ""
        if head.status == 206 or template.content_range:
            template.flag("partial_content")
        if request is None:
            template.flag("request_unknown")
        return template

    def _start(
        self, side: Side, template: TransferObject, headers: tuple[tuple[str, str], ...]
    ) -> None:
        if self._bodies[side] is not None:
            self._finish(side, complete=False)
        lookup = {k.lower(): v for k, v in reversed(headers)}
        _, disposition = header_params(lookup.get("content-disposition", ";"))
        template.filename = disposition.get("filename", "")
        codings = header_values(headers, "Content-Encoding")
        template.content_encoding = ", ".join(codings)
        decoded_max = self.max_object_bytes
        if overflow_enabled():  # bytes past the limit are streamed, not kept: decode on
            decoded_max *= STREAM_DECODE_FACTOR
        decoder = ContentDecoder(codings, decoded_max) if codings else None
        multipart = None
        main_type = template.content_type.split(";", 1)[0].strip().lower()
        if main_type in ("multipart/form-data", "multipart/byteranges", "multipart/mixed"):
            boundary = boundary_of(template.content_type)
            if boundary is None:
                self.count("content.multipart_no_boundary", template.content_type[:80])
            else:
                multipart = MultipartParser(boundary)
        self._bodies[side] = _Body(self, template, decoder, multipart)

    def _finish(self, side: Side, complete: bool) -> None:
        body, self._bodies[side] = self._bodies[side], None
        if body is None:
            return
        for obj in body.finish(complete):
            if obj.total_bytes or obj.gap_bytes:
                self._emit(obj)

    def _emit(self, obj: TransferObject) -> None:
        obj.seal()
        main_type = obj.content_type.split(";", 1)[0].strip().lower()
        if main_type == "application/x-www-form-urlencoded":
            obj.text_view = urlencoded_text(bytes(obj.body))
        elif main_type.endswith(("/json", "+json")) or obj.detected_type == "json":
            obj.text_view = json_text(bytes(obj.body))
        obj.index = self._emitted
        self._emitted += 1
        self._sink(obj)

    def _emit_tunnel(self, side: Side, tunnel: TunnelStart, request: RequestHead | None) -> None:
        parser = self.connection.requests if side is Side.CLIENT else self.connection.responses
        if request is not None:
            obj = self._request_template(request)
        else:
            obj = TransferObject(self._upload_ctx, "http", "upload", -1, self._clock())
        if side is Side.SERVER:
            obj.flow, obj.direction = self._download_ctx, "download"
        obj.content_type = ""
        obj.declared_length = None
        obj.tunnel = tunnel.kind
        obj.encoded_bytes = parser.tunnelled_bytes + self._uncopied[side]
        if tunnel.kind == "connect" and self.tunnel_tls.server_name:
            obj.host = self.tunnel_tls.server_name
        obj.detected_type = detect_type(parser.tunnel_prefix)
        obj.encrypted = is_encrypted(parser.tunnel_prefix, obj.detected_type)
        obj.complete = True
        if not tunnel.confirmed:
            obj.flag("tunnel_unconfirmed")
        obj.index = self._emitted
        self._emitted += 1
        self._sink(obj)
