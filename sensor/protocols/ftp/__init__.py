"""FTP, Sans-IO control parsing plus the table that ties data connections to their commands.

- ``events``: frozen event dataclasses (commands, replies, data offers, transfer start/end).
- ``control``: ``FtpControl``, the command/reply dialogue of one control connection.
- ``expect``: ``DataExpectations``, the one cross-flow piece: control sessions announce where a
  data connection will arrive; new flows are matched against it (also when the data flow's bytes
  came first in capture order, by parking them, bounded, until the announcement).

``sensor.protocols.ftp_transfers`` turns data connections into objects.
"""

from sensor.protocols.ftp.control import FtpControl, parse_eprt, parse_host_port
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

__all__ = [
    "DataOffer",
    "FtpAnomaly",
    "FtpCommand",
    "FtpControl",
    "FtpEncrypted",
    "FtpEvent",
    "FtpReply",
    "Side",
    "TransferEnd",
    "TransferStart",
    "UniqueName",
    "parse_eprt",
    "parse_host_port",
]
