"""Transferred objects: the unit the detectors inspect.

An object is one thing that crossed the wire whole: an HTTP request or response body, one part of
a form upload, a tunnel's byte count; a mail attachment or an SMB file once those parsers land. It
carries its flow context oriented from its sender to its receiver, so the policy stage places the
two ends the right way round for uploads and downloads alike, and flags that say how complete it is.

``object_record`` is the ``objects.jsonl`` line: metadata, sha256 and flags only, never the body,
and the URL without its query string (where form values such as identity numbers travel).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from detectors.masking import mask_email
from sensor.content.sniff import detect_type, is_encrypted, sniff_sample
from sensor.content.zip_stream import zip_overflow
from sensor.content.ziplocal import LOCAL

OBJECT_SCHEMA_VERSION = "0.1"


# --- stream inspection past the size limit (detectors.streaming) -------------------------------


class OverflowSink(Protocol):
    """Takes the decoded bytes of an object past ``max_bytes`` as they arrive."""

    def feed(self, chunk: bytes) -> None: ...

    def gap(self, length: int) -> None: ...


# (object offset where the limit cut, the kept body) -> a sink for the rest
OverflowFactory = Callable[[int, bytearray], OverflowSink]
# Set only while an audit runs its pipeline (``overflow_scanning``): a context variable, not a
# module setting, so two audits in one process (tests, live reloads) never share a scanner.
_overflow_factory: ContextVar[OverflowFactory | None] = ContextVar(
    "egress_overflow_factory", default=None
)


@contextmanager
def overflow_scanning(factory: OverflowFactory | None) -> Iterator[None]:
    """Inside the block, objects that hit their size limit hand the rest to ``factory``'s sink
    (the audit's ``detectors.streaming.ObjectScanner``); ``None`` or outside: only counted."""
    token = _overflow_factory.set(factory)
    try:
        yield
    finally:
        _overflow_factory.reset(token)


def overflow_enabled() -> bool:
    """True inside ``overflow_scanning`` with a factory: bytes past a limit will be read."""
    return _overflow_factory.get() is not None


def overflow_sink(offset: int, kept: bytearray) -> OverflowSink | None:
    """A sink for an object's bytes past the limit at ``offset`` (after the ``kept`` body), or None
    when no audit is streaming (``overflow_scanning``): the caller then only counts the limit."""
    factory = _overflow_factory.get()
    if factory is None:
        return None
    if kept[:4] == LOCAL:  # a ZIP: its members are inflated past the limit (zip_stream.py)
        return zip_overflow(offset, kept, factory)
    return factory(offset, kept)


@dataclass(frozen=True, slots=True)
class FlowContext:
    """The connection an object travelled on, oriented from sender to receiver of the object."""

    uid: str
    transport: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    vlan: tuple[int, ...] = ()


@dataclass(slots=True)
class TransferObject:
    """One rebuilt transfer. ``body`` is bounded by the configured maximum object size."""

    flow: FlowContext
    protocol: str
    direction: str  # "upload": sent by the client (the originator); "download": by the server
    index: int  # position among the objects of its flow, from 0
    timestamp: float  # capture time of the data that completed the head of the transfer
    method: str = ""  # the request method, for downloads too
    url: str = ""  # the request URL, for downloads too
    host: str = ""
    content_type: str = ""  # as declared by the sender
    declared_length: int | None = None
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False  # the size limit cut the body
    gap_bytes: int = 0  # bytes of the body (as sent, before decoding) that were never captured
    complete: bool = False  # the message ended where its framing said it would
    status: int | None = None  # HTTP status of the response a download came in
    filename: str = ""  # declared by Content-Disposition or the multipart part
    field_name: str = ""  # the form field a multipart part belongs to
    content_encoding: str = ""  # Content-Encoding as declared ("gzip, br")
    content_range: str = ""  # a 206 response or byte-range part: which bytes of the file these are
    etag: str = ""  # the response's ETag: which version of the file a range belongs to
    detected_type: str = ""  # from magic bytes (sensor.content.sniff)
    encrypted: bool = False  # the content is encrypted; detection cannot see inside
    encoded_bytes: int = 0  # body bytes as sent, before content decoding
    total_bytes: int = 0  # decoded bytes seen, including any past the size limit
    tunnel: str = ""  # "connect", "upgrade:websocket": bytes carried by a tunnel, not parsed
    # The request went to a forward proxy (absolute-form target or CONNECT): the server address
    # is the proxy's, shared by every site behind it, so it must not be named after this host.
    via_proxy: bool = False
    flags: list[str] = field(default_factory=list)  # named conditions, e.g. "decode_error"
    text_view: bytes | None = None  # the body rewritten for detection (forms, JSON escapes)
    sha256: str = ""  # of every decoded byte seen, set by ``seal``
    mail_from: str = ""  # SMTP envelope sender (raw here; masked in every output)
    mail_to: tuple[str, ...] = ()  # SMTP envelope recipients (raw here; masked in outputs)
    subject: str = ""  # decoded Subject of the mail (identifiers masked in outputs)
    helo: str = ""  # the name the SMTP client gave in HELO/EHLO
    part: str = ""  # MIME part path ("1.2") of a mail part; "" for the whole message
    related_flow: str = ""  # FTP: the control connection that opened this data connection
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)
    overflow: OverflowSink | None = field(default=None, repr=False)  # bytes past the limit
    _overflow_gaps: int = field(default=0, repr=False)  # gap_bytes already told to overflow

    @property
    def size(self) -> int:
        return self.total_bytes

    def append(self, data: bytes, max_bytes: int) -> bool:
        """Add decoded bytes; keeps at most ``max_bytes``. True if this call hit the limit."""
        if not data:
            return False
        self._hash.update(data)
        self.total_bytes += len(data)
        room = max_bytes - len(self.body)
        if len(data) <= room:
            self.body += data
            return False
        if room > 0:
            self.body += data[:room]
        first = not self.truncated
        self.truncated = True
        self._overflow(data[max(room, 0) :], first)
        return first

    def _overflow(self, rest: bytes, first: bool) -> None:
        if first:
            self.overflow = overflow_sink(len(self.body), self.body)
            self._overflow_gaps = self.gap_bytes
        if self.overflow is None:
            return
        if self.gap_bytes > self._overflow_gaps:  # a hole since the last piece
            self.overflow.gap(self.gap_bytes - self._overflow_gaps)
            self._overflow_gaps = self.gap_bytes
        self.overflow.feed(rest)

    def stream_past_limit(self, sink: OverflowSink) -> None:
        """From now on the bytes past the limit go to ``sink``, which the protocol chose (SMTP
        puts its MIME decoder in front of the stream scanner). Called when the body holds
        exactly the limit, before the first byte past it is appended."""
        self.overflow = sink
        self._overflow_gaps = self.gap_bytes
        self.truncated = True

    def continued_past_limit(
        self, sink: OverflowSink, digest: Any, seen_bytes: int, gap_bytes: int
    ) -> None:
        """For a file laid out by offset (SMB) whose bytes past the limit were streamed before the
        object was made: ``sink`` read them, ``digest`` hashed every byte seen (``seal`` reports
        it), ``seen_bytes`` is the file offset reached and ``gap_bytes`` the holes past the limit."""
        self.overflow = sink
        self._hash = digest
        self.total_bytes = seen_bytes - gap_bytes
        self.gap_bytes += gap_bytes
        self.truncated = True

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)

    def seal(self) -> None:
        """The object is whole: fix its hash and sniff what it is."""
        self.sha256 = self._hash.hexdigest()
        head = sniff_sample(self.body)
        if not self.detected_type:
            self.detected_type = detect_type(head)
        self.encrypted = self.encrypted or is_encrypted(head, self.detected_type)

    def flag_names(self) -> list[str]:
        """complete / truncated / gap / encrypted plus the named conditions, for output."""
        names = [
            name
            for name, on in (
                ("complete", self.complete),
                ("truncated", self.truncated),
                ("gap", self.gap_bytes > 0),
                ("encrypted", self.encrypted),
            )
            if on
        ]
        return names + self.flags

    def inspection_bytes(self) -> bytes:
        """What detection should read: the text view if one was made, else the body."""
        return self.text_view if self.text_view is not None else bytes(self.body)


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="microseconds")


def object_record(
    obj: TransferObject, *, sensor_id: str, source: str, extracted: str | None = None
) -> dict[str, Any]:
    """The ``objects.jsonl`` record: no body, no query string, no raw personal data."""
    url = urlsplit(obj.url) if obj.url else None
    record: dict[str, Any] = {
        "schema_version": OBJECT_SCHEMA_VERSION,
        "record_type": "object",
        "@timestamp": _iso(obj.timestamp),
        "observer": {"name": sensor_id, "input": source},
        "flow": {"id": obj.flow.uid},
        "network": {
            "transport": obj.flow.transport,
            "protocol": obj.protocol,
            "vlan": list(obj.flow.vlan),
        },
        "source": {"ip": obj.flow.src_ip, "port": obj.flow.src_port},
        "destination": {"ip": obj.flow.dst_ip, "port": obj.flow.dst_port},
        "object": {
            "index": obj.index,
            "direction": obj.direction,
            "method": obj.method,
            "status": obj.status,
            "url": {
                "domain": obj.host,
                "path": url.path if url else "",
                "has_query": bool(url and url.query),
            },
            "filename": obj.filename,
            "field_name": obj.field_name,
            "content_type": obj.content_type,
            "detected_type": obj.detected_type,
            "content_encoding": obj.content_encoding,
            "content_range": obj.content_range,
            "tunnel": obj.tunnel,
            "size": obj.total_bytes,
            "kept_bytes": len(obj.body),
            "encoded_bytes": obj.encoded_bytes,
            "declared_size": obj.declared_length,
            "gap_bytes": obj.gap_bytes,
            "sha256": obj.sha256,
            "flags": obj.flag_names(),
            "extracted": extracted,
        },
    }
    if obj.protocol == "smtp":
        record["object"]["mail"] = mail_record(obj)
    if obj.related_flow:
        record["object"]["related_flow"] = obj.related_flow
    return record


_ID_LIKE = re.compile(r"[0-9A-Za-z]*\d{6,}[0-9A-Za-z]*")
_ADDRESS = re.compile(r"[^\s<>@\"]+@[^\s<>@\"]+")


def public_text(text: str) -> str:
    """Free text (a mail subject) for output: addresses and long digit runs masked."""
    text = _ADDRESS.sub(lambda m: mask_email(m.group(0)), text)
    return _ID_LIKE.sub(lambda m: "*" * len(m.group(0)), text)


def mail_record(obj: TransferObject) -> dict[str, Any]:
    """Mail metadata for output: addresses masked like detector samples (first letter, domain)."""
    return {
        "from": mask_email(obj.mail_from.strip("<>")) if obj.mail_from else "",
        "to": [mask_email(a.strip("<>")) for a in obj.mail_to],
        "to_domains": sorted({a.strip("<>").rpartition("@")[2].lower() for a in obj.mail_to}),
        "subject": public_text(obj.subject),
        "helo": obj.helo,
        "part": obj.part,
    }
