"""Declared exports and the consistency checks of seed 002 article 14.

A processor files what it will send abroad: to whom, which data, how many people a year, under
which legal path (with its filing or approval number and validity), or under an exemption basis
of 促进和规范数据跨境流动规定 第五条 (contract with the individual, cross-border HR management,
emergency). Regulators then sample whether what actually left matches the filing
(《中国（江苏）自由贸易试验区数据出境负面清单管理办法（试行）》第十四条; the obligation not to exceed
the filed scale is in 004 chapter 3). This module holds the declaration model, matches an export to
its declaration, and names the mismatches.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sensor.compliance.legal import LegalPath

_STRICT = ConfigDict(extra="forbid", frozen=True)

CLASSES = ("personal", "sensitive", "account_or_medical")
Exemption = Literal["contract_with_individual", "cross_border_hr", "emergency"]
EXEMPTION_ARTICLES: dict[str, str] = {
    "contract_with_individual": "第五条第一项",
    "cross_border_hr": "第五条第二项",
    "emergency": "第五条第三项",
}


class Recipient(BaseModel):
    """Exactly one of: a domain (and its subdomains), an address range, a country code."""

    model_config = _STRICT
    domain: str | None = None
    network: str | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")

    @model_validator(mode="after")
    def _one(self) -> Recipient:
        given = [v for v in (self.domain, self.network, self.country) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of domain, network, country")
        if self.network:
            try:
                ipaddress.ip_network(self.network, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {self.network!r}") from None
        return self

    def matches(self, host: str | None, ip: str, country: str | None) -> bool:
        if self.domain:
            name = (host or "").lower().split(":")[0].rstrip(".")
            want = self.domain.lower()
            return name == want or name.endswith("." + want)
        if self.network:
            address = ipaddress.ip_address(ip)
            network = ipaddress.ip_network(self.network, strict=False)
            return address.version == network.version and address in network
        return country == self.country

    @property
    def label(self) -> str:
        return self.domain or self.network or self.country or "?"


class Declaration(BaseModel):
    """One filed export. Exempt exports give ``exemption``; the others a path and its filing."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    recipient: Recipient
    categories: tuple[str, ...] = Field(min_length=1)
    max_individuals: int | None = Field(None, ge=1)
    legal_path: LegalPath | None = None
    filing: str | None = Field(None, description="filing or approval number")
    valid_from: datetime.date | None = None
    valid_until: datetime.date | None = None
    exemption: Exemption | None = None

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item not in CLASSES and not item.isupper() and "-" not in item:
                raise ValueError(
                    f"unknown category {item!r}: use {', '.join(CLASSES)} or an important-data code"
                )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Declaration:
        if self.exemption is not None:
            if self.legal_path not in (None, LegalPath.EXEMPT):
                raise ValueError("an exempt declaration cannot also name a legal path")
            return self
        if self.legal_path is None:
            raise ValueError("give legal_path (with filing and validity) or an exemption basis")
        filed = self.legal_path in (LegalPath.STANDARD_CONTRACT, LegalPath.SECURITY_ASSESSMENT)
        if filed and (not self.filing or self.valid_from is None or self.valid_until is None):
            raise ValueError(f"{self.legal_path.value} needs filing, valid_from, valid_until")
        if self.legal_path in (LegalPath.PROHIBITED, LegalPath.NOT_AN_EXPORT):
            raise ValueError(f"{self.legal_path.value} is not a path an export can be filed under")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def valid_on(self, day: datetime.date) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until


FILING_CHECK = (
    "中国（江苏）自由贸易试验区数据出境负面清单管理办法（试行）",
    "第十四条 (实际出境情况与备案材料一致性抽验)",
)
WITHIN_FILING = (
    "数据出境安全评估办法; 个人信息出境标准合同办法",
    "数据处理者义务: 不得超出评估或备案明确的目的、范围、方式和数据类型、规模 (seed 004 第三章)",
)
VALIDITY = (
    "促进和规范数据跨境流动规定",
    "评估结果有效期及延长 (seed 004 第三章); 标准合同、认证有效期",
)
NO_SPLITTING = (
    "个人信息出境标准合同办法; 促进和规范数据跨境流动规定",
    "不得采取数量拆分等手段 (seed 004 第三章 个人信息出境标准合同)",
)
BASIS: dict[str, tuple[tuple[str, str], ...]] = {
    "undeclared_recipient": (FILING_CHECK, WITHIN_FILING),
    "undeclared_category": (FILING_CHECK, WITHIN_FILING),
    "volume_beyond_declared": (FILING_CHECK, WITHIN_FILING),
    "approval_expired": (FILING_CHECK, VALIDITY),
    "split_across_recipients": (FILING_CHECK, NO_SPLITTING),
}


@dataclass(frozen=True, slots=True)
class Inconsistency:
    """One mismatch between traffic and filing; ``key`` makes it reported once per year."""

    check: str  # undeclared_recipient | undeclared_category | volume_beyond_declared |
    #             approval_expired | split_across_recipients
    key: str
    detail: str
    declaration: str | None = None

    @property
    def basis(self) -> list[dict[str, str]]:
        return [{"document": d, "article": a} for d, a in BASIS[self.check]]


def match(
    declarations: tuple[Declaration, ...], host: str | None, ip: str, country: str | None
) -> Declaration | None:
    """The first declaration whose recipient matches the export's destination."""
    for declaration in declarations:
        if declaration.recipient.matches(host, ip, country):
            return declaration
    return None


def check_export(
    declaration: Declaration | None,
    recipient: str,
    classes: dict[str, int],
    important_codes: tuple[str, ...],
    day: datetime.date,
) -> list[Inconsistency]:
    """Mismatches of one export (classes: people per class in this object) with its filing."""
    carried = [c for c in CLASSES if classes.get(c)] + list(important_codes)
    if not carried:
        return []
    if declaration is None:
        return [
            Inconsistency(
                "undeclared_recipient",
                f"recipient:{recipient}",
                f"export of {', '.join(carried)} to {recipient}, which no declaration names",
            )
        ]
    found = []
    for category in carried:
        if category not in declaration.categories:
            found.append(
                Inconsistency(
                    "undeclared_category",
                    f"category:{declaration.id}:{category}",
                    f"{category} sent to {recipient} under declaration {declaration.id}, "
                    f"which covers only {', '.join(declaration.categories)}",
                    declaration.id,
                )
            )
    if declaration.exemption is None and not declaration.valid_on(day):
        found.append(
            Inconsistency(
                "approval_expired",
                f"expired:{declaration.id}",
                f"export on {day.isoformat()} under {declaration.filing or declaration.id}, valid "
                f"{declaration.valid_from} to {declaration.valid_until}",
                declaration.id,
            )
        )
    return found


def check_volume(declaration: Declaration, people: int) -> Inconsistency | None:
    """The declared yearly scale exceeded (distinct people sent under this declaration)."""
    if declaration.max_individuals is None or people <= declaration.max_individuals:
        return None
    return Inconsistency(
        "volume_beyond_declared",
        f"volume:{declaration.id}",
        f"{people} people sent under declaration {declaration.id} this year, "
        f"declared at most {declaration.max_individuals}",
        declaration.id,
    )
