"""One FTP control connection, Sans-IO: ``feed(side, bytes)``, ``gap(side, length)`` -> events.

- Client lines are commands; PASS and ACCT arguments are dropped before any event is made.
  PORT and EPRT (IPv4 and IPv6) announce an active data connection at once; PASV and EPSV do when
  their 227/229 reply names the address and port. REST and TYPE are remembered for the next
  transfer; STOR, STOU, APPE, RETR, LIST, NLST and MLSD start one (``TransferStart``) and their
  final reply ends it (``TransferEnd``).
- Replies are paired with commands in order; ``1xx`` replies are preliminary. A multi-line reply
  (``123-`` ... ``123 ``) is one reply whatever its middle lines hold; a line outside a reply that
  has no code is counted (``ftp.reply_without_code``).
- ``AUTH TLS``/``AUTH SSL`` answered by 234, or TLS record bytes in place of a command, end the
  cleartext (``FtpEncrypted``).
- A gap drops the partial line and stops reply pairing for the commands already sent
  (``ftp.gap_in_commands``, ``ftp.gap_in_replies``); lines re-synchronise by themselves.

Limits (named constants): ``MAX_LINE`` (``ftp.line_too_long``), ``MAX_REPLY_LINES``,
``MAX_PENDING`` (``ftp.pending_overflow``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque

from sensor.protocols.ftp.events import (
    DataOffer,
    FtpAnomaly,
    FtpCommand,
    FtpEncrypted,
    FtpEvent,
    FtpReply,
    Side,
    TransferEnd,
    TransferStart,
    UniqueName,
)

MAX_LINE = 8 * 1024  # RFC 959 sets no limit; paths are rarely past 1 KiB
MAX_REPLY_LINES = 500  # FEAT and HELP list some dozens of lines
MAX_PENDING = 1000  # commands sent ahead of their replies
TRANSFER_VERBS = frozenset({"STOR", "STOU", "APPE", "RETR", "LIST", "NLST", "MLSD"})
_TLS_RECORD = re.compile(rb"\x16\x03[\x00-\x04]")
_REPLY = re.compile(rb"(\d{3})([ -]?)(.*)", re.S)
_HOST_PORT = re.compile(r"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(r"\((.)\1\1(\d{1,5})\1\)")
_STOU_NAME = re.compile(r"FILE:\s*(\S+)", re.I)


def parse_host_port(text: str) -> tuple[str, int] | None:
    """``h1,h2,h3,h4,p1,p2`` (PORT argument, 227 reply) -> (address, port), or None."""
    match = _HOST_PORT.search(text)
    if match is None:
        return None
    numbers = [int(n) for n in match.groups()]
    if any(n > 255 for n in numbers):
        return None
    return ".".join(map(str, numbers[:4])), numbers[4] * 256 + numbers[5]


def parse_eprt(argument: str) -> tuple[str, int] | None:
    """``|1|132.235.1.2|6275|`` or ``|2|::1|6275|`` (RFC 2428) -> (address, port), or None."""
    if len(argument) < 2:
        return None
    parts = argument.split(argument[0])
    if len(parts) < 5 or parts[1] not in ("1", "2") or not parts[3].isdigit():
        return None
    try:
        address = str(ipaddress.ip_address(parts[2]))
    except ValueError:
        return None
    port = int(parts[3])
    return (address, port) if 0 < port < 65536 else None


class FtpControl:
    """Both directions of one FTP control connection; see the module docstring."""

    def __init__(self) -> None:
        self._buf = {Side.CLIENT: bytearray(), Side.SERVER: bytearray()}
        self._discard_line = {Side.CLIENT: False, Side.SERVER: False}
        self._pending: deque[str] = deque()
        self._multiline_code: bytes | None = None
        self._reply_lines: list[bytes] = []
        self._greeted = False
        self._rest = 0
        self._type = ""
        self.user = ""  # the login name; kept for the session, never put in an object
        self.encrypted = False
        self.leftover: dict[Side, bytes] = {}  # bytes after the switch to TLS, for TLS metadata

    def feed(self, side: Side, data: bytes) -> list[FtpEvent]:
        events: list[FtpEvent] = []
        if self.encrypted or not data:
            return events
        buf = self._buf[side]
        buf += data
        while buf and not self.encrypted:
            if side is Side.CLIENT and _TLS_RECORD.match(buf):
                self._encrypt("tls_bytes_in_commands", events)
                break
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE:
                    events.append(FtpAnomaly("ftp.line_too_long", f"{side.value}: {len(buf)}"))
                    buf.clear()
                    self._discard_line[side] = True
                break
            line = bytes(buf[:end]).rstrip(b"\r")
            del buf[: end + 1]
            if self._discard_line[side]:
                self._discard_line[side] = False
                continue
            if side is Side.CLIENT:
                self._command(line, events)
            else:
                self._reply_line(line, events)
        return events

    def gap(self, side: Side, length: int) -> list[FtpEvent]:
        if self.encrypted or length <= 0:
            return []
        self._buf[side].clear()
        self._discard_line[side] = True
        self._pending.clear()
        if side is Side.SERVER:
            self._multiline_code = None
            self._reply_lines = []
        name = "ftp.gap_in_commands" if side is Side.CLIENT else "ftp.gap_in_replies"
        return [FtpAnomaly(name, f"{length} bytes")]

    def close(self) -> list[FtpEvent]:
        return []

    # -- client ---------------------------------------------------------------------------------

    def _command(self, line: bytes, events: list[FtpEvent]) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        if verb in ("PASS", "ACCT"):
            argument = ""
        events.append(FtpCommand(verb, argument))
        if len(self._pending) >= MAX_PENDING:
            events.append(FtpAnomaly("ftp.pending_overflow", str(MAX_PENDING)))
            self._pending.clear()
        self._pending.append(verb)
        if verb == "USER":
            self.user = argument
        elif verb == "TYPE":
            self._type = argument[:1].upper()
        elif verb == "REST":
            self._rest = int(argument) if argument.isdigit() else 0
        elif verb == "PORT":
            offer = parse_host_port(argument)
            self._offer("active", offer, argument, events)
        elif verb == "EPRT":
            self._offer("active", parse_eprt(argument), argument, events)
        elif verb in TRANSFER_VERBS:
            events.append(TransferStart(verb, argument, self._rest, self._type))
            self._rest = 0

    @staticmethod
    def _offer(mode: str, offer: tuple[str, int] | None, text: str, events: list[FtpEvent]) -> None:
        if offer is None:
            events.append(FtpAnomaly("ftp.bad_data_address", text[:60]))
        else:
            events.append(DataOffer(mode, *offer))

    # -- server ---------------------------------------------------------------------------------

    def _reply_line(self, line: bytes, events: list[FtpEvent]) -> None:
        match = _REPLY.fullmatch(line)
        if self._multiline_code is not None:
            if len(self._reply_lines) < MAX_REPLY_LINES:
                self._reply_lines.append(line)
            if match and match.group(1) == self._multiline_code and match.group(2) != b"-":
                code = int(self._multiline_code)
                self._multiline_code = None
                self._reply(code, events)
            return
        if match is None:
            events.append(FtpAnomaly("ftp.reply_without_code", line[:40].decode("latin-1")))
            return
        self._reply_lines = [line]
        if match.group(2) == b"-":
            self._multiline_code = match.group(1)
            return
        self._reply(int(match.group(1)), events)

    def _reply(self, code: int, events: list[FtpEvent]) -> None:
        lines, self._reply_lines = self._reply_lines, []
        text = b"\n".join(line[4:] for line in lines).decode("utf-8", "replace")
        greeting = not self._greeted and code in (120, 220, 421)
        self._greeted = True
        preliminary = code < 200
        command = ""
        if self._pending and not greeting:
            command = self._pending[0] if preliminary else self._pending.popleft()
        events.append(FtpReply(code, text, command))
        if code == 227:
            offer = parse_host_port(text)
            self._offer("passive", offer, text, events)
        elif code == 229:
            match = _EPSV.search(text)
            if match is None:
                events.append(FtpAnomaly("ftp.bad_data_address", text[:60]))
            else:
                events.append(DataOffer("passive", "", int(match.group(2))))
        elif code == 234 and command in ("AUTH", ""):
            self._encrypt("auth_tls", events)
        if command == "STOU" and preliminary:
            named = _STOU_NAME.search(text)
            if named:
                events.append(UniqueName(named.group(1)))
        if command in TRANSFER_VERBS and not preliminary:
            events.append(TransferEnd(command, code))

    def _encrypt(self, reason: str, events: list[FtpEvent]) -> None:
        self.encrypted = True
        self.leftover = {side: bytes(buf) for side, buf in self._buf.items()}
        for buf in self._buf.values():
            buf.clear()
        events.append(FtpEncrypted(reason))
