"""Cross-border decision with a stub-free country table (a dict is the GeoIP interface)."""

import pytest

from sensor.policy import Jurisdiction


class TableLookup:
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def country(self, ip: str) -> str | None:
        return self.table.get(ip)


@pytest.fixture
def jurisdiction() -> Jurisdiction:
    table = {"1.1.1.1": "US", "2.2.2.2": "HK", "3.3.3.3": "CN", "4.4.4.4": "MO", "5.5.5.5": "TW"}
    return Jurisdiction(TableLookup(table), "CN", ("8.8.0.0/16",))


@pytest.mark.parametrize("dst,export", [
    ("1.1.1.1", True), ("2.2.2.2", True), ("4.4.4.4", True), ("5.5.5.5", True),
    ("3.3.3.3", False), ("192.168.1.1", False), ("8.8.4.4", False),
])  # fmt: skip
def test_export_from_internal_sender(jurisdiction: Jurisdiction, dst: str, export: bool) -> None:
    decision = jurisdiction.decide(jurisdiction.place("10.0.0.5"), jurisdiction.place(dst))
    assert decision.is_export is export


def test_unknown_destination_is_a_possible_export(jurisdiction: Jurisdiction) -> None:
    decision = jurisdiction.decide(jurisdiction.place("3.3.3.3"), jurisdiction.place("9.9.9.9"))
    assert decision.is_export and decision.destination_unknown
    assert "not in the GeoIP database" in decision.reason


def test_foreign_sender_is_not_an_export(jurisdiction: Jurisdiction) -> None:
    decision = jurisdiction.decide(jurisdiction.place("1.1.1.1"), jurisdiction.place("2.2.2.2"))
    assert not decision.is_export


@pytest.mark.parametrize(
    "ip", ["100.64.1.1", "169.254.3.3", "fe80::1", "fd00::5", "2001:db8::1", "::1"]
)
def test_special_ranges_are_internal(jurisdiction: Jurisdiction, ip: str) -> None:
    assert jurisdiction.place(ip).internal
