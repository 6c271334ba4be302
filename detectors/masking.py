"""Masked samples: enough of an identifier for an analyst to recognise it, not enough to misuse it."""


def mask(value: str, keep_start: int, keep_end: int) -> str:
    """Replace the middle of ``value`` by asterisks, keeping ``keep_start`` and ``keep_end`` chars.

    A value too short to hide anything after keeping both ends is masked entirely.
    """
    hidden = len(value) - keep_start - keep_end
    if hidden < max(4, len(value) // 3):  # never reveal more than two thirds
        return "*" * len(value)
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]
