"""Which protocol a TCP flow speaks, from its first bytes, on any port.

The application layer holds the first bytes of both directions and asks ``detect`` until it gets
an answer. Content decides; the port only breaks a tie the content leaves open:

- HTTP: a request line from either side (the side that sent it is the client), or a status line
  from the responder when the request was not captured;
- SMTP and FTP both greet with ``220``. The banner naming SMTP or FTP decides; otherwise the
  client's first command does (EHLO/HELO/LHLO: SMTP; USER, AUTH TLS, FEAT, ...: FTP); failing
  that, the server port (25/465/587/2525: SMTP, 21: FTP);
- a client first line of EHLO/HELO or USER decides alone, so captures missing the greeting (or
  the server half) are still parsed;
- the side that greets with 220 is the server even when the flow table guessed the orientation
  wrong (no handshake captured);
- TLS: a handshake record carrying a ClientHello (that side is the client), or a ServerHello,
  change_cipher_spec, alert or application_data record from either side (a flow captured after
  its ClientHello: encrypted);
- DNS over TCP: port 53 (its length-prefixed binary messages have nothing to recognise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sensor.flows.table import Direction

SNIFF_BYTES = 16  # bytes (or one line) a direction needs before it can decide
MAX_SNIFF_BYTES = 4096  # held per direction while waiting for the other side; then decide now
SMTP_PORTS = frozenset({25, 465, 587, 2525})
FTP_PORTS = frozenset({21})
DNS_PORT = 53  # DNS over TCP has no banner to recognise: the port decides

_HTTP_REQUEST = re.compile(rb"^\s*[A-Z][A-Z0-9_-]{2,15} \S")
_HTTP_RESPONSE = re.compile(rb"^HTTP/1\.[01] \d")
_GREETING = re.compile(rb"^220[ -]")
_TLS_CLIENT_HELLO = re.compile(rb"^\x16\x03[\x00-\x04]..\x01", re.S)
# a change_cipher_spec, alert or application_data record of a legal length, or a ServerHello: a
# flow captured after (or without) its ClientHello is still known to be encrypted
_TLS_RECORD = re.compile(
    rb"^(?:[\x14\x15\x17]\x03[\x00-\x04][\x00-\x47]|\x16\x03[\x00-\x04]..\x02)", re.S
)
_SMTP_CLIENT = re.compile(rb"^(?:EHLO|HELO|LHLO)[ \r\n]", re.I)
_FTP_CLIENT = re.compile(
    rb"^(?:USER |AUTH (?:TLS|SSL)|FEAT\r?\n|SYST\r?\n|OPTS |PBSZ |CLNT |HOST )", re.I
)
_SMTP_BANNER = re.compile(rb"SMTP|\bmail\b|Postfix|Exim|Sendmail", re.I)
_FTP_BANNER = re.compile(rb"FTP", re.I)


@dataclass(frozen=True, slots=True)
class Verdict:
    protocol: str  # "http", "smtp", "ftp", "tls", "dns", or "" for a stream nobody parses
    client: Direction  # the direction the client's bytes travel in


def _other(direction: Direction) -> Direction:
    if direction is Direction.TO_RESPONDER:
        return Direction.TO_ORIGINATOR
    return Direction.TO_RESPONDER


def _ready(held: bytes, final: bool) -> bool:
    return bool(held) and (final or len(held) >= SNIFF_BYTES or b"\n" in held)


def _client_line(held: bytes) -> str:
    if _SMTP_CLIENT.match(held):
        return "smtp"
    if _FTP_CLIENT.match(held):
        return "ftp"
    return ""


def _greeting(
    greeter: Direction, banner: bytes, other: bytes, final: bool, server_port: int
) -> Verdict | None:
    """``greeter`` sent a 220 greeting: SMTP or FTP, from the banner, the reply or the port."""
    client = _other(greeter)
    first_line = banner.split(b"\n", 1)[0]
    if _FTP_BANNER.search(first_line) and not _SMTP_BANNER.search(first_line):
        return Verdict("ftp", client)
    if _SMTP_BANNER.search(first_line):
        return Verdict("smtp", client)
    if other and (b"\n" in other or final or len(other) >= MAX_SNIFF_BYTES):
        kind = _client_line(other)
        if kind:
            return Verdict(kind, client)
    elif not final and len(banner) < MAX_SNIFF_BYTES:
        return None  # wait for the client's first command
    if server_port in SMTP_PORTS:
        return Verdict("smtp", client)
    if server_port in FTP_PORTS:
        return Verdict("ftp", client)
    return Verdict("", client)


def detect(up: bytes, down: bytes, final: bool, resp_port: int, orig_port: int) -> Verdict | None:
    """Decide from the held bytes (``up``: originator's, ``down``: responder's), or None to wait."""
    to_resp, to_orig = Direction.TO_RESPONDER, Direction.TO_ORIGINATOR
    if DNS_PORT in (resp_port, orig_port) and (up or down):
        return Verdict("dns", to_resp if resp_port == DNS_PORT else to_orig)
    if _ready(down, final) and _GREETING.match(down):
        return _greeting(to_orig, down, up, final, resp_port)
    if _ready(up, final) and _GREETING.match(up):
        return _greeting(to_resp, up, down, final, orig_port)
    if len(up) >= 6 and _TLS_CLIENT_HELLO.match(up):
        return Verdict("tls", to_resp)
    if len(down) >= 6 and _TLS_CLIENT_HELLO.match(down):
        return Verdict("tls", to_orig)
    if _TLS_RECORD.match(up):  # no ClientHello captured, but encrypted
        return Verdict("tls", to_orig if up[5:6] == b"\x02" else to_resp)  # ServerHello: server
    if _TLS_RECORD.match(down):
        return Verdict("tls", to_resp)
    if _ready(up, final):
        kind = _client_line(up)
        if kind:
            return Verdict(kind, to_resp)
        if _HTTP_REQUEST.match(up):
            return Verdict("http", to_resp)
        if _HTTP_RESPONSE.match(up) and not (down and not _HTTP_REQUEST.match(down)):
            return Verdict("http", to_orig)
        return Verdict("", to_resp)
    if _ready(down, final):
        kind = _client_line(down)
        if kind:
            return Verdict(kind, to_orig)
        if _HTTP_REQUEST.match(down):
            return Verdict("http", to_orig)
        if _HTTP_RESPONSE.match(down):
            return Verdict("http", to_resp)
        return Verdict("", to_resp)
    return None
