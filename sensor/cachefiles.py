"""Per-user cache files: ``$XDG_CACHE_HOME/egress``, else ``~/.cache/egress``.

Things that are slow to make and cheap to keep live here: the decompressed bundled GeoIP database
and compiled hyperscan databases. Every entry is named by a digest of what it was made from, so a
stale entry is never read, only left behind; writes are atomic (temporary file and rename), so
concurrent sensors never read half a file. When no cache directory is writable the callers make
the thing again in memory: a cache can make start-up slower, never wrong.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/egress, else ~/.cache/egress."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "egress"


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same directory (OSError if
    the directory cannot be made or written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
