"""Matching exports to declarations and naming the mismatches (seed 002 第十四条)."""

from __future__ import annotations

import datetime

from sensor.compliance.declarations import Declaration, check_export, check_volume, match

CRM = Declaration.model_validate(
    {
        "id": "crm",
        "recipient": {"domain": "example-us.com"},
        "categories": ["personal", "sensitive"],
        "max_individuals": 100,
        "legal_path": "standard_contract_or_certification",
        "filing": "SC-1",
        "valid_from": "2024-01-01",
        "valid_until": "2024-12-31",
    }
)
HR = Declaration.model_validate(
    {"id": "hr", "recipient": {"network": "219.76.0.0/14"}, "categories": ["personal"],
     "exemption": "cross_border_hr"}
)  # fmt: skip
SG = Declaration.model_validate(
    {"id": "sg", "recipient": {"country": "SG"}, "categories": ["personal", "JS-FTZ-28"],
     "legal_path": "exempt"}
)  # fmt: skip
ALL = (CRM, HR, SG)
DAY = datetime.date(2024, 6, 1)


def test_recipients_match_by_domain_network_and_country() -> None:
    assert match(ALL, "api.example-us.com", "63.10.20.30", "US") is CRM
    assert match(ALL, "example-us.com:8080", "63.10.20.30", "US") is CRM
    assert match(ALL, "notexample-us.com", "63.10.20.30", "US") is None
    assert match(ALL, None, "219.76.10.20", "HK") is HR
    assert match(ALL, "x.sg", "203.116.10.20", "SG") is SG
    assert match(ALL, "x.sg", "2001:db8::1", None) is None


def test_each_check_and_its_basis() -> None:
    personal = {"personal": 5, "sensitive": 0, "account_or_medical": 0}
    sensitive = {"personal": 5, "sensitive": 2, "account_or_medical": 0}
    assert check_export(CRM, "api.example-us.com", sensitive, (), DAY) == []
    (undeclared,) = check_export(None, "x.example", personal, (), DAY)
    assert undeclared.check == "undeclared_recipient"
    assert "第十四条" in undeclared.basis[0]["article"]
    (category,) = check_export(HR, "hk", sensitive, (), DAY)
    assert category.check == "undeclared_category" and category.declaration == "hr"
    (important,) = check_export(CRM, "crm", personal, ("JS-FTZ-28",), DAY)
    assert important.check == "undeclared_category" and "JS-FTZ-28" in important.detail
    assert check_export(SG, "sg", personal, ("JS-FTZ-28",), DAY) == []
    assert check_export(None, "x", {"personal": 0}, (), DAY) == []  # nothing carried


def test_approval_validity_is_judged_on_the_export_date() -> None:
    personal = {"personal": 5}
    for day, expired in [
        (datetime.date(2023, 12, 31), True),  # not yet valid
        (datetime.date(2024, 1, 1), False),
        (datetime.date(2024, 12, 31), False),
        (datetime.date(2025, 1, 1), True),
    ]:
        found = [i.check for i in check_export(CRM, "crm", personal, (), day)]
        assert found == (["approval_expired"] if expired else []), day
    assert check_export(HR, "hr", personal, (), datetime.date(2030, 1, 1)) == []  # exemptions


def test_declared_volume_boundary() -> None:
    assert check_volume(CRM, 99) is None
    assert check_volume(CRM, 100) is None
    over = check_volume(CRM, 101)
    assert over is not None and over.check == "volume_beyond_declared"
    assert check_volume(HR, 10**9) is None  # no declared maximum
