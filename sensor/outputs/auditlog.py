"""Hash-chained, append-only audit log of alerts, and its verifier.

The sources ask for tamper-proof records of data exports kept for three years. A file on a disk
cannot stop its owner from editing it, but a hash chain makes every edit visible: each line is one
JSON entry carrying its sequence number and the sha256 of the previous line's exact bytes, so
changing, deleting, inserting or reordering any entry breaks the link to the next one. The last
entry of a finished log is a ``seal`` that states how many alerts came before it, so cutting the
tail off is caught too. Whoever keeps the head hash (printed by ``egress verify-log`` and written
to summary.json) elsewhere can also detect a rewrite of the whole file.

Line format (UTF-8, one JSON object per line, ``\\n`` terminated)::

    {"seq": 0, "prev_sha256": "000...0", "kind": "alert", "record": {...the alert...}}
    {"seq": 1, "prev_sha256": "<sha256 of line 0 without its newline>", "kind": "alert", ...}
    {"seq": 2, "prev_sha256": "...", "kind": "seal", "record": {"alerts": 2}}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

GENESIS = "0" * 64
# Entry kinds besides "alert" and the closing "seal": threshold and consistency events may be
# chained into the same log (they are decisions a reviewer must be able to trust as well).
RECORD_KINDS = frozenset({"event"})
LOG_NAME = "audit-log.jsonl"


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class AuditLog:
    """Appends alert entries to a new hash-chained log; ``seal`` closes it for good."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._file: IO[bytes] = os.fdopen(fd, "ab")
        self.entries = 0
        self.alerts = 0
        self.head = GENESIS

    def append(self, record: dict[str, Any], kind: str = "alert") -> str:
        """Write one entry and flush it; returns the entry's sha256 (the new head)."""
        if kind != "alert" and kind not in RECORD_KINDS:
            raise ValueError(f"audit log entry kind must be alert or one of {sorted(RECORD_KINDS)}")
        return self._write(record, kind)

    def _write(self, record: dict[str, Any], kind: str) -> str:
        entry = {"seq": self.entries, "prev_sha256": self.head, "kind": kind, "record": record}
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._file.write(line + b"\n")
        self._file.flush()
        self.entries += 1
        if kind == "alert":
            self.alerts += 1
        self.head = _line_hash(line)
        return self.head

    def seal(self) -> str:
        """Append the closing entry and close the file; returns the final head hash."""
        head = self._write({"alerts": self.alerts}, kind="seal")
        os.fsync(self._file.fileno())
        self._file.close()
        return head

    def info(self) -> dict[str, Any]:
        return {"path": self.path.name, "entries": self.entries, "head_sha256": self.head}


@dataclass(frozen=True)
class Verdict:
    """What ``verify_log`` found: ``ok``, how many entries were good, and the first problem."""

    ok: bool
    entries: int
    alerts: int
    head: str
    sealed: bool
    problem: str = ""


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("seq"), int) else None


def _find_later(f: IO[bytes], seq: int, line_no: int) -> int | None:
    """Line number (0-based) of entry ``seq`` after ``line_no``, reading on from ``f``."""
    for n, line in enumerate(f, start=line_no + 1):
        entry = _parse(line.rstrip(b"\n"))
        if entry is not None and entry["seq"] == seq:
            return n
    return None


def verify_log(path: Path, allow_open: bool = False, expect_head: str | None = None) -> Verdict:
    """Walk the chain; stop at the first entry that is malformed, missing, reordered or altered.

    Reads the log as a stream (memory does not grow with it). ``allow_open`` accepts a log without
    its seal (one still being written); ``expect_head`` is a head hash kept elsewhere, which the
    log's last entry must match.
    """
    head, alerts, sealed, entries = GENESIS, 0, False, 0

    def fail(n: int, why: str) -> Verdict:
        return Verdict(False, n, alerts, head, sealed, f"line {n + 1}: {why}")

    with path.open("rb") as f:
        for n, raw in enumerate(f):
            complete = raw.endswith(b"\n")
            line = raw[:-1] if complete else raw
            if sealed:
                return fail(n, "entry after the seal (appended after the log was closed)")
            entry = _parse(line)
            if entry is None:
                cut = "" if complete else " (the file is cut short)"
                return fail(n, f"not a complete log entry{cut}")
            if not complete:
                return fail(n, "the last line has no newline (the file is cut short)")
            if entry["seq"] != n:
                found = entry["seq"]
                later = _find_later(f, n, n) if found > n else None
                if later is not None:
                    return fail(
                        n, f"reordered: entry {n} is on line {later + 1}, found {found} here"
                    )
                return fail(n, f"entry {n} is missing (found entry {found} here)")
            if entry.get("prev_sha256") != head:
                what = "the first entry" if n == 0 else f"entry {n - 1} (line {n}) was altered"
                return fail(
                    n, f"hash chain broken: {what}; its sha256 is not what entry {n} records"
                )
            head = _line_hash(line)
            entries = n + 1
            kind = entry.get("kind")
            if kind == "seal":
                sealed = True
                record = entry.get("record")
                if not isinstance(record, dict) or record.get("alerts") != alerts:
                    return fail(n, f"the seal counts {record!r} alerts, the chain holds {alerts}")
            elif kind == "alert":
                alerts += 1
            elif kind in RECORD_KINDS:
                pass
            else:
                return fail(n, f"unknown entry kind {kind!r}")
    if expect_head is not None and head != expect_head.lower():
        return Verdict(
            False, entries, alerts, head, sealed, f"head is {head}, expected {expect_head}"
        )
    if not sealed and not allow_open:
        return Verdict(
            False,
            entries,
            alerts,
            head,
            sealed,
            f"not sealed: entries after entry {entries - 1} may have been removed "
            "(use --allow-open for a log that is still being written)",
        )
    return Verdict(True, entries, alerts, head, sealed)
