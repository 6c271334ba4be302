"""SMTP session events -> ``TransferObject``: each mail whole, then each of its MIME leaves.

Every message the client sends is an upload (client to server). The whole message as sent
(dot-unstuffed DATA, or BDAT chunks joined) is one object, ``message/rfc822``, whose sha256 is
that of ``tshark --export-objects imf``; its detection view is the decoded header block only, so a
body is not inspected twice. Each MIME leaf (body text, attachment) is then one object with its
decoded bytes, filename, declared and sniffed type and the mail's sender, recipients and subject;
text in GBK/Big5/... gets a UTF-8 view for detection.

A message cut by the size limit is still split as far as it was kept (parts flagged
``truncated``); gaps and a missing end flag the message and all its parts. When the audit streams
past the limit (``limits.stream_past_limit``), the rest of the message goes through an incremental
MIME decoder (``sensor.content.mime_stream``) to the stream scanner, so a base64 or
quoted-printable attachment there is read decoded (flag ``mime_decoded_past_limit``); the decoder
first reads the kept head to know where in the MIME structure the limit fell. Anomaly names:
``smtp.*`` from the session, ``mime.*`` from the MIME parser, ``smtp.encrypted`` (STARTTLS),
``objects.truncated_at_size_limit``.
"""

from __future__ import annotations

from collections.abc import Callable

from sensor.anomalies import AnomalyCounter
from sensor.content.mime import MimeLimits, MimeMessage, parse_message
from sensor.content.mime_stream import MimeStreamDecoder
from sensor.content.stream_decoding import DecodingOverflow, replay_head
from sensor.content.zip_stream import DECODE_FACTOR as ZIP_DECODE_FACTOR
from sensor.objects import (
    FlowContext,
    TransferObject,
    overflow_enabled,
    overflow_sink,
)
from sensor.protocols.smtp import (
    Encrypted,
    MessageData,
    MessageEnd,
    MessageGap,
    MessageStart,
    Side,
    SmtpAnomaly,
    SmtpEvent,
    SmtpSession,
)
from sensor.protocols.tls_meta import SwitchesToTls, TlsMetadata, tls_after_switch

ObjectSink = Callable[[TransferObject], None]
_MAIL_HEADERS = ("from", "to", "cc", "subject", "date", "reply-to", "message-id")


def mime_overflow(
    kept: bytearray, limits: MimeLimits
) -> DecodingOverflow[MimeStreamDecoder] | None:
    """The MIME decoder at the MIME state at the limit (the kept head decoded again, its decoded
    tail the scanner's history), in front of a stream scanner; None when the audit does not
    stream."""
    decoder = MimeStreamDecoder(limits, zip_output=ZIP_DECODE_FACTOR * max(len(kept), 1 << 20))
    history = replay_head(decoder, kept)
    history += decoder.tail()  # as the part cut by the limit ends in block mode
    decoder.stats.anomalies.clear()  # block mode reports the head's own
    decoder.stats.decoded_bytes = 0
    for archive in decoder.zips:
        archive.members = 0  # members whose local header is past the limit
    sink = overflow_sink(len(kept), history)
    return None if sink is None else DecodingOverflow(decoder, sink)


class SmtpTransfers(SwitchesToTls):
    """One SMTP connection's objects; see the module docstring."""

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
        mime_limits: MimeLimits | None = None,
    ) -> None:
        self._uid = uid
        self._server_ip = server[0]
        self._tls: TlsMetadata | None = None  # after STARTTLS
        self._ctx = FlowContext(uid, "tcp", *client, *server, vlan)
        self._clock = clock
        self._sink = sink
        self._anomalies = anomalies
        self._max = max_object_bytes
        self._mime_limits = mime_limits or MimeLimits()
        self.session = SmtpSession()
        self._message: TransferObject | None = None
        self._emitted = 0

    @property
    def encrypted(self) -> bool:
        return self.session.encrypted

    def _feed_plain(self, side: Side, data: bytes) -> None:
        self._handle(self.session.feed(side, data))

    def gap(self, side: Side, length: int) -> None:
        self._handle(self.session.gap(side, length))

    def close(self) -> None:
        self._handle(self.session.close())

    def _count(self, name: str, detail: str = "") -> None:
        self._anomalies.count(name, f"{self._uid}: {detail}" if detail else self._uid)

    def _handle(self, events: list[SmtpEvent]) -> None:
        for event in events:
            message = self._message
            if isinstance(event, MessageData):
                if message is not None:
                    self._append(message, event.data)
            elif isinstance(event, MessageGap):
                if message is not None:
                    message.gap_bytes += event.length
            elif isinstance(event, MessageStart):
                self._message = TransferObject(
                    flow=self._ctx,
                    protocol="smtp",
                    direction="upload",
                    index=-1,
                    timestamp=self._clock(),
                    method=event.method,
                    host=_recipient_domain(event.rcpt_to),
                    helo=event.helo,
                    content_type="message/rfc822",
                    mail_from=event.mail_from,
                    mail_to=event.rcpt_to,
                )
            elif isinstance(event, MessageEnd):
                self._message = None
                if message is not None:
                    self._finish(message, event)
            elif isinstance(event, Encrypted):
                self._tls = tls_after_switch(
                    self._uid, self._server_ip, self._anomalies, self.session.leftover
                )
                self._count("smtp.encrypted", event.reason)
            elif isinstance(event, SmtpAnomaly):
                self._count(event.name, event.detail)

    def _append(self, message: TransferObject, data: bytes) -> None:
        room = self._max - len(message.body)
        if not message.truncated and len(data) > room and overflow_enabled():
            message.append(data[:room], self._max)  # the body holds exactly the limit
            stream = mime_overflow(message.body, self._mime_limits)
            if stream is not None:
                message.stream_past_limit(stream)
                self._count("objects.truncated_at_size_limit", "mail")
            data = data[room:]
        if message.append(data, self._max):
            self._count("objects.truncated_at_size_limit", "mail")

    def _finish(self, message: TransferObject, end: MessageEnd) -> None:
        if not message.total_bytes and not message.gap_bytes:
            return  # DATA refused before any byte was sent: no mail left
        stream = message.overflow
        if isinstance(stream, DecodingOverflow) and isinstance(stream.decoder, MimeStreamDecoder):
            message.overflow = stream.close()
            for name, detail in stream.decoder.stats.anomalies:
                self._count(name, detail)
            message.flag("mime_decoded_past_limit")
            if stream.decoder.zips:
                members = sum(archive.members for archive in stream.decoder.zips)
                message.flag(f"stream:zip_members={members}")
        message.complete = end.complete and not message.gap_bytes
        message.encoded_bytes = message.total_bytes
        if end.rejected:
            message.flag("smtp_rejected")
        mime = parse_message(message.body, self._mime_limits)
        for name, detail in mime.anomalies:
            self._count(name, detail)
        message.subject = mime.subject
        message.text_view = _header_view(mime)
        message.seal()
        message.detected_type = "email"
        self._emit(message)
        for part in mime.parts:
            if not part.body:
                continue  # an empty body part carries nothing (and tshark/Zeek skip it too)
            obj = TransferObject(
                flow=self._ctx,
                protocol="smtp",
                direction="upload",
                index=-1,
                timestamp=message.timestamp,
                method=message.method,
                host=message.host,
                helo=message.helo,
                content_type=part.content_type
                + (f"; charset={part.charset}" if part.charset else ""),
                filename=part.filename,
                content_encoding=part.transfer_encoding,
                mail_from=message.mail_from,
                mail_to=message.mail_to,
                subject=message.subject,
                part=part.path,
                flags=list(part.flags),
            )
            obj.append(part.body, self._max)
            obj.text_view = part.text
            obj.encoded_bytes = len(part.body)
            obj.truncated = message.truncated or obj.truncated
            obj.gap_bytes = message.gap_bytes
            obj.complete = message.complete and not part.flags
            if part.disposition:
                obj.flag(part.disposition)
            obj.seal()
            self._emit(obj)

    def _emit(self, obj: TransferObject) -> None:
        obj.index = self._emitted
        self._emitted += 1
        self._sink(obj)


def _recipient_domain(recipients: tuple[str, ...]) -> str:
    """Where the mail goes: the first recipient's domain names the destination."""
    for address in recipients:
        domain = address.strip("<> ").rpartition("@")[2].lower()
        if domain:
            return domain
    return ""


def _header_view(mime: MimeMessage) -> bytes:
    """The decoded mail headers people write in (From, To, Subject, ...), for detection."""
    lines = [f"{k}: {v}" for k, v in mime.headers if k.lower() in _MAIL_HEADERS]
    return ("\n".join(lines) + "\n").encode("utf-8")
