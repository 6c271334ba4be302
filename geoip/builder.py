"""Build the bundled country database from tor's geoip files.

Debian's ``tor-geoipdb`` ships the IPFire Location data (CC BY-SA 4.0) as two text files of
address ranges: ``geoip`` (``INTLOW,INTHIGH,CC``) and ``geoip6`` (``IPV6LOW,IPV6HIGH,CC``). We turn
them into a MaxMind DB with GeoLite2-Country-shaped records (``{"country": {"iso_code": "US"}}``)
so that an operator's own GeoLite2 or DB-IP file is a drop-in replacement, then xz-compress it.

Parsing and range arithmetic are plain functions on integers so they can be tested on tiny inputs;
only :func:`write_mmdb` needs the optional ``mmdb-writer`` and ``netaddr`` packages
(``pip install 'egress[geoip-build]'``).
"""

from __future__ import annotations

import ipaddress
import lzma
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from geoip.reader import GeoIPError

DATABASE_TYPE = "egress-Country"
LICENCE = "CC BY-SA 4.0"
DEBIAN_GEOIP4 = Path("/usr/share/tor/geoip")
DEBIAN_GEOIP6 = Path("/usr/share/tor/geoip6")

_UNKNOWN = "??"  # tor's marker for ranges IPFire could not place; left out of the database
_CC = re.compile(r"^[A-Z0-9]{2}$")
_GENERATED = re.compile(r"^#\s*Generated:\s*(.+?)\s*$")
# IPv4 lives at ::/96 (mmdb-writer's "IPv4-compatible" position, where maxminddb looks up
# dotted quads); the IPv4-mapped block ::ffff:0:0/96 is aliased to it as MaxMind's writer does.
_IPV4_MAPPED = 0xFFFF << 32


@dataclass(frozen=True, slots=True)
class TorRange:
    """One line of a tor geoip file: an inclusive address range and its country."""

    low: int
    high: int
    country: str
    version: int  # 4 or 6


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build produced, for the CLI and ATTRIBUTION.md."""

    out: Path
    ranges4: int
    ranges6: int
    skipped: int  # "??" ranges, not placed in any country
    cidrs: int
    countries: int
    source: str
    source_date: str | None
    description: str
    size_bytes: int
    seconds: float

    @property
    def ranges(self) -> int:
        return self.ranges4 + self.ranges6


def _parse(lines: Iterable[str], version: int) -> Iterator[TorRange]:
    bits = 32 if version == 4 else 128
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            low_text, high_text, country = (part.strip() for part in line.split(","))
            if version == 4:
                low, high = int(low_text), int(high_text)
            else:
                low = int(ipaddress.IPv6Address(low_text))
                high = int(ipaddress.IPv6Address(high_text))
        except ValueError as exc:
            raise ValueError(f"line {lineno}: not a tor geoip{version} range: {line!r}") from exc
        if not 0 <= low <= high < 1 << bits:
            raise ValueError(f"line {lineno}: bad range {line!r}")
        if country != _UNKNOWN and not _CC.match(country):
            raise ValueError(f"line {lineno}: bad country code {country!r}")
        yield TorRange(low, high, country, version)


def parse_geoip4(lines: Iterable[str]) -> Iterator[TorRange]:
    """Parse tor's IPv4 file (``INTLOW,INTHIGH,CC``); comments and blank lines are skipped."""
    return _parse(lines, 4)


def parse_geoip6(lines: Iterable[str]) -> Iterator[TorRange]:
    """Parse tor's IPv6 file (``IPV6LOW,IPV6HIGH,CC``)."""
    return _parse(lines, 6)


def parse_source_date(lines: Iterable[str]) -> str | None:
    """The IPFire export time from the ``# Generated:`` header, as ISO 8601 UTC, if present."""
    for line in lines:
        if not line.startswith("#"):
            return None
        match = _GENERATED.match(line)
        if match:
            try:
                when = parsedate_to_datetime(match.group(1))
            except (TypeError, ValueError):
                return match.group(1)
            return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def range_to_cidrs(low: int, high: int, bits: int) -> list[tuple[int, int]]:
    """Split an inclusive range into the fewest aligned blocks, as (network, prefix length)."""
    if not 0 <= low <= high < 1 << bits:
        raise ValueError(f"bad range {low}..{high} for {bits}-bit addresses")
    out: list[tuple[int, int]] = []
    while low <= high:
        size = (low & -low).bit_length() - 1 if low else bits  # largest block aligned at low
        while low + (1 << size) - 1 > high:
            size -= 1
        out.append((low, bits - size))
        low += 1 << size
    return out


def group_by_country(ranges: Iterable[TorRange]) -> dict[str, list[TorRange]]:
    """Ranges per country, refusing overlaps: one address must map to one country."""
    by_country: dict[str, list[TorRange]] = {}
    previous: dict[int, TorRange] = {}
    for item in sorted(ranges, key=lambda r: (r.version, r.low)):
        last = previous.get(item.version)
        if last is not None and item.low <= last.high:
            raise ValueError(f"overlapping ranges: {_show(last)} and {_show(item)}")
        previous[item.version] = item
        if item.country != _UNKNOWN:
            by_country.setdefault(item.country, []).append(item)
    return by_country


def _show(item: TorRange) -> str:
    make = ipaddress.IPv4Address if item.version == 4 else ipaddress.IPv6Address
    return f"{make(item.low)}-{make(item.high)} {item.country}"


def record_for(country: str) -> dict[str, Any]:
    """A GeoLite2-Country-shaped record, so GeoLite2/DB-IP files are drop-ins for ours."""
    return {"country": {"iso_code": country}}


def write_mmdb(by_country: Mapping[str, Sequence[TorRange]], out: Path, description: str) -> int:
    """Write an IPv6-tree MMDB (IPv4 embedded at ::/96) to ``out``; returns the CIDR count.

    Each country goes in as ONE IPSet: mmdb-writer then shares a single leaf per country and
    netaddr merges adjacent blocks, which is what keeps the full build to minutes.
    """
    try:
        from mmdb_writer import MMDBWriter, SearchTreeNode
        from netaddr import IPNetwork, IPSet
    except ImportError as exc:
        raise GeoIPError(
            f"building the GeoIP database needs mmdb-writer and netaddr ({exc.name} is missing): "
            "pip install 'egress[geoip-build]'"
        ) from exc

    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=DATABASE_TYPE,
        languages=["en"],
        description={"en": description},
    )
    cidrs = 0
    for country in sorted(by_country):
        networks = [
            IPNetwork((network, prefix), item.version)
            for item in by_country[country]
            for network, prefix in range_to_cidrs(
                item.low, item.high, 32 if item.version == 4 else 128
            )
        ]
        ipset = IPSet(networks)
        cidrs += len(ipset.iter_cidrs())
        writer.insert_network(ipset, record_for(country))
    _alias_ipv4_mapped(writer.tree, SearchTreeNode)
    writer.to_db_file(str(out))
    return cidrs


def _alias_ipv4_mapped(root: Any, node_type: type[Any]) -> None:
    """Point ::ffff:0:0/96 at the ::/96 subtree so ``::ffff:a.b.c.d`` finds IPv4 data too."""
    ipv4 = root
    for _ in range(96):
        ipv4 = ipv4[0] if isinstance(ipv4, node_type) else None
    if ipv4 is None:
        return  # no IPv4 data
    node = root
    for position in range(127, 32, -1):  # the 95 bits above the last one of the /96
        bit = (_IPV4_MAPPED >> position) & 1
        child = node[bit]
        if child is None:
            child = node_type()
            node[bit] = child
        elif not isinstance(child, node_type):
            raise ValueError("::ffff:0:0/96 already holds data; cannot alias it to IPv4")
        node = child
    if node[(_IPV4_MAPPED >> 32) & 1] is not None:
        raise ValueError("::ffff:0:0/96 already holds data; cannot alias it to IPv4")
    node[(_IPV4_MAPPED >> 32) & 1] = ipv4


def debian_package_version(path: Path) -> tuple[str, str] | None:
    """(package, version) of the Debian package that owns ``path``, or None off Debian."""
    try:
        owner = subprocess.run(
            ["dpkg-query", "-S", str(path.resolve())],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        package = owner.split(":", 1)[0].strip()
        version = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (package, version) if package and version else None


def describe(source: str, source_date: str | None) -> str:
    """The metadata description: where the data came from, when, and under which licence."""
    generated = f", IPFire Location export generated {source_date}" if source_date else ""
    return f"egress country database; source: {source}{generated}, {LICENCE}"


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise GeoIPError(
            f"tor geoip file {path} not found: install it with `apt-get install tor-geoipdb` "
            "or pass --geoip4/--geoip6"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GeoIPError(f"cannot read tor geoip file {path}: {exc}") from None


def build_from_tor(
    geoip4: Path, geoip6: Path, out: Path, *, source: str | None = None
) -> BuildReport:
    """Build an MMDB from tor's geoip files; ``out`` ending in ``.xz`` is xz-compressed.

    ``source`` names the data in the metadata; by default the owning Debian package and version.
    """
    started = time.monotonic()
    lines4, lines6 = _read_lines(geoip4), _read_lines(geoip6)
    try:
        ranges = [*parse_geoip4(lines4), *parse_geoip6(lines6)]
    except ValueError as exc:
        raise GeoIPError(f"{geoip4} / {geoip6}: {exc}") from None
    if source is None:
        owner = debian_package_version(geoip4)
        source = (
            f"{owner[0]} {owner[1]}" if owner else f"tor geoip files {geoip4.name}, {geoip6.name}"
        )
    source_date = parse_source_date(lines4) or parse_source_date(lines6)
    return build_from_ranges(
        ranges,
        out,
        source=source,
        description=describe(source, source_date),
        source_date=source_date,
        started=started,
    )


def build_from_ranges(
    ranges: Sequence[TorRange],
    out: Path,
    *,
    source: str,
    description: str,
    source_date: str | None = None,
    started: float | None = None,
) -> BuildReport:
    """Build an MMDB from parsed ranges of any source (tor, RIR statistics, DB-IP, IP2Location).

    The output is written to a temporary file and renamed, so a failed build leaves no half file.
    """
    started = time.monotonic() if started is None else started
    try:
        by_country = group_by_country(ranges)
    except ValueError as exc:
        raise GeoIPError(f"{source}: {exc}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            cidrs = write_mmdb(by_country, tmp, description)
        except ValueError as exc:
            raise GeoIPError(f"{source}: {exc}") from None
        if out.suffix == ".xz":
            raw = tmp.read_bytes()
            tmp.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
        tmp.chmod(0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return BuildReport(
        out=out,
        ranges4=sum(r.version == 4 for r in ranges),
        ranges6=sum(r.version == 6 for r in ranges),
        skipped=sum(r.country == _UNKNOWN for r in ranges),
        cidrs=cidrs,
        countries=len(by_country),
        source=source,
        source_date=source_date,
        description=description,
        size_bytes=out.stat().st_size,
        seconds=time.monotonic() - started,
    )
