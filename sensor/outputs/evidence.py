"""Evidence store: the objects and flow packets behind each alert, kept safely and not forever.

A reviewer has to see what actually left: the extracted object and the packets of its flow. Both
hold the raw traffic (the very identifiers alerts never show), so the store is built to protect
them: files are content-addressed by the sha256 of their plaintext, created 0600 in directories
0700, optionally encrypted at rest, and removed by retention limits whose effect is counted.

Layout under the case folder::

    evidence/objects/<sha256>          extracted object (body as it was sent)
    evidence/pcap/<sha256>.pcap        the packets of one alerted flow (classic pcap)

With encryption each file gets the suffix ``.aesgcm`` and holds::

    b"EGEV" | version 0x01 | 12-byte random nonce | AES-256-GCM ciphertext with its 16-byte tag

The associated data is ``b"EGEV\\x01" + the sha256 (hex, ASCII) of the plaintext``, so a file moved
to another name fails to decrypt. The key file holds 32 bytes, raw or as 64 hex digits
(``egress evidence keygen`` writes one). References in alerts carry the path relative to the case
folder and the plaintext sha256, so a decrypted file is checked against the alert.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sensor.errors import EgressError

MAGIC = b"EGEV\x01"
NONCE_BYTES = 12
ENCRYPTED_SUFFIX = ".aesgcm"
KEY_BYTES = 32


class EvidenceError(EgressError):
    """A key file or an evidence file the user must fix."""


def load_key(path: Path) -> bytes:
    """A 32-byte AES key from ``path`` (raw bytes or 64 hex digits)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read the evidence key: {exc.strerror}") from None
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise EvidenceError(
            f"{path}: an evidence key is 32 raw bytes or 64 hex digits; "
            "create one with `egress evidence keygen FILE`"
        )
    return key


def write_new_key(path: Path) -> None:
    """Create a fresh random key file (hex, mode 0600); refuses to overwrite an existing one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EvidenceError(f"{path}: already exists; not overwriting a key") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_bytes(KEY_BYTES).hex() + "\n")


def encrypt(key: bytes, sha256: str, plaintext: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, MAGIC + sha256.encode())


def decrypt(key: bytes, sha256: str, blob: bytes) -> bytes:
    """The plaintext of an encrypted evidence file; raises ``EvidenceError`` if it fails to verify."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise EvidenceError("not an egress encrypted evidence file (bad magic or too short)")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        plain = AESGCM(key).decrypt(
            nonce, blob[len(MAGIC) + NONCE_BYTES :], MAGIC + sha256.encode()
        )
    except Exception:  # cryptography raises InvalidTag: wrong key, wrong name or altered file
        raise EvidenceError(
            "decryption failed: wrong key, a renamed file or altered content"
        ) from None
    if hashlib.sha256(plain).hexdigest() != sha256:
        raise EvidenceError("decrypted content does not match its sha256")
    return plain


def read_evidence_file(path: Path, key: bytes | None) -> bytes:
    """The plaintext of one evidence file, checked against the sha256 its name carries."""
    blob = path.read_bytes()
    sha = path.name.split(".")[0]
    if path.name.endswith(ENCRYPTED_SUFFIX):
        if key is None:
            raise EvidenceError(f"{path} is encrypted: give the key file (--key)")
        return decrypt(key, sha, blob)
    if hashlib.sha256(blob).hexdigest() != sha:
        raise EvidenceError(f"{path}: content does not match the sha256 in its name")
    return blob


@dataclass
class RetentionResult:
    """What a retention pass removed, by reason."""

    files_by_age: int = 0
    bytes_by_age: int = 0
    files_by_size: int = 0
    bytes_by_size: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "files_by_age": self.files_by_age,
            "bytes_by_age": self.bytes_by_age,
            "files_by_size": self.files_by_size,
            "bytes_by_size": self.bytes_by_size,
        }


@dataclass
class EvidenceStore:
    """Content-addressed, permission-restricted, optionally encrypted files under ``root``.

    ``max_bytes`` and ``max_age_seconds`` (0 = no limit) bound the store; ``enforce_retention``
    applies them, oldest (by modification time) first, and counts what it removed. Storing a file
    that already exists refreshes its time instead of writing it again.
    """

    root: Path
    key: bytes | None = None
    max_bytes: int = 0
    max_age_seconds: float = 0.0
    stored_files: int = 0
    stored_bytes: int = 0
    deduplicated: int = 0
    removed: RetentionResult = field(default_factory=RetentionResult)

    def __post_init__(self) -> None:
        self._mkdir(self.root)

    @staticmethod
    def _mkdir(path: Path) -> None:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask and ignored if it existed

    def put(self, kind: str, data: bytes, suffix: str = "") -> dict[str, Any]:
        """Store ``data`` under ``<kind>/<sha256><suffix>``; returns the reference for alerts."""
        sha = hashlib.sha256(data).hexdigest()
        directory = self.root / kind
        name = sha + suffix + (ENCRYPTED_SUFFIX if self.key else "")
        path = directory / name
        ref = {
            "path": f"{self.root.name}/{kind}/{name}",
            "sha256": sha,
            "size": len(data),
            "encrypted": self.key is not None,
        }
        if path.exists():
            os.utime(path)
            self.deduplicated += 1
            return ref
        self._mkdir(directory)
        blob = encrypt(self.key, sha, data) if self.key else data
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)  # readers never see a half-written file
        self.stored_files += 1
        self.stored_bytes += len(blob)
        return ref

    def read(self, ref_path: str) -> bytes:
        """Plaintext of a stored file named by its reference path (decrypting if needed)."""
        return read_evidence_file(self.root.parent / ref_path, self.key)

    def _files(self) -> list[tuple[float, str, Path, int]]:
        found = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                st = path.stat()
                found.append((st.st_mtime, str(path), path, st.st_size))
        return sorted(found)

    def enforce_retention(self, now: float | None = None) -> RetentionResult:
        """Remove files older than the age limit, then the oldest until under the size limit."""
        now = time.time() if now is None else now
        files = self._files()
        kept = []
        for mtime, _, path, size in files:
            if self.max_age_seconds and now - mtime > self.max_age_seconds:
                path.unlink()
                self.removed.files_by_age += 1
                self.removed.bytes_by_age += size
            else:
                kept.append((path, size))
        total = sum(size for _, size in kept)
        for path, size in kept:
            if not self.max_bytes or total <= self.max_bytes:
                break
            path.unlink()
            total -= size
            self.removed.files_by_size += 1
            self.removed.bytes_by_size += size
        return self.removed

    def info(self) -> dict[str, Any]:
        """Counts for summary.json."""
        return {
            "directory": self.root.name,
            "encrypted": self.key is not None,
            "stored_files": self.stored_files,
            "stored_bytes": self.stored_bytes,
            "deduplicated": self.deduplicated,
            "limits": {"max_bytes": self.max_bytes, "max_age_seconds": self.max_age_seconds},
            "removed_by_retention": self.removed.as_dict(),
        }
