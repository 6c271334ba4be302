"""SMTP, Sans-IO: ``SmtpSession`` turns a connection's two byte streams into events.

- ``events``: the frozen event dataclasses (commands, replies, message start/data/gap/end,
  ``Encrypted``, anomalies).
- ``session``: the command/reply dialogue, DATA with dot-unstuffing, BDAT chunks, STARTTLS, AUTH
  (credentials dropped unread), gaps.

``sensor.protocols.smtp_transfers`` turns messages into objects; ``sensor.content.mime`` splits
them into parts.
"""

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
from sensor.protocols.smtp.session import SmtpSession

__all__ = [
    "Encrypted",
    "MessageData",
    "MessageEnd",
    "MessageGap",
    "MessageStart",
    "Side",
    "SmtpAnomaly",
    "SmtpCommand",
    "SmtpEvent",
    "SmtpReply",
    "SmtpSession",
]
