"""Country lookups in a MaxMind DB: the bundled one or an operator's GeoLite2/DB-IP file.

The bundled database ships xz-compressed. It is decompressed once into a cache file named by
the sha256 of the compressed file (under ``$XDG_CACHE_HOME/egress`` or ``~/.cache/egress``) so
later starts memory-map it with maxminddb's C extension; if no cache directory is writable it
is decompressed into memory instead, which is slower per lookup but always works.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import ipaddress
import lzma
from pathlib import Path
from types import TracebackType
from typing import Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from sensor.cachefiles import cache_dir, write_atomic

_LOOKUP_CACHE_SIZE = 65536
_REBUILD_HINT = (
    "replace it with a country MMDB (GeoLite2 and DB-IP work) or rebuild the bundled one "
    "with `egress geoip build`"
)


class GeoIPError(Exception):
    """The GeoIP database is missing, unreadable or not a MaxMind DB; the message says what to do."""


def bundled_path() -> Path:
    """Where the bundled database lives inside the installed package."""
    return Path(__file__).resolve().parent / "data" / "country.mmdb.xz"


def _decompress(path: Path, data: bytes) -> bytes:
    try:
        return lzma.decompress(data)
    except lzma.LZMAError as exc:
        raise GeoIPError(
            f"GeoIP database {path} is not a valid .xz file ({exc}): {_REBUILD_HINT}"
        ) from None


def _cached_copy(path: Path, data: bytes) -> Path | None:
    """The decompressed database as a cache file, written atomically; None if no cache works."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        directory = cache_dir()
        stem = path.name.removesuffix(".xz").removesuffix(".mmdb")
        target = directory / f"{stem}-{digest[:32]}.mmdb"
        if target.is_file():
            return target
        write_atomic(target, _decompress(path, data))
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return None
    return target


def _open_reader(path: Path, *, bundled: bool) -> maxminddb.Reader:
    """Open ``path`` (.mmdb or .mmdb.xz) with maxminddb, raising GeoIPError on any failure."""
    try:
        if path.suffix != ".xz":
            return maxminddb.open_database(str(path))
        data = path.read_bytes()
        cached = _cached_copy(path, data)
        if cached is not None:
            try:
                return maxminddb.open_database(str(cached))
            except (InvalidDatabaseError, ValueError, OSError):
                with contextlib.suppress(OSError):  # a damaged cache file: use memory instead
                    cached.unlink()
        return maxminddb.open_database(io.BytesIO(_decompress(path, data)), maxminddb.MODE_FD)
    except FileNotFoundError:
        if bundled:
            raise GeoIPError(
                f"the bundled GeoIP database {path} is missing: reinstall egress "
                "or rebuild it with `egress geoip build`"
            ) from None
        raise GeoIPError(
            f"GeoIP database {path} not found: fix geoip.database in the configuration "
            "(or --db), or leave it empty to use the bundled database"
        ) from None
    except IsADirectoryError:
        raise GeoIPError(f"GeoIP database {path} is a directory, not an MMDB file") from None
    except PermissionError:
        raise GeoIPError(f"GeoIP database {path} is not readable: check its permissions") from None
    except (InvalidDatabaseError, ValueError, TypeError) as exc:
        raise GeoIPError(
            f"GeoIP database {path} is not a valid MaxMind DB ({exc}): {_REBUILD_HINT}"
        ) from None
    except OSError as exc:
        raise GeoIPError(f"cannot read GeoIP database {path}: {exc.strerror or exc}") from None


def _iso_code(record: Any) -> str | None:
    """country.iso_code, else registered_country.iso_code (GeoLite2 records without a country)."""
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        section = record.get(key)
        if isinstance(section, dict):
            code = section.get("iso_code")
            if isinstance(code, str) and code:
                return code
    return None


class CountryDatabase:
    """A MaxMind DB that answers "which country is this address in?", with a lookup cache."""

    def __init__(self, reader: maxminddb.Reader, path: Path, *, bundled: bool = False) -> None:
        self._reader = reader
        self.path = path
        self.bundled = bundled
        self._ip_version = int(reader.metadata().ip_version)
        self._lookup = functools.lru_cache(maxsize=_LOOKUP_CACHE_SIZE)(self._country_uncached)

    @classmethod
    def open(cls, path: Path | None = None) -> CountryDatabase:
        """Open ``path`` (.mmdb or .mmdb.xz); None opens the bundled database."""
        bundled = path is None
        resolved = bundled_path() if path is None else Path(path).expanduser()
        return cls(_open_reader(resolved, bundled=bundled), resolved, bundled=bundled)

    def country(self, ip: str) -> str | None:
        """ISO 3166 code for ``ip``, None if the database cannot place it.

        Raises ValueError if ``ip`` is not an IPv4 or IPv6 address.
        """
        return self._lookup(ip)

    def _country_uncached(self, ip: str) -> str | None:
        address = ipaddress.ip_address(ip)
        if address.version == 6 and self._ip_version == 4:
            mapped = address.ipv4_mapped
            if mapped is None:
                return None  # an IPv4-only database knows nothing about IPv6
            address = mapped
        try:
            record = self._reader.get(address)
        except InvalidDatabaseError as exc:
            raise GeoIPError(
                f"GeoIP database {self.path} is corrupt ({exc}): {_REBUILD_HINT}"
            ) from None
        return _iso_code(record)

    def info(self) -> dict[str, Any]:
        """Metadata worth showing and recording next to results: which data placed addresses."""
        meta = self._reader.metadata()
        return {
            "path": str(self.path),
            "bundled": self.bundled,
            "database_type": meta.database_type,
            "description": dict(meta.description),
            "build_epoch": int(meta.build_epoch),
            "node_count": int(meta.node_count),
            "ip_version": int(meta.ip_version),
            "record_size": int(meta.record_size),
        }

    def close(self) -> None:
        self._lookup.cache_clear()
        self._reader.close()

    def __enter__(self) -> CountryDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
