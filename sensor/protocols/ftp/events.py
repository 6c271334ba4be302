"""Events the FTP control parser emits: the dialogue, data-connection offers, transfers."""

from __future__ import annotations

from dataclasses import dataclass

from sensor.protocols.http.events import Side as Side  # one client/server enum for all


@dataclass(frozen=True, slots=True)
class FtpCommand:
    """A client command. PASS (and ACCT) arguments are dropped: credentials never leave."""

    verb: str  # upper case
    argument: str


@dataclass(frozen=True, slots=True)
class FtpReply:
    code: int
    text: str  # all lines of a multi-line reply, joined by "\n"
    command: str  # the verb it answers ("" for the greeting or when pairing was lost)


@dataclass(frozen=True, slots=True)
class DataOffer:
    """Where the next data connection will be accepted.

    ``passive``: the server listens (227/229 reply); ``active``: the client listens (PORT/EPRT).
    ``host`` is "" when the reply names only a port (EPSV): the control connection's server.
    """

    mode: str  # "passive" or "active"
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class TransferStart:
    """A command that moves bytes over a data connection."""

    verb: str  # STOR, STOU, APPE, RETR, LIST, NLST, MLSD
    path: str
    rest: int  # REST offset in force (0 when none)
    type: str  # "A" or "I" (TYPE), "" if never set


@dataclass(frozen=True, slots=True)
class TransferEnd:
    """The final reply to a transfer command: 226/250 succeeded, 4xx/5xx failed."""

    verb: str
    code: int


@dataclass(frozen=True, slots=True)
class UniqueName:
    """The name the server chose for an STOU upload (``150 FILE: name``)."""

    path: str


@dataclass(frozen=True, slots=True)
class FtpEncrypted:
    reason: str


@dataclass(frozen=True, slots=True)
class FtpAnomaly:
    name: str
    detail: str = ""


FtpEvent = (
    FtpCommand
    | FtpReply
    | DataOffer
    | TransferStart
    | TransferEnd
    | UniqueName
    | FtpEncrypted
    | FtpAnomaly
)
