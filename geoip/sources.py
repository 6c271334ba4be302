"""Other free country data the database can be rebuilt from, besides tor-geoipdb.

- **RIR delegated statistics** (``delegated-<rir>-extended-latest`` from APNIC, ARIN, RIPE NCC,
  LACNIC, AFRINIC): ``registry|cc|type|start|value|date|status[|opaque-id]``. For ``ipv4`` the
  value is a count of addresses (not always a power of two), for ``ipv6`` a prefix length. Only
  ``allocated`` and ``assigned`` records place addresses; ``available`` and ``reserved`` do not.
  This is where an address is *registered*, which can differ from where it is used.
- **DB-IP Lite** country CSV: ``start,end,country`` with dotted or colon addresses, IPv4 and IPv6
  in one file (CC BY 4.0).
- **IP2Location LITE DB1** CSV: ``"from","to","CC","Country"`` with integer addresses; the IPv6
  edition holds IPv4 as IPv4-mapped integers (``::ffff:a.b.c.d``), turned back into IPv4 here.
  ``-`` means unknown and places nothing.

Every parser yields the same ``TorRange`` values the tor files give, so ``build_from_ranges``
treats all sources alike; overlapping ranges are refused there (one address, one country).
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from geoip.builder import BuildReport, TorRange, build_from_ranges
from geoip.reader import GeoIPError

LICENCES = {
    "rir": "RIR statistics (free use)",
    "dbip": "CC BY 4.0 (IP to Country Lite by DB-IP)",
    "ip2location": "CC BY-SA 4.0 (IP2Location LITE)",
}

PLACED = frozenset({"allocated", "assigned"})
_IPV4_MAPPED_LOW = 0xFFFF << 32
_IPV4_MAPPED_HIGH = _IPV4_MAPPED_LOW | 0xFFFFFFFF


def _country(code: str, where: str) -> str | None:
    code = code.strip().upper()
    if code in ("", "-", "ZZ", "??"):
        return None
    if len(code) != 2 or not code.isalnum():
        raise ValueError(f"{where}: bad country code {code!r}")
    return code


def parse_rir_delegated(lines: Iterable[str], name: str = "delegated") -> Iterator[TorRange]:
    """Address ranges of an RIR delegated(-extended) statistics file."""
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("|")
        if len(fields) < 7 or fields[2] not in ("ipv4", "ipv6"):
            continue  # the version line, summary lines and asn records
        if fields[1] == "*" or fields[6].strip().lower() not in PLACED:
            continue
        where = f"{name}:{lineno}"
        country = _country(fields[1], where)
        if country is None:
            continue
        try:
            if fields[2] == "ipv4":
                low = int(ipaddress.IPv4Address(fields[3]))
                high = low + int(fields[4]) - 1
                version = 4
            else:
                network = ipaddress.IPv6Network(f"{fields[3]}/{int(fields[4])}", strict=False)
                low, high, version = int(network[0]), int(network[-1]), 6
        except ValueError as exc:
            raise ValueError(f"{where}: not a delegation record: {line!r}") from exc
        if high < low or high >= 1 << (32 if version == 4 else 128):
            raise ValueError(f"{where}: bad range {line!r}")
        yield TorRange(low, high, country, version)


def parse_dbip_csv(lines: Iterable[str], name: str = "dbip") -> Iterator[TorRange]:
    """Ranges of a DB-IP Lite country CSV (addresses written as text)."""
    for lineno, row in enumerate(csv.reader(lines), 1):
        if not row or row[0].startswith("#"):
            continue
        where = f"{name}:{lineno}"
        if len(row) < 3:
            raise ValueError(f"{where}: expected start,end,country: {row!r}")
        try:
            low_ip, high_ip = ipaddress.ip_address(row[0]), ipaddress.ip_address(row[1])
        except ValueError as exc:
            raise ValueError(f"{where}: not an address range: {row!r}") from exc
        if low_ip.version != high_ip.version or int(high_ip) < int(low_ip):
            raise ValueError(f"{where}: bad range {row!r}")
        country = _country(row[2], where)
        if country is not None:
            yield TorRange(int(low_ip), int(high_ip), country, low_ip.version)


def parse_ip2location_csv(
    lines: Iterable[str], name: str = "ip2location", ipv6_edition: bool | None = None
) -> Iterator[TorRange]:
    """Ranges of an IP2Location LITE DB1 CSV (integer addresses). The IPv6 edition (its file
    name says ``IPV6`` unless ``ipv6_edition`` is given) holds IPv4 as IPv4-mapped integers."""
    if ipv6_edition is None:
        ipv6_edition = "IPV6" in name.upper()
    for lineno, row in enumerate(csv.reader(lines), 1):
        if not row or not row[0].strip().isdigit():
            continue  # a header line
        where = f"{name}:{lineno}"
        if len(row) < 3:
            raise ValueError(f"{where}: expected from,to,country: {row!r}")
        low, high = int(row[0]), int(row[1])
        country = _country(row[2], where)
        if high < low or high >= 1 << 128:
            raise ValueError(f"{where}: bad range {row!r}")
        if country is None:
            continue
        if not ipv6_edition:
            if high > 0xFFFFFFFF:
                raise ValueError(f"{where}: an IPv6 value in the IPv4 edition: {row!r}")
            yield TorRange(low, high, country, 4)
        elif low >= _IPV4_MAPPED_LOW and high <= _IPV4_MAPPED_HIGH:
            yield TorRange(low - _IPV4_MAPPED_LOW, high - _IPV4_MAPPED_LOW, country, 4)
        elif low > 0xFFFFFFFF:
            yield TorRange(low, high, country, 6)
        # below 2**32 in the IPv6 edition: IPv4-compatible space, long deprecated; not placed


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise GeoIPError(f"cannot read {path}: {exc.strerror}") from None


def build_from_files(
    rir: Sequence[Path],
    dbip: Path | None,
    ip2location: Sequence[Path],
    out: Path,
    source_date: str | None = None,
) -> BuildReport:
    """Build the country database from one kind of source file (see the module docstring)."""
    ranges: list[TorRange] = []
    try:
        if rir:
            kind, files = "rir", list(rir)
            for path in files:
                ranges.extend(parse_rir_delegated(_lines(path), path.name))
        elif dbip is not None:
            kind, files = "dbip", [dbip]
            ranges.extend(parse_dbip_csv(_lines(dbip), dbip.name))
        else:
            kind, files = "ip2location", list(ip2location)
            for path in files:
                ranges.extend(parse_ip2location_csv(_lines(path), path.name))
    except ValueError as exc:
        raise GeoIPError(str(exc)) from None
    source = ", ".join(p.name for p in files)
    dated = f", data of {source_date}" if source_date else ""
    description = f"egress country database; source: {source}{dated}, {LICENCES[kind]}"
    return build_from_ranges(
        ranges, out, source=source, description=description, source_date=source_date
    )
