"""The yearly ledger: exact distinct people per processor, year, class and breakdown, in SQLite.

Each count is a *bucket* (processor, year, class, scope) of 16-byte person keys (HMAC-SHA256
truncated, from ``detectors.individuals``). A person is stored once per *group* (processor, year,
class) in one WITHOUT ROWID table keyed by (group, person), with the ids of the buckets they are
in: exact deduplication, and one row (one B-tree page write) per new person rather than one per
scope, which is what limits the insert rate at scale (random keys dirty random pages). Each
bucket's count is kept alongside and never recounted. Scopes: ``total`` (what the thresholds use),
``country:XX``, ``recipient:name``, ``declaration:id``, and ``exempt:basis`` for exports under an
exemption, which stay out of ``total`` as 规定 第五条 says.

SQLite in WAL mode with ``synchronous=FULL``: a record is durable when ``record`` returns, which is
before the alert is written, so a crash loses nothing acknowledged and a rerun deduplicates.
Memory is bounded by the page cache (``CACHE_KIB``) and one object's keys, not by the number of
people (docs/compliance.md has measurements).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sensor.compliance.declarations import CLASSES
from sensor.errors import ConfigError

SCHEMA_VERSION = "2"
CACHE_KIB = 64 * 1024  # SQLite page cache: bounds memory whatever the ledger's size
KEY_BYTES = 16
PAGE_BYTES = 4096
LOOKUP_CHUNK = 500  # keys per ``IN (...)`` lookup, under SQLite's host-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS processors (id TEXT PRIMARY KEY, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY, processor TEXT NOT NULL, year INTEGER NOT NULL, class TEXT NOT NULL,
    scope TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0, UNIQUE (processor, year, class, scope));
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY, processor TEXT NOT NULL, year INTEGER NOT NULL, class TEXT NOT NULL,
    UNIQUE (processor, year, class));
CREATE TABLE IF NOT EXISTS people (
    grp INTEGER NOT NULL, person BLOB NOT NULL, buckets BLOB NOT NULL,
    PRIMARY KEY (grp, person)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS important (
    processor TEXT NOT NULL, year INTEGER NOT NULL, code TEXT NOT NULL, name_zh TEXT NOT NULL,
    max_score REAL NOT NULL, objects INTEGER NOT NULL, PRIMARY KEY (processor, year, code));
CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exports (
    object TEXT PRIMARY KEY, processor TEXT NOT NULL, year INTEGER NOT NULL);
"""


def _pack(ids: set[int]) -> bytes:
    """Bucket ids as little-endian uint32, so a ledger file reads the same on any machine."""
    packed = array("I", sorted(ids))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpack(data: bytes) -> set[int]:
    ids = array("I", data)
    if sys.byteorder == "big":
        ids.byteswap()
    return set(ids)


BUSY_SECONDS = 60.0  # how long a writer waits for another process's transaction


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode. The switch needs the file to itself and SQLite does not wait for
    it (the busy handler is not run), so live workers opening one new ledger at the same moment
    failed with "database is locked" (5 of 20 trials of 8 processes). WAL is a property of the
    file: read the mode first, and retry the switch with back-off within ``BUSY_SECONDS``."""
    deadline = time.monotonic() + BUSY_SECONDS
    delay = 0.002
    while True:
        try:
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            # when the lock is not granted SQLite may answer with the old mode instead of raising
            if str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked: the switch to WAL mode timed out")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class Ledger:
    """One ledger file. ``key_id`` is the fingerprint of the person-hash key; a ledger refuses a
    different persistent key, and a ledger made with per-run keys says so (``per_run``)."""

    def __init__(self, path: Path, key_id: str | None, persistent_key: bool = False) -> None:
        """``key_id`` None opens an existing ledger to read it (``egress ledger show``)."""
        self.path = path
        if key_id is None and not path.is_file():
            raise ConfigError(f"{path}: no such ledger; `egress audit --ledger PATH` creates one")
        try:
            # Several processes may share one ledger (the live sensor's workers): each waits for
            # the others' transactions rather than failing, and takes the write lock at BEGIN so
            # its look-up of known people and its inserts are one atomic step.
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS)
            self._db.execute(f"PRAGMA page_size={PAGE_BYTES}")  # only takes effect on a new file
            _use_wal(self._db)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"{path}: cannot open the ledger: {exc}") from None
        self._buckets: dict[tuple[str, int, str, str], int] = {}
        self._groups: dict[tuple[str, int, str], int] = {}
        if key_id is None:
            self.per_run = self._meta("key_scope") != "persistent"
        else:
            self.per_run = self._check_key(key_id, persistent_key)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _check_key(self, key_id: str, persistent: bool) -> bool:
        version = self._meta("schema_version")
        if version not in (None, SCHEMA_VERSION):
            raise ConfigError(
                f"{self.path}: ledger schema {version}, this egress reads {SCHEMA_VERSION}"
            )
        stored = self._meta("key_id")
        has_people = self._db.execute("SELECT 1 FROM people LIMIT 1").fetchone() is not None
        if stored is not None and stored != key_id and has_people:
            if self._meta("key_scope") == "persistent":
                this = f"this run uses {key_id}" if persistent else "this run has no identity key"
                raise ConfigError(
                    f"{self.path}: the ledger was built with identity key {stored}, {this}; use "
                    "the same detection.identity_key_file or a new ledger"
                )
            self._set_meta("key_scope", "per_run")  # per-run keys again: still per run
        elif stored is None or not has_people:
            self._set_meta("key_scope", "persistent" if persistent else "per_run")
        self._set_meta("schema_version", SCHEMA_VERSION)
        self._set_meta("key_id", key_id)
        return self._meta("key_scope") == "per_run"

    def _bucket(self, processor: str, year: int, klass: str, scope: str) -> int:
        ident = (processor, year, klass, scope)
        bucket = self._buckets.get(ident)
        if bucket is None:
            self._db.execute(
                "INSERT OR IGNORE INTO buckets (processor, year, class, scope) VALUES (?,?,?,?)",
                ident,
            )
            row = self._db.execute(
                "SELECT id FROM buckets WHERE processor=? AND year=? AND class=? AND scope=?",
                ident,
            ).fetchone()
            bucket = int(row[0])
            self._buckets[ident] = bucket
        return bucket

    def _group(self, processor: str, year: int, klass: str) -> int:
        ident = (processor, year, klass)
        group = self._groups.get(ident)
        if group is None:
            self._db.execute(
                "INSERT OR IGNORE INTO groups (processor, year, class) VALUES (?,?,?)", ident
            )
            row = self._db.execute(
                "SELECT id FROM groups WHERE processor=? AND year=? AND class=?", ident
            ).fetchone()
            group = int(row[0])
            self._groups[ident] = group
        return group

    def _add(self, group: int, buckets: list[int], blobs: list[bytes]) -> dict[int, int]:
        """Put people into buckets of one group; returns how many each bucket gained."""
        existing: dict[bytes, bytes] = {}
        for i in range(0, len(blobs), LOOKUP_CHUNK):
            chunk = blobs[i : i + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT person, buckets FROM people WHERE grp = ? AND person IN ({marks})",
                (group, *chunk),
            )
            existing.update(rows.fetchall())
        wanted = set(buckets)
        packed = _pack(wanted)
        gained = dict.fromkeys(buckets, 0)
        new_rows, changed = [], []
        for blob in dict.fromkeys(blobs):
            have = existing.get(blob)
            if have is None:
                new_rows.append((group, blob, packed))
                continue
            old = _unpack(have)
            missing = wanted - old
            if missing:
                changed.append((_pack(old | wanted), group, blob))
                for bucket in missing:
                    gained[bucket] += 1
        for bucket in buckets:
            gained[bucket] += len(new_rows)
        self._db.executemany("INSERT INTO people VALUES (?, ?, ?)", new_rows)
        self._db.executemany("UPDATE people SET buckets = ? WHERE grp = ? AND person = ?", changed)
        return gained

    def save_profile(self, processor: str, profile: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO processors VALUES (?, ?)",
            (processor, json.dumps(profile, ensure_ascii=False, default=str)),
        )

    def record(
        self,
        processor: str,
        year: int,
        keys: Mapping[str, Iterable[str]],
        scopes: Iterable[str],
        important: Iterable[tuple[str, str, float]] = (),
        object_id: str = "",
    ) -> None:
        """Add one exported object's people (hex keys per class) to every scope, atomically.

        ``object_id`` (the alert id, reproducible) makes a re-audited object count once."""
        scopes = tuple(scopes)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for klass, hex_keys in keys.items():
                blobs = [bytes.fromhex(k) for k in hex_keys]
                if not blobs:
                    continue
                buckets = [self._bucket(processor, year, klass, scope) for scope in scopes]
                gained = self._add(self._group(processor, year, klass), buckets, blobs)
                self._db.executemany(
                    "UPDATE buckets SET n = n + ? WHERE id = ?",
                    [(n, bucket) for bucket, n in gained.items() if n],
                )
            new_object = (
                self._db.execute("SELECT 1 FROM exports WHERE object = ?", (object_id,)).fetchone()
                is None
            )
            for code, name_zh, score in important if new_object else ():
                self._db.execute(
                    "INSERT INTO important VALUES (?,?,?,?,?,1) ON CONFLICT DO UPDATE SET "
                    "objects = objects + 1, max_score = max(max_score, excluded.max_score)",
                    (processor, year, code, name_zh, score),
                )
            self._db.execute(
                "INSERT OR IGNORE INTO exports VALUES (?,?,?)", (object_id, processor, year)
            )

    def counts(self, processor: str, year: int, scope: str = "total") -> dict[str, int]:
        rows = self._db.execute(
            "SELECT class, n FROM buckets WHERE processor=? AND year=? AND scope=?",
            (processor, year, scope),
        ).fetchall()
        found = {str(k): int(n) for k, n in rows}
        return {c: found.get(c, 0) for c in CLASSES}

    def breakdown(self, processor: str, year: int, prefix: str) -> dict[str, dict[str, int]]:
        """Counts per scope name for scopes ``prefix:name`` (country, recipient, ...)."""
        rows = self._db.execute(
            "SELECT scope, class, n FROM buckets WHERE processor=? AND year=? AND scope LIKE ?",
            (processor, year, prefix + ":%"),
        ).fetchall()
        out: dict[str, dict[str, int]] = {}
        for scope, klass, n in rows:
            name = str(scope)[len(prefix) + 1 :]
            out.setdefault(name, dict.fromkeys(CLASSES, 0))[str(klass)] = int(n)
        return dict(sorted(out.items()))

    def important(self, processor: str, year: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT code, name_zh, max_score, objects FROM important "
            "WHERE processor=? AND year=? ORDER BY code",
            (processor, year),
        ).fetchall()
        return [
            {"code": c, "name_zh": n, "max_score": round(float(s), 2), "objects": int(o)}
            for c, n, s, o in rows
        ]

    def exports(self, processor: str, year: int) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM exports WHERE processor=? AND year=?", (processor, year)
        ).fetchone()
        return int(row[0])

    def periods(self) -> list[tuple[str, int]]:
        """Every (processor, year) with exports, sorted."""
        rows = self._db.execute(
            "SELECT DISTINCT processor, year FROM exports ORDER BY processor, year"
        )
        return [(str(p), int(y)) for p, y in rows.fetchall()]

    def profile(self, processor: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT profile FROM processors WHERE id = ?", (processor,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def emit_once(self, key: str, record: dict[str, Any]) -> bool:
        """Remember an event; False if it was already emitted (in this or an earlier run)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO events VALUES (?, ?)",
            (key, json.dumps(record, ensure_ascii=False, default=str)),
        )
        return cursor.rowcount == 1

    def events(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT record FROM events ORDER BY rowid").fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        self._db.close()
