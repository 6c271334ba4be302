"""Rebuilding the country database from RIR statistics, DB-IP Lite and IP2Location LITE files
(geoip/sources.py): each format parsed on small real-shaped samples, then built and looked up."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoip import CountryDatabase
from geoip.sources import parse_dbip_csv, parse_ip2location_csv, parse_rir_delegated
from tests.cli import run_egress

RIR = """2|apnic|20261122|4|19830613|20261121|+1000
apnic|*|asn|*|1|summary
apnic|*|ipv4|*|3|summary
apnic|CN|ipv4|1.0.1.0|256|20110414|allocated|A92E1062
apnic|CN|ipv4|1.0.2.0|512|20110414|allocated|A92E1062
apnic|HK|ipv4|1.0.5.0|768|20110414|assigned|A91AB2EA
apnic||ipv4|1.0.16.0|4096|20110414|reserved|
apnic|JP|asn|173|1|20020801|allocated|A91D4A6A
apnic|CN|ipv6|2001:250::|35|20000426|allocated|A92E1062
"""
DBIP = """1.0.0.0,1.0.0.255,AU
1.0.1.0,1.0.3.255,CN
1.0.4.0,1.0.7.255,ZZ
2001:250::,2001:251:ffff:ffff:ffff:ffff:ffff:ffff,CN
"""
IP2L4 = """"0","16777215","-","-"
"16777216","16777471","US","United States of America"
"16777472","16778239","CN","China"
"""
IP2L6 = """"0","281470681743359","-","-"
"281470698520576","281470698520831","US","United States of America"
"42540528726795050063891204319802818560","42540528726795359550683163012722704383","SG","Singapore"
"""


def test_rir_records_place_allocated_and_assigned_space_only() -> None:
    ranges = list(parse_rir_delegated(RIR.splitlines()))
    assert [(r.country, r.version, r.high - r.low + 1) for r in ranges] == [
        ("CN", 4, 256),
        ("CN", 4, 512),
        ("HK", 4, 768),  # not a power of two: split into CIDRs at build time
        ("CN", 6, 1 << (128 - 35)),
    ]


def test_dbip_and_ip2location_rows() -> None:
    assert [(r.country, r.version) for r in parse_dbip_csv(DBIP.splitlines())] == [
        ("AU", 4),
        ("CN", 4),
        ("CN", 6),  # ZZ (unknown) places nothing
    ]
    four = list(parse_ip2location_csv(IP2L4.splitlines(), "IP2LOCATION-LITE-DB1.CSV"))
    assert [(r.low, r.country) for r in four] == [(16777216, "US"), (16777472, "CN")]
    six = list(parse_ip2location_csv(IP2L6.splitlines(), "IP2LOCATION-LITE-DB1.IPV6.CSV"))
    assert [(r.version, r.low, r.country) for r in six] == [
        (4, 16777216, "US"),  # IPv4-mapped rows come back as IPv4
        (6, 42540528726795050063891204319802818560, "SG"),
    ]


@pytest.mark.parametrize(
    "text",
    ["apnic|CN|ipv4|1.0.1|256|20110414|allocated", "apnic|C!|ipv4|1.0.1.0|256|2011|assigned"],
)
def test_bad_rir_lines_name_file_and_line(text: str) -> None:
    with pytest.raises(ValueError, match="apnic-test:1"):
        list(parse_rir_delegated([text], "apnic-test"))


@pytest.mark.parametrize(
    ("option", "name", "text", "checks"),
    [
        ("--rir", "delegated-apnic-extended-latest", RIR,
         {"1.0.1.7": "CN", "1.0.7.255": "HK", "1.0.16.1": None, "2001:250:1::1": "CN"}),
        ("--dbip", "dbip-country-lite-2026-11.csv", DBIP,
         {"1.0.0.9": "AU", "1.0.3.1": "CN", "1.0.5.1": None, "2001:251::1": "CN"}),
        ("--ip2location", "IP2LOCATION-LITE-DB1.IPV6.CSV", IP2L6,
         {"1.0.0.1": "US", "2001:db8::1": None, "2001:db8:1::": None}),
    ],
)  # fmt: skip
def test_built_database_answers_lookups(
    tmp_path: Path, option: str, name: str, text: str, checks: dict[str, str | None]
) -> None:
    pytest.importorskip("mmdb_writer")
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "country.mmdb"
    result = run_egress("geoip", "build", option, source, "--source-date", "2026-11", "--out", out)
    assert result.returncode == 0, result.stderr
    database = CountryDatabase.open(out)
    for address, country in checks.items():
        assert database.country(address) == country, address
    description = database.info()["description"]["en"]
    assert name in description and "2026-11" in description


def test_two_sources_at_once_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text(DBIP)
    result = run_egress(
        "geoip", "build", "--dbip", source, "--rir", source, "--out", tmp_path / "o"
    )
    assert result.returncode == 2 and "choose one source" in result.stderr
