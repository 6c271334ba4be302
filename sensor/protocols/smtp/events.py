"""Events the SMTP session emits: the dialogue, message bytes, the end of cleartext, anomalies."""

from __future__ import annotations

from dataclasses import dataclass

from sensor.protocols.http.events import Side as Side  # one client/server enum for all


@dataclass(frozen=True, slots=True)
class SmtpCommand:
    """A client command. AUTH keeps only its mechanism: credentials never leave the parser."""

    verb: str  # upper case
    argument: str


@dataclass(frozen=True, slots=True)
class SmtpReply:
    code: int
    text: str  # all lines of a multi-line reply, joined by "\n"
    command: str  # the verb it answers ("" for the greeting or when pairing was lost)


@dataclass(frozen=True, slots=True)
class MessageStart:
    """The client started sending a message (after DATA or the first BDAT)."""

    helo: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    method: str  # "DATA" or "BDAT"


@dataclass(frozen=True, slots=True)
class MessageData:
    data: bytes  # message bytes, dot-unstuffed


@dataclass(frozen=True, slots=True)
class MessageGap:
    length: int  # message bytes never captured (wire bytes for DATA, exact for BDAT)


@dataclass(frozen=True, slots=True)
class MessageEnd:
    complete: bool  # ended by "." or BDAT LAST, with no gap since MessageStart
    rejected: bool = False  # the server refused DATA/BDAT (the client may have sent it anyway)


@dataclass(frozen=True, slots=True)
class Encrypted:
    """STARTTLS succeeded (or TLS bytes appeared): nothing after this is parsed."""

    reason: str


@dataclass(frozen=True, slots=True)
class SmtpAnomaly:
    name: str
    detail: str = ""


SmtpEvent = (
    SmtpCommand
    | SmtpReply
    | MessageStart
    | MessageData
    | MessageGap
    | MessageEnd
    | Encrypted
    | SmtpAnomaly
)
