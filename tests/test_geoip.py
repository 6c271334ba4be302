"""GeoIP: the builder on tiny tor-format files, the bundled database against tor's text, the CLI."""

from __future__ import annotations

import bisect
import ipaddress
import lzma
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from geoip import CountryDatabase, GeoIPError
from geoip.builder import (
    TorRange,
    build_from_tor,
    describe,
    group_by_country,
    parse_geoip4,
    parse_geoip6,
    parse_source_date,
    range_to_cidrs,
)
from geoip.cli import geoip_group
from geoip.reader import bundled_path

TOR_GEOIP4 = Path("/usr/share/tor/geoip")
TOR_GEOIP6 = Path("/usr/share/tor/geoip6")

HEADER = """\
# This file has been converted from the IPFire Location database
#
# Generated: Thu, 25 Jun 2026 04:33:59 GMT
# License:   CC BY-SA 4.0
#
"""
# 1.0.0.0-1.0.0.255 AU (a /24), 1.0.1.0-1.0.3.255 CN (/24 + /23), an unplaced range, and
# 192.168.0.1-192.168.0.10 HK, which is not CIDR-aligned at either end.
GEOIP4 = (
    HEADER
    + "16777216,16777471,AU\n16777472,16778239,CN\n16778240,16778245,??\n3232235521,3232235530,HK\n"
)
GEOIP6 = "2001:2::,2001:2:0:ffff:ffff:ffff:ffff:ffff,JP\n2a00::3,2a00::5,DE\n"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep decompressed databases out of the real ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mmdb_writer", reason="building needs mmdb-writer (egress[test])")
    directory = tmp_path_factory.mktemp("tiny")
    (directory / "geoip").write_text(GEOIP4)
    (directory / "geoip6").write_text(GEOIP6)
    out = directory / "tiny.mmdb.xz"
    build_from_tor(directory / "geoip", directory / "geoip6", out, source="synthetic")
    return out


# --- parsing and range arithmetic ---------------------------------------------------------


def test_parse_geoip4_skips_comments_and_keeps_unknown() -> None:
    ranges = list(parse_geoip4(GEOIP4.splitlines()))
    assert ranges[0] == TorRange(16777216, 16777471, "AU", 4)
    assert [r.country for r in ranges] == ["AU", "CN", "??", "HK"]


def test_parse_geoip6() -> None:
    ranges = list(parse_geoip6(GEOIP6.splitlines()))
    assert ranges[1] == TorRange(
        int(ipaddress.IPv6Address("2a00::3")), int(ipaddress.IPv6Address("2a00::5")), "DE", 6
    )


@pytest.mark.parametrize(
    ("line", "parser"),
    [
        ("1,2", parse_geoip4),
        ("5,4,US", parse_geoip4),
        ("1,4294967296,US", parse_geoip4),
        ("1,2,usa", parse_geoip4),
        ("1.2.3.4,1.2.3.5,US", parse_geoip4),
        ("2001::,2001::zz,US", parse_geoip6),
    ],
)
def test_parse_rejects_bad_lines(line: str, parser: type) -> None:
    with pytest.raises(ValueError, match="line 2"):
        list(parser(["# header", line]))


def test_parse_source_date() -> None:
    assert parse_source_date(GEOIP4.splitlines()) == "2026-06-25T04:33:59Z"
    assert parse_source_date(["1,2,US"]) is None


def test_describe_records_source_date_and_licence() -> None:
    text = describe("tor-geoipdb 1.0", "2026-06-25T04:33:59Z")
    assert "tor-geoipdb 1.0" in text
    assert "2026-06-25T04:33:59Z" in text
    assert "CC BY-SA 4.0" in text


@pytest.mark.parametrize(
    ("low", "high", "bits", "expected"),
    [
        (0, 2**32 - 1, 32, [(0, 0)]),
        (5, 5, 32, [(5, 32)]),
        (16777216, 16777471, 32, [(16777216, 24)]),
        (16777472, 16778239, 32, [(16777472, 24), (16777728, 23)]),
        (1, 10, 32, [(1, 32), (2, 31), (4, 30), (8, 31), (10, 32)]),
        (0, 2**128 - 1, 128, [(0, 0)]),
    ],
)
def test_range_to_cidrs(low: int, high: int, bits: int, expected: list[tuple[int, int]]) -> None:
    assert range_to_cidrs(low, high, bits) == expected


def test_range_to_cidrs_covers_exactly() -> None:
    rng = random.Random(7)
    for _ in range(300):
        low = rng.randrange(2**32)
        high = min(2**32 - 1, low + rng.randrange(1 << rng.randrange(1, 24)))
        cidrs = range_to_cidrs(low, high, 32)
        assert cidrs[0][0] == low
        position = low
        for network, prefix in cidrs:
            size = 1 << (32 - prefix)
            assert network == position
            assert network % size == 0  # aligned
            position += size
        assert position == high + 1


def test_range_to_cidrs_rejects_bad_range() -> None:
    with pytest.raises(ValueError):
        range_to_cidrs(5, 4, 32)


def test_group_by_country_drops_unknown_and_refuses_overlaps() -> None:
    grouped = group_by_country(parse_geoip4(GEOIP4.splitlines()))
    assert sorted(grouped) == ["AU", "CN", "HK"]
    with pytest.raises(ValueError, match="overlapping"):
        group_by_country([TorRange(0, 10, "US", 4), TorRange(10, 20, "CA", 4)])
    # the same numbers in IPv4 and IPv6 do not overlap
    assert len(group_by_country([TorRange(0, 10, "US", 4), TorRange(0, 10, "CA", 6)])) == 2


# --- a tiny built database -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("0.255.255.255", None),  # just below the first range
        ("1.0.0.0", "AU"),  # low
        ("1.0.0.255", "AU"),  # high
        ("1.0.1.0", "CN"),  # next range starts right after
        ("1.0.3.255", "CN"),
        ("1.0.4.0", None),  # "??": not placed
        ("192.168.0.0", None),  # just below an unaligned range
        ("192.168.0.1", "HK"),
        ("192.168.0.7", "HK"),
        ("192.168.0.10", "HK"),
        ("192.168.0.11", None),  # just above
        ("::ffff:192.168.0.1", "HK"),  # IPv4-mapped IPv6 finds the IPv4 data
        ("2001:2::", "JP"),
        ("2001:2:0:ffff:ffff:ffff:ffff:ffff", "JP"),
        ("2001:2:1::", None),
        ("2001:1:ffff:ffff:ffff:ffff:ffff:ffff", None),
        ("2a00::2", None),
        ("2a00::3", "DE"),
        ("2a00::5", "DE"),
        ("2a00::6", None),
    ],
)
def test_tiny_database_boundaries(tiny_db: Path, ip: str, country: str | None) -> None:
    with CountryDatabase.open(tiny_db) as db:
        assert db.country(ip) == country


def test_tiny_database_metadata(tiny_db: Path) -> None:
    with CountryDatabase.open(tiny_db) as db:
        info = db.info()
    assert info["database_type"] == "egress-Country"
    assert info["ip_version"] == 6
    assert info["description"]["en"] == (
        "egress country database; source: synthetic, "
        "IPFire Location export generated 2026-06-25T04:33:59Z, CC BY-SA 4.0"
    )
    assert info["path"] == str(tiny_db)
    assert info["node_count"] > 0


def test_records_are_geolite2_shaped(tiny_db: Path, tmp_path: Path) -> None:
    import maxminddb

    raw = tmp_path / "tiny.mmdb"
    raw.write_bytes(lzma.decompress(tiny_db.read_bytes()))
    with maxminddb.open_database(str(raw)) as reader:
        assert reader.get("1.0.0.1") == {"country": {"iso_code": "AU"}}
    with CountryDatabase.open(raw) as db:  # an uncompressed .mmdb opens too
        assert db.country("1.0.0.1") == "AU"


def test_invalid_address_is_a_value_error(tiny_db: Path) -> None:
    with CountryDatabase.open(tiny_db) as db, pytest.raises(ValueError):
        db.country("not-an-ip")


def test_geolite_style_records_and_ipv4_only_database(tmp_path: Path) -> None:
    mmdb_writer = pytest.importorskip("mmdb_writer")
    from netaddr import IPSet

    writer = mmdb_writer.MMDBWriter(ip_version=4, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["1.0.0.0/24"]), {"registered_country": {"iso_code": "AU"}})
    writer.insert_network(
        IPSet(["2.0.0.0/24"]),
        {"country": {"iso_code": "FR", "names": {"en": "France"}}, "registered_country": {}},
    )
    writer.insert_network(IPSet(["3.0.0.0/24"]), {"continent": {"code": "EU"}})
    path = tmp_path / "GeoLite2-Country.mmdb"
    writer.to_db_file(str(path))
    with CountryDatabase.open(path) as db:
        assert db.country("1.0.0.1") == "AU"  # registered_country fallback
        assert db.country("2.0.0.1") == "FR"
        assert db.country("3.0.0.1") is None
        assert db.country("::ffff:2.0.0.1") == "FR"
        assert db.country("2001:db8::1") is None  # IPv6 in an IPv4-only database
        assert db.info()["ip_version"] == 4


def test_xz_decompressed_once_into_cache(tiny_db: Path, tmp_path: Path) -> None:
    with CountryDatabase.open(tiny_db) as db:
        assert db.country("1.0.0.1") == "AU"
    cached = list((tmp_path / "cache" / "egress").glob("tiny-*.mmdb"))
    assert len(cached) == 1
    cached[0].write_bytes(b"damaged")  # a broken cache file is replaced by a memory copy
    with CountryDatabase.open(tiny_db) as db:
        assert db.country("1.0.0.1") == "AU"


def test_unwritable_cache_falls_back_to_memory(
    tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with CountryDatabase.open(tiny_db) as db:
        assert db.country("192.168.0.5") == "HK"


@pytest.mark.parametrize(
    ("name", "content", "message", "hint"),
    [
        ("missing.mmdb", None, "not found", "geoip.database"),
        ("missing.mmdb.xz", None, "not found", "geoip.database"),
        ("garbage.mmdb", b"not a database" * 10, "not a valid MaxMind DB", "egress geoip build"),
        ("garbage.mmdb.xz", b"this is not xz", "not a valid .xz file", "egress geoip build"),
        ("xz.mmdb.xz", lzma.compress(b"no database"), "not a valid MaxMind DB", "GeoLite2"),
    ],
)
def test_bad_database_raises_geoip_error(
    tmp_path: Path, name: str, content: bytes | None, message: str, hint: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GeoIPError, match=message) as excinfo:
        CountryDatabase.open(path)
    assert str(path) in str(excinfo.value)
    assert hint in str(excinfo.value)  # the message says what to do


def test_missing_bundled_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("geoip.reader.bundled_path", lambda: tmp_path / "country.mmdb.xz")
    with pytest.raises(GeoIPError, match=r"bundled GeoIP database .* is missing: reinstall egress"):
        CountryDatabase.open()


# --- the bundled database against tor's text (the oracle) ----------------------------------


class TorOracle:
    """Binary search over tor's geoip text: the answer the bundled database must give."""

    def __init__(self, path: Path, version: int) -> None:
        self.lows: list[int] = []
        self.rows: list[tuple[int, int, str]] = []
        for line in path.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            low_text, high_text, country = line.split(",")
            if version == 4:
                low, high = int(low_text), int(high_text)
            else:
                low = int.from_bytes(socket.inet_pton(socket.AF_INET6, low_text))
                high = int.from_bytes(socket.inet_pton(socket.AF_INET6, high_text))
            self.rows.append((low, high, country))
        self.rows.sort()
        self.lows = [row[0] for row in self.rows]

    def country(self, address: int) -> str | None:
        index = bisect.bisect_right(self.lows, address) - 1
        if index < 0:
            return None
        low, high, country = self.rows[index]
        return country if low <= address <= high and country != "??" else None

    def samples(self, rng: random.Random, count: int) -> Iterator[int]:
        """Points inside ranges and on and just outside their edges."""
        top = (1 << 32) - 1 if self.rows[-1][1] < 1 << 32 else (1 << 128) - 1
        for _ in range(count):
            low, high, _country = self.rows[rng.randrange(len(self.rows))]
            choice = rng.randrange(5)
            point = (low, high, low - 1, high + 1, rng.randint(low, high))[choice]
            yield min(max(point, 0), top)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountryDatabase]:
    if not bundled_path().exists():
        pytest.skip(f"bundled database {bundled_path()} missing: run `egress geoip build`")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        with CountryDatabase.open() as db:
            yield db


@pytest.fixture(scope="module")
def oracle4() -> TorOracle:
    if not TOR_GEOIP4.exists():
        pytest.skip(f"{TOR_GEOIP4} absent: install Debian's tor-geoipdb to compare against it")
    return TorOracle(TOR_GEOIP4, 4)


@pytest.fixture(scope="module")
def oracle6() -> TorOracle:
    if not TOR_GEOIP6.exists():
        pytest.skip(f"{TOR_GEOIP6} absent: install Debian's tor-geoipdb to compare against it")
    return TorOracle(TOR_GEOIP6, 6)


def test_bundled_ipv4_matches_tor_text(bundled: CountryDatabase, oracle4: TorOracle) -> None:
    rng = random.Random(20260625)
    addresses = [rng.randrange(1 << 32) for _ in range(1000)]
    addresses += list(oracle4.samples(rng, 1000))
    mismatches = [
        (str(ipaddress.IPv4Address(a)), bundled.country(str(ipaddress.IPv4Address(a))), expected)
        for a in addresses
        if bundled.country(str(ipaddress.IPv4Address(a))) != (expected := oracle4.country(a))
    ]
    assert mismatches == []
    assert sum(oracle4.country(a) is not None for a in addresses) > 1000  # a real comparison


def test_bundled_ipv6_matches_tor_text(bundled: CountryDatabase, oracle6: TorOracle) -> None:
    rng = random.Random(6)
    addresses = list(oracle6.samples(rng, 300))
    addresses += [rng.randrange(0x2000 << 112, 0x3000 << 112) for _ in range(100)]
    mismatches = [
        (str(ipaddress.IPv6Address(a)), bundled.country(str(ipaddress.IPv6Address(a))), expected)
        for a in addresses
        if bundled.country(str(ipaddress.IPv6Address(a))) != (expected := oracle6.country(a))
    ]
    assert mismatches == []
    assert sum(oracle6.country(a) is not None for a in addresses) > 200


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("114.114.114.114", "CN"),
        ("223.5.5.5", "CN"),
        ("8.8.8.8", "US"),
        ("203.198.0.1", "HK"),  # PCCW / Netvigator
        ("218.188.0.1", "HK"),
        ("::ffff:114.114.114.114", "CN"),
        ("10.0.0.1", None),
        ("127.0.0.1", None),
        ("::1", None),
    ],
)
def test_bundled_fixed_facts(bundled: CountryDatabase, ip: str, country: str | None) -> None:
    assert bundled.country(ip) == country


def test_bundled_metadata(bundled: CountryDatabase) -> None:
    info = bundled.info()
    assert info["bundled"] is True
    assert info["database_type"] == "egress-Country"
    assert info["ip_version"] == 6
    description = info["description"]["en"]
    assert "tor-geoipdb" in description
    assert "IPFire Location export generated" in description
    assert "CC BY-SA 4.0" in description


def test_bundled_database_is_small() -> None:
    if not bundled_path().exists():
        pytest.skip("bundled database missing")
    assert bundled_path().stat().st_size < 5 * 1024 * 1024


# --- CLI -----------------------------------------------------------------------------------


def test_cli_lookup(tiny_db: Path) -> None:
    result = CliRunner().invoke(
        geoip_group, ["lookup", "--db", str(tiny_db), "1.0.0.1", "192.168.0.11", "2a00::4"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "1.0.0.1  AU\n192.168.0.11  --\n2a00::4  DE\n"


def test_cli_lookup_bundled(bundled: CountryDatabase) -> None:
    result = CliRunner().invoke(geoip_group, ["lookup", "114.114.114.114", "8.8.8.8", "10.0.0.1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["114.114.114.114  CN", "8.8.8.8  US", "10.0.0.1  --"]


def test_cli_lookup_rejects_bad_address(tiny_db: Path) -> None:
    result = CliRunner().invoke(geoip_group, ["lookup", "--db", str(tiny_db), "1.2.3.999"])
    assert result.exit_code == 2
    assert "not an IPv4 or IPv6 address" in result.output


def test_cli_lookup_missing_database_raises_geoip_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        geoip_group, ["lookup", "--db", str(tmp_path / "none.mmdb"), "8.8.8.8"]
    )
    assert isinstance(result.exception, GeoIPError)  # egress's main prints it and exits 2


def test_cli_info(tiny_db: Path) -> None:
    result = CliRunner().invoke(geoip_group, ["info", "--db", str(tiny_db)])
    assert result.exit_code == 0, result.output
    assert "database_type: egress-Country" in result.output
    assert "IPFire Location export generated 2026-06-25T04:33:59Z" in result.output
    assert "ip_version:    6" in result.output
    as_json = CliRunner().invoke(geoip_group, ["info", "--db", str(tiny_db), "--json"])
    assert '"database_type": "egress-Country"' in as_json.output


def test_cli_build(tmp_path: Path) -> None:
    pytest.importorskip("mmdb_writer")
    (tmp_path / "g4").write_text(GEOIP4)
    (tmp_path / "g6").write_text(GEOIP6)
    out = tmp_path / "built.mmdb"
    result = CliRunner().invoke(
        geoip_group,
        [
            "build",
            "--geoip4",
            str(tmp_path / "g4"),
            "--geoip6",
            str(tmp_path / "g6"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "countries: 5" in result.output
    with CountryDatabase.open(out) as db:
        assert db.country("2001:2::1") == "JP"


def test_cli_build_missing_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        geoip_group,
        ["build", "--geoip4", str(tmp_path / "nope"), "--out", str(tmp_path / "x.mmdb")],
    )
    assert isinstance(result.exception, GeoIPError)
    assert "tor-geoipdb" in str(result.exception)
