"""One SMTP connection, Sans-IO: ``feed(side, bytes)``, ``gap(side, length)``, ``close()`` -> events.

The client stream drives the message state, so a capture with only the client half (or with
replies reordered against it) still yields the mail:

- command mode reads lines; ``DATA`` switches to data mode at once (the client sends the message
  after ``354``; a client that pipelines it anyway is still read, and a refusal is recorded on
  ``MessageEnd.rejected``); data mode copies bytes, removes the stuffed dot at line starts and ends
  at ``CRLF.CRLF``; ``BDAT n [LAST]`` takes exactly ``n`` raw bytes, chunks joined until ``LAST``;
- replies are paired with commands in order (``PIPELINING``); multi-line replies are joined;
  lines without a three-digit code are counted (``smtp.reply_without_code``);
- ``STARTTLS`` answered by 220, or TLS record bytes where a command should be, ends parsing
  (``Encrypted``); the rest of the connection is only counted by the flow;
- ``AUTH``: only the mechanism is kept; the client lines of the exchange are dropped unread until
  the server's final reply (or a line that can only be a command, so a lost reply cannot swallow
  the session);
- gaps: in a command line the partial line is dropped; in DATA the message gets a
  ``MessageGap`` and, since the gap may have eaten the final dot, a following line that is a
  transaction command (MAIL FROM, RSET, QUIT, HELO/EHLO) ends the message
  (``smtp.gap_resync_on_command``); in BDAT the chunk count absorbs the gap exactly.

Limits (named constants): ``MAX_LINE`` for command and reply lines (``smtp.line_too_long``; the
line is dropped up to its end), ``MAX_REPLY_LINES`` per multi-line reply, ``MAX_PENDING`` commands
awaiting replies (``smtp.pending_overflow``). Message size is bounded by the consumer.
"""

from __future__ import annotations

import re
from collections import deque

from sensor.protocols.smtp.events import (
    Encrypted,
    MessageData,
    MessageEnd,
    MessageGap,
    MessageStart,
    Side,
    SmtpAnomaly,
    SmtpCommand,
    SmtpEvent,
    SmtpReply,
)

MAX_LINE = 16 * 1024  # RFC 5321 allows 512 for commands, 1000 for text; generous for bad clients
MAX_REPLY_LINES = 200  # EHLO answers list a dozen extensions; more is a broken or hostile server
MAX_PENDING = 1000  # commands sent ahead of their replies; PIPELINING groups are a handful
# message bytes gathered before a MessageData event: one event (and one hash update and append
# downstream) per 64 KiB instead of one per TCP segment
DATA_EVENT_BYTES = 64 * 1024
_TLS_RECORD = re.compile(rb"^\x16\x03[\x00-\x04]")
_REPLY = re.compile(rb"^(\d{3})([ -]?)(.*)$", re.S)
_ADDRESS = re.compile(r"^\s*(?:FROM|TO)\s*:\s*(<[^>]*>|\S*)", re.I)
_RESYNC_COMMAND = re.compile(rb"(?:MAIL FROM:|RCPT TO:|RSET\r?\n|QUIT\r?\n|HELO |EHLO )", re.I)
_COMMAND_LIKE = re.compile(rb"^[A-Za-z]{4}(?: |\r?\n)")


def _line_dot(buf: bytearray, start: int) -> int:
    """Where the next ``\\n.`` (a line starting with a dot) begins at or after ``start``, or -1.

    Looks for the dot alone first: ``bytes.find`` of one byte is a memchr, and base64 (most of
    a mail's bytes) has no dots, whereas a ``\\n.`` search stops at every line break. Text
    with many dots mid-line falls back to the two-byte search after a few misses."""
    at = start
    for _ in range(8):
        dot = buf.find(b".", at)
        if dot < 0:
            return -1
        if dot > start and buf[dot - 1] == 0x0A:
            return dot - 1
        at = dot + 1
    return buf.find(b"\n.", at - 1)


def _address(argument: str) -> str:
    match = _ADDRESS.match(argument)
    if match is None:
        return argument.strip()
    return match.group(1).strip()


class SmtpSession:
    """Both directions of one SMTP connection; see the module docstring."""

    def __init__(self) -> None:
        self._client = bytearray()
        self._server = bytearray()
        self._mode = "command"  # command | data | bdat | auth | encrypted
        self._discard_line = {Side.CLIENT: False, Side.SERVER: False}
        self._bol = True  # data mode: at the start of a line
        self._probe = False  # data mode: check the next line for a command (DATA was refused)
        self._bdat_left = 0
        self._bdat_last = False
        self._in_message = False
        self._message_gap = False
        self._message_bytes = 0
        self._data_out = bytearray()  # unstuffed message bytes not yet in a MessageData event
        self._rejected = False
        self._pending: deque[str] = deque()
        self._reply_lines: list[bytes] = []
        self._greeted = False  # the first 220 is the greeting, not an answer to a command
        self.helo = ""
        self.mail_from = ""
        self.rcpt_to: list[str] = []
        self.encrypted = False
        self.leftover: dict[Side, bytes] = {}  # bytes after the switch to TLS, for TLS metadata
        self.messages = 0

    # -- input ----------------------------------------------------------------------------------

    def feed(self, side: Side, data: bytes) -> list[SmtpEvent]:
        if self.encrypted or not data:
            return []
        events: list[SmtpEvent] = []
        if side is Side.CLIENT:
            self._client += data
            self._client_bytes(events)
        else:
            self._server += data
            self._server_lines(events)
        return events

    def gap(self, side: Side, length: int) -> list[SmtpEvent]:
        if self.encrypted or length <= 0:
            return []
        events: list[SmtpEvent] = []
        if side is Side.SERVER:
            self._server.clear()
            self._reply_lines.clear()
            self._discard_line[Side.SERVER] = True
            self._pending.clear()  # which replies were lost is unknown: stop pairing
            events.append(SmtpAnomaly("smtp.gap_in_replies", f"{length} bytes"))
            return events
        if self._mode == "data":
            self._flush_data(events)
            events.append(MessageGap(length))
            self._message_gap = True
            self._bol = False
        elif self._mode == "bdat":
            inside = min(length, self._bdat_left)
            self._bdat_left -= inside
            events.append(MessageGap(inside))
            self._message_gap = True
            if length > inside:  # the gap ran past the chunk into the commands
                self._bdat_done(events)
                self._client.clear()
                self._discard_line[Side.CLIENT] = True
            elif self._bdat_left == 0:
                self._bdat_done(events)
        else:
            self._client.clear()
            self._discard_line[Side.CLIENT] = True
            self._pending.clear()
            events.append(SmtpAnomaly("smtp.gap_in_commands", f"{length} bytes"))
        self._client_bytes(events)
        return events

    def close(self) -> list[SmtpEvent]:
        events: list[SmtpEvent] = []
        if self.encrypted:
            return events
        if self._mode == "data":
            self._flush_data(events)
        if self._in_message:
            events.append(SmtpAnomaly("smtp.message_unterminated", self._mode))
            self._end_message(events, complete=False)
        self._mode = "command"
        return events

    # -- client ---------------------------------------------------------------------------------

    def _client_bytes(self, events: list[SmtpEvent]) -> None:
        while self._client and not self.encrypted:
            if self._mode == "data":
                if not self._data(events):
                    return  # all copied, or the rest waits for more bytes
            elif self._mode == "bdat":
                self._bdat(events)
            else:
                line = self._line(Side.CLIENT, self._client, events)
                if line is None:
                    return
                if self._mode == "auth":
                    self._auth_line(line, events)
                else:
                    self._command(line, events)

    def _line(self, side: Side, buf: bytearray, events: list[SmtpEvent]) -> bytes | None:
        """The next whole line (with its ending) from ``buf``, or None if it is not complete."""
        if side is Side.CLIENT and self._mode == "command" and _TLS_RECORD.match(buf):
            self._encrypt("tls_bytes_in_commands", events)
            return None
        end = buf.find(b"\n")
        if end < 0:
            if len(buf) > MAX_LINE:
                events.append(SmtpAnomaly("smtp.line_too_long", f"{side.value}: {len(buf)}"))
                buf.clear()
                self._discard_line[side] = True
            return None
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        if self._discard_line[side]:
            self._discard_line[side] = False
            return b""
        return line

    def _command(self, line: bytes, events: list[SmtpEvent]) -> None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        if verb == "AUTH":
            argument = argument.split(" ", 1)[0].upper()
        events.append(SmtpCommand(verb, argument))
        if len(self._pending) >= MAX_PENDING:
            events.append(SmtpAnomaly("smtp.pending_overflow", str(MAX_PENDING)))
            self._pending.clear()
        self._pending.append(verb)
        if verb in ("EHLO", "HELO", "LHLO", "MAIL", "RSET") and self._in_message:
            events.append(SmtpAnomaly("smtp.bdat_aborted", verb))  # BDAT chunks without LAST
            self._end_message(events, complete=False)
        if verb in ("EHLO", "HELO", "LHLO"):
            self.helo = argument
            self._reset()
        elif verb == "MAIL":
            self._reset()
            self.mail_from = _address(argument)
        elif verb == "RCPT":
            self.rcpt_to.append(_address(argument))
        elif verb == "RSET":
            self._reset()
        elif verb == "AUTH":
            self._mode = "auth"
        elif verb == "DATA":
            self._start_message("DATA", events)
            self._mode = "data"
            self._bol = True
        elif verb == "BDAT":
            self._bdat_command(argument, events)

    def _auth_line(self, line: bytes, events: list[SmtpEvent]) -> None:
        """A line of the AUTH exchange is a credential: dropped, never decoded or kept."""
        if _COMMAND_LIKE.match(line) and (_RESYNC_COMMAND.match(line) or b":" in line):
            self._mode = "command"  # the AUTH outcome was not captured; this is a command
            self._command(line, events)

    def _bdat_command(self, argument: str, events: list[SmtpEvent]) -> None:
        size, _, rest = argument.partition(" ")
        if not size.isdigit():
            events.append(SmtpAnomaly("smtp.bad_bdat_size", argument[:40]))
            return
        if not self._in_message:
            self._start_message("BDAT", events)
        self._bdat_left = int(size)
        self._bdat_last = rest.strip().upper() == "LAST"
        self._mode = "bdat"
        if self._bdat_left == 0:
            self._bdat_done(events)

    def _bdat(self, events: list[SmtpEvent]) -> None:
        self._emit_data(events)
        take = min(self._bdat_left, len(self._client))
        events.append(MessageData(bytes(self._client[:take])))
        del self._client[:take]
        self._bdat_left -= take
        if self._bdat_left == 0:
            self._bdat_done(events)

    def _bdat_done(self, events: list[SmtpEvent]) -> None:
        self._mode = "command"
        if self._bdat_last:
            self._end_message(events, complete=not self._message_gap)

    def _data(self, events: list[SmtpEvent]) -> bool:
        """Copy data-mode bytes; True when the message ended and command mode takes the rest."""
        buf = self._client
        out = self._data_out
        kept = len(out)
        i, n = 0, len(buf)
        while i < n:
            if self._bol:
                # after a gap (which may have eaten the final dot) or a refused DATA, a line
                # that is a transaction command ends the message
                if self._message_gap or self._probe:
                    if buf.find(b"\n", i) < 0 and n - i < MAX_LINE:
                        break  # decide on whole lines only
                    if _RESYNC_COMMAND.match(buf, i):
                        if self._message_gap:
                            events.append(SmtpAnomaly("smtp.gap_resync_on_command"))
                        self._message_bytes += len(out) - kept
                        del buf[:i]
                        self._mode = "command"
                        self._probe = False
                        self._end_message(events, complete=False)
                        return True
                    self._probe = False  # the client sent the message anyway
                if buf[i] == 0x2E:  # "." at a line start: the terminator or a stuffed dot
                    if n - i < 3 and bytes(buf[i:]) in (b".", b".\r"):
                        break
                    if buf.startswith(b".\r\n", i) or buf.startswith(b".\n", i):
                        self._message_bytes += len(out) - kept
                        del buf[: i + (3 if buf[i + 1] == 0x0D else 2)]
                        self._mode = "command"
                        self._pending.append(".")  # the reply to the message itself
                        self._end_message(events, complete=True)
                        return True
                    i += 1
                self._bol = False
            j = buf.find(b"\n", i) if self._message_gap else _line_dot(buf, i)
            if j < 0:
                out += buf[i:]
                self._bol = buf.endswith(b"\n")
                i = n
                break
            out += buf[i : j + 1]
            i = j + 1
            self._bol = True
        self._message_bytes += len(out) - kept
        if len(out) >= DATA_EVENT_BYTES:
            self._emit_data(events)
        del buf[:i]
        return False

    def _flush_data(self, events: list[SmtpEvent]) -> None:
        """Held bytes (a lone "." or "\\r" that might have started the terminator) are data."""
        self._emit_data(events)
        if self._client:
            events.append(MessageData(bytes(self._client)))
            self._client.clear()
            self._bol = False

    def _emit_data(self, events: list[SmtpEvent]) -> None:
        """The gathered message bytes as one event (before any gap, end or other data)."""
        if self._data_out:
            events.append(MessageData(bytes(self._data_out)))
            self._data_out.clear()

    # -- server ---------------------------------------------------------------------------------

    def _server_lines(self, events: list[SmtpEvent]) -> None:
        while self._server and not self.encrypted:
            line = self._line(Side.SERVER, self._server, events)
            if line is None:
                return
            if line:
                self._reply_line(line.rstrip(b"\r\n"), events)

    def _reply_line(self, line: bytes, events: list[SmtpEvent]) -> None:
        match = _REPLY.match(line)
        if match is None:
            events.append(SmtpAnomaly("smtp.reply_without_code", line[:40].decode("latin-1")))
            return
        code = int(match.group(1))
        if len(self._reply_lines) < MAX_REPLY_LINES:
            self._reply_lines.append(match.group(3))
        elif len(self._reply_lines) == MAX_REPLY_LINES:
            events.append(SmtpAnomaly("smtp.reply_too_many_lines", str(code)))
            self._reply_lines.append(b"")
        if match.group(2) == b"-":
            return
        text = b"\n".join(self._reply_lines).decode("utf-8", "replace")
        self._reply_lines = []
        self._reply(code, text, events)

    def _reply(self, code: int, text: str, events: list[SmtpEvent]) -> None:
        command = ""
        greeting = not self._greeted and code in (220, 421, 554)
        self._greeted = True
        if (
            self._pending and code != 334 and not greeting
        ):  # 334 continues AUTH; its final reply comes later
            command = self._pending.popleft()
        events.append(SmtpReply(code, text, command))
        if code in (334, 354):
            return
        if command in ("DATA", "BDAT") and code >= 400:
            self._rejected = True
            if command == "DATA" and self._mode == "data" and not self._message_bytes:
                self._probe = True  # refused before any byte: the next line may be a command
        if command == "STARTTLS" and code == 220:
            self._encrypt("starttls", events)
        elif command == "AUTH" and self._mode == "auth":
            self._mode = "command"

    # -- state ----------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.mail_from = ""
        self.rcpt_to = []

    def _start_message(self, method: str, events: list[SmtpEvent]) -> None:
        self._in_message = True
        self._message_gap = False
        self._message_bytes = 0
        self._probe = False
        self._rejected = False
        self.messages += 1
        events.append(MessageStart(self.helo, self.mail_from, tuple(self.rcpt_to), method))

    def _end_message(self, events: list[SmtpEvent], complete: bool) -> None:
        self._emit_data(events)
        if not self._in_message:
            return
        self._in_message = False
        events.append(MessageEnd(complete and not self._message_gap, self._rejected))
        self._message_gap = False

    def _encrypt(self, reason: str, events: list[SmtpEvent]) -> None:
        if self._in_message:
            self._end_message(events, complete=False)
        self.encrypted = True
        self._mode = "encrypted"
        # bytes already received past the switch are the TLS handshake: hand them on
        self.leftover = {Side.CLIENT: bytes(self._client), Side.SERVER: bytes(self._server)}
        self._client.clear()
        self._server.clear()
        events.append(Encrypted(reason))
