"""The persistent key for person hashes, so a ledger can count the same person across runs.

Without it the detection engine draws a random key per run: hashes agree within the run and mean
nothing later, and a ledger made that way says its counts are per run only. The key file holds at
least 32 secret bytes (raw, or as hex); ``egress ledger keygen`` writes one with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from sensor.errors import ConfigError

ENV_VAR = "EGRESS_IDENTITY_KEY_FILE"
MIN_KEY_BYTES = 32  # 256 bits: the HMAC key must be beyond guessing, unlike the IDs it protects


def key_file(configured: Path | None) -> Path | None:
    """The key file to use: the environment variable wins over the configuration."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else configured


def load_identity_key(configured: Path | None) -> bytes | None:
    """The secret from the key file, or None for a random per-run key."""
    path = key_file(configured)
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the identity key ({exc.strerror}); create one with "
            "`egress ledger keygen PATH`"
        ) from None
    text = raw.strip()
    try:
        secret = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = raw
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{path}: the identity key has {len(secret)} bytes, needs at least {MIN_KEY_BYTES}; "
            "create one with `egress ledger keygen PATH`"
        )
    return secret


def write_identity_key(path: Path) -> None:
    """A new random key as hex, readable by the owner only; refuses to overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: exists; a new key would orphan its ledgers") from None
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(MIN_KEY_BYTES).hex() + "\n")
