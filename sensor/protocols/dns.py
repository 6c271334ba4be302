"""DNS answers (over UDP and TCP) -> the address -> name cache. Sans-IO decoding.

``parse_dns`` decodes one message: header, questions, and the answer section's A, AAAA and CNAME
records, following compression pointers (at most ``MAX_POINTER_HOPS``, names at most 255 bytes).
``DnsNames`` feeds a ``NameCache`` from responses: each address answered is named by the
question it answers (the name the client asked for, not the CDN name a CNAME chain ended at).
``DnsTcp`` is the application-layer parser of a DNS-over-TCP flow (two-byte length framing,
``MAX_TCP_MESSAGE`` bytes at most). Bad messages count ``dns.malformed``; nothing is raised.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from sensor.anomalies import AnomalyCounter
from sensor.names import NameCache
from sensor.protocols.http.events import Side

MAX_POINTER_HOPS = 32  # a compressed name pointing around in circles is cut here
MAX_NAME = 255
MAX_RECORDS = 512  # answers read per message; a real answer has a handful
MAX_TCP_MESSAGE = 65535
TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28


class DnsError(ValueError):
    pass


@dataclass(slots=True)
class DnsMessage:
    ident: int
    response: bool
    rcode: int
    questions: list[tuple[str, int]] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)  # (owner, type, data)


def _name(buf: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` and the position after it (after the first pointer, if any)."""
    labels: list[str] = []
    end = -1
    hops = 0
    length = 0
    while True:
        if pos >= len(buf):
            raise DnsError("name past the end")
        size = buf[pos]
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(buf):
                raise DnsError("cut pointer")
            hops += 1
            if hops > MAX_POINTER_HOPS:
                raise DnsError("pointer loop")
            if end < 0:
                end = pos + 2
            pos = ((size & 0x3F) << 8) | buf[pos + 1]
            continue
        if size & 0xC0:
            raise DnsError("bad label type")
        pos += 1
        if size == 0:
            break
        label = buf[pos : pos + size]
        if len(label) < size:
            raise DnsError("cut label")
        length += size + 1
        if length > MAX_NAME:
            raise DnsError("name too long")
        labels.append(label.decode("ascii", "replace"))
        pos += size
    return ".".join(labels).lower(), end if end >= 0 else pos


def parse_dns(buf: bytes) -> DnsMessage:
    if len(buf) < 12:
        raise DnsError("short header")
    ident = int.from_bytes(buf[0:2], "big")
    flags = int.from_bytes(buf[2:4], "big")
    counts = [int.from_bytes(buf[i : i + 2], "big") for i in range(4, 12, 2)]
    message = DnsMessage(ident, bool(flags & 0x8000), flags & 0xF)
    pos = 12
    for _ in range(min(counts[0], MAX_RECORDS)):
        name, pos = _name(buf, pos)
        if pos + 4 > len(buf):
            raise DnsError("cut question")
        message.questions.append((name, int.from_bytes(buf[pos : pos + 2], "big")))
        pos += 4
    for _ in range(min(counts[1], MAX_RECORDS)):
        owner, pos = _name(buf, pos)
        if pos + 10 > len(buf):
            raise DnsError("cut record")
        kind = int.from_bytes(buf[pos : pos + 2], "big")
        size = int.from_bytes(buf[pos + 8 : pos + 10], "big")
        start, pos = pos + 10, pos + 10 + size
        if pos > len(buf):
            raise DnsError("cut record data")
        if kind == TYPE_A and size == 4:
            message.answers.append((owner, kind, str(ipaddress.IPv4Address(buf[start:pos]))))
        elif kind == TYPE_AAAA and size == 16:
            message.answers.append((owner, kind, str(ipaddress.IPv6Address(buf[start:pos]))))
        elif kind == TYPE_CNAME:
            message.answers.append((owner, kind, _name(buf, start)[0]))
    return message


class DnsNames:
    """Responses -> ``NameCache``; counts what it saw."""

    def __init__(self, names: NameCache, anomalies: AnomalyCounter) -> None:
        self._names = names
        self._anomalies = anomalies
        self.responses = 0

    def message(self, payload: bytes, where: str = "") -> None:
        try:
            message = parse_dns(payload)
        except DnsError as exc:
            self._anomalies.count("dns.malformed", f"{where}: {exc}" if where else str(exc))
            return
        if not message.response:
            return
        self.responses += 1
        asked = {q[0] for q in message.questions}
        aliases = {owner: data for owner, kind, data in message.answers if kind == TYPE_CNAME}
        for owner, kind, data in message.answers:
            if kind not in (TYPE_A, TYPE_AAAA):
                continue
            name = next((q for q in asked if _resolves_to(q, owner, aliases)), owner)
            self._names.observe(data, name, "dns")

    def udp(self, src: str, dst: str, sport: int, dport: int, payload: bytes) -> bool:
        """A UDP datagram from the decoder: DNS (and consumed) when either port is 53."""
        if 53 not in (sport, dport):
            return False
        self.message(payload, f"{src}:{sport}")
        return True


def _resolves_to(question: str, owner: str, aliases: dict[str, str]) -> bool:
    name = question
    for _ in range(MAX_POINTER_HOPS):
        if name == owner:
            return True
        if name not in aliases:
            return False
        name = aliases[name]
    return False


class DnsTcp:
    """DNS over TCP: length-prefixed messages in both directions."""

    def __init__(self, dns: DnsNames, uid: str) -> None:
        self._dns = dns
        self._uid = uid
        self._buf = {Side.CLIENT: bytearray(), Side.SERVER: bytearray()}
        self._lost = {Side.CLIENT: False, Side.SERVER: False}

    def data(self, side: Side, data: bytes) -> None:
        if self._lost[side]:
            return
        buf = self._buf[side]
        buf += data
        while len(buf) >= 2:
            size = int.from_bytes(buf[:2], "big")
            if len(buf) < 2 + size:
                break
            self._dns.message(bytes(buf[2 : 2 + size]), self._uid)
            del buf[: 2 + size]

    def gap(self, side: Side, length: int) -> None:
        self._lost[side] = True  # framing is lost; the rest of this direction is skipped
        self._buf[side].clear()

    def close(self) -> None:
        pass
