"""Text views of form and JSON bodies, so detection sees the values as they were typed.

A form field ``name=%E5%BC%A0%E4%B8%89`` or a JSON string ``"\\u5f20\\u4e09"`` hides the characters
the detectors look for. These functions rewrite such bodies into plain UTF-8 text for detection
only; the object keeps the bytes that were sent (its sha256 and any extracted file are of those).
Both are linear in the body and allocate one output of about the input's size.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

_JSON_ESCAPE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}"
)


def urlencoded_text(body: bytes) -> bytes:
    """``a=1&b=x+y%21`` -> ``a=1\\nb=x y!\\n``: one field per line, percent escapes undone.

    Bytes are kept as bytes (a GBK form stays GBK), so detectors that know other encodings still
    match; only ``+`` and ``%XX`` are undone.
    """
    lines = []
    for field in re.split(rb"[&;]", body):
        if not field:
            continue
        name, sep, value = field.partition(b"=")
        name = unquote_to_bytes(name.replace(b"+", b" "))
        value = unquote_to_bytes(value.replace(b"+", b" "))
        lines.append(name + sep + value)
    return b"\n".join(lines) + b"\n" if lines else b""


def _unescape(match: re.Match[bytes]) -> bytes:
    text = match.group(0).decode("ascii").encode("latin-1").decode("unicode_escape")
    return text.encode("utf-16", "surrogatepass").decode("utf-16").encode("utf-8", "replace")


def json_text(body: bytes) -> bytes | None:
    """The body with ``\\uXXXX`` escapes (surrogate pairs joined) turned into UTF-8, or None if it
    has none, in which case the body is already what detection should see."""
    if b"\\u" not in body:
        return None
    return _JSON_ESCAPE.sub(_unescape, body)
