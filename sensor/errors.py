"""User-facing errors.

An ``EgressError`` is a problem the user can fix (a missing file, a file that is not a capture, a bad
configuration). The CLI prints its message on one line and exits with ``exit_code``; it never shows a
traceback for these. Anything else is a bug and is reported as such.
"""


class EgressError(Exception):
    """A problem with the user's input or configuration, with a message that says what to do."""

    exit_code = 2


class CaptureFormatError(EgressError):
    """The input file is not a capture this version can read."""


class ConfigError(EgressError):
    """The configuration file is missing, unreadable or invalid."""


class SignatureError(EgressError):
    """A signature pack is missing, unreadable or invalid."""
