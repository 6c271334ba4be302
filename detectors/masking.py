"""Masked samples: enough of an identifier for an analyst to recognise it, not enough to misuse it.

``middle`` keeps a few characters at each end (the region code and check part of a resident ID,
the issuer of a card); ``email`` keeps the first character of the mailbox and the domain (which
provider is useful, the mailbox is the person); ``coordinates`` keeps two decimals (about a
kilometre), enough to see the city, not the house.
"""

from __future__ import annotations

COORDINATE_DECIMALS = 2


def mask(value: str, keep_start: int, keep_end: int) -> str:
    """Replace the middle of ``value`` by asterisks, keeping ``keep_start`` and ``keep_end`` chars.

    A value too short to hide anything after keeping both ends is masked entirely.
    """
    hidden = len(value) - keep_start - keep_end
    if hidden < max(4, len(value) // 3):  # never reveal more than two thirds
        return "*" * len(value)
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return "*" * len(value)
    return local[:1] + "****@" + domain  # a fixed width: the mailbox length is not shown either


def mask_coordinates(value: str) -> str:
    parts = []
    for number in value.split(","):
        whole, dot, frac = number.partition(".")
        parts.append(
            whole + dot + frac[:COORDINATE_DECIMALS] + "*" * len(frac[COORDINATE_DECIMALS:])
        )
    return ",".join(parts)


def mask_value(value: str, style: str, keep_start: int, keep_end: int) -> str:
    """Mask ``value`` (a normalised identifier) in the signature's style."""
    if style == "email":
        return mask_email(value)
    if style == "coordinates":
        return mask_coordinates(value)
    return mask(value, keep_start, keep_end)
