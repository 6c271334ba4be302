"""The ledger's exact deduplication, durability across reopening, key discipline; jurisdiction
overrides and the severity of an export to an address no database places."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from geoip import CountryDatabase
from sensor.audit import Audit
from sensor.compliance.ledger import Ledger
from sensor.config import load_config
from sensor.errors import ConfigError
from sensor.policy import Jurisdiction
from tests.test_compliance_e2e import _capture, _csv, _rows

KEYS = [os.urandom(16).hex() for _ in range(100)]


def test_people_are_deduplicated_per_bucket_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path, "k1", True)
    ledger.record(
        "p",
        2026,
        {"personal": KEYS[:60], "sensitive": KEYS[:10]},
        ["total", "country:US"],
        object_id="a",
    )
    ledger.record("p", 2026, {"personal": KEYS[40:100]}, ["total", "country:HK"], object_id="b")
    ledger.record("p", 2025, {"personal": KEYS[:5]}, ["total"], object_id="c")
    ledger.record("q", 2026, {"personal": KEYS[:7]}, ["total"], object_id="d")
    assert ledger.counts("p", 2026) == {"personal": 100, "sensitive": 10, "account_or_medical": 0}
    assert ledger.breakdown("p", 2026, "country") == {
        "HK": {"personal": 60, "sensitive": 0, "account_or_medical": 0},
        "US": {"personal": 60, "sensitive": 10, "account_or_medical": 0},
    }
    assert ledger.counts("p", 2025)["personal"] == 5 and ledger.counts("q", 2026)["personal"] == 7
    assert ledger.emit_once("e1", {"x": 1}) and not ledger.emit_once("e1", {"x": 1})
    ledger.close()
    again = Ledger(path, "k1", True)
    assert again.per_run is False
    again.record("p", 2026, {"personal": KEYS}, ["total"], object_id="a")  # all known, object too
    assert again.counts("p", 2026)["personal"] == 100
    assert again.exports("p", 2026) == 2
    assert not again.emit_once("e1", {"x": 1})
    assert again.periods() == [("p", 2025), ("p", 2026), ("q", 2026)]
    again.close()


def test_key_discipline(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path, "k1", True).record("p", 2026, {"personal": KEYS[:1]}, ["total"])
    with pytest.raises(ConfigError, match="identity key k1, this run uses k2"):
        Ledger(path, "k2", True)
    with pytest.raises(ConfigError, match="identity key k1, this run has no identity key"):
        Ledger(path, "random", False)
    assert Ledger(path, None).per_run is False
    per_run = tmp_path / "r.sqlite"
    Ledger(per_run, "random1", False).record("p", 2026, {"personal": KEYS[:1]}, ["total"])
    again = Ledger(per_run, "random2", False)  # another run without a key: still per run
    assert again.per_run is True
    again.close()
    assert Ledger(per_run, None).per_run is True
    with pytest.raises(ConfigError, match="no such ledger"):
        Ledger(tmp_path / "missing.sqlite", None)


def test_jurisdiction_overrides_come_before_geoip_and_private_ranges() -> None:
    geoip = CountryDatabase.open(None)
    where = Jurisdiction(
        geoip,
        "CN",
        (),
        domestic_networks=("63.10.20.0/24",),
        foreign_networks={"10.99.0.0/16": "US"},
    )
    office = where.place("10.99.1.1")  # a foreign office over the VPN
    assert office.country == "US" and not office.internal
    assert where.decide(where.place("10.20.30.40"), office).is_export
    cdn = where.place("63.10.20.30")  # GeoIP says US; the operator knows it is a domestic CDN
    assert cdn.country == "CN"
    assert not where.decide(where.place("10.20.30.40"), cdn).is_export
    assert where.place("63.10.21.1").country == "US"


def test_unknown_destination_severity_is_configurable(tmp_path: Path) -> None:
    pcap = _capture(
        tmp_path / "u.pcap",
        [("10.20.30.40", "240.1.2.3", "x.test", _csv(_rows(range(3), True)), 1.7e9)],
    )
    for severity in ("medium", "info"):
        config = tmp_path / f"{severity}.yaml"
        config.write_text(f"jurisdiction:\n  unknown_destination_severity: {severity}\n")
        out = tmp_path / severity
        Audit(load_config(config), out).run([pcap])
        (alert,) = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
        assert alert["cross_border"]["destination_unknown"] is True
        assert alert["severity"] == severity
        assert alert["egress"]["policy"]["legal_path"] == "standard_contract_or_certification"
