"""Legal paths for a data export and the decision record that carries its basis.

The paths are ordered from least to most demanding; when several rules apply the most demanding
one governs (a processor that needs a security assessment for its sensitive PI does not escape it
because its other PI alone would be exempt).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LegalPath(StrEnum):
    NOT_AN_EXPORT = "not_an_export"
    EXEMPT = "exempt"
    STANDARD_CONTRACT = "standard_contract_or_certification"
    SECURITY_ASSESSMENT = "security_assessment"
    PROHIBITED = "prohibited"

    @property
    def rank(self) -> int:
        return list(LegalPath).index(self)


@dataclass(frozen=True, slots=True)
class Basis:
    """Where a rule comes from: document and article, and the pack rule that encodes it."""

    document: str
    article: str
    pack: str
    rule: str

    def as_dict(self) -> dict[str, str]:
        return {
            "document": self.document,
            "article": self.article,
            "pack": self.pack,
            "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    legal_path: LegalPath
    basis: tuple[Basis, ...]
    reason: str
    notes: tuple[str, ...] = field(default=())  # things a reviewer should know (indications)

    def as_dict(self) -> dict[str, Any]:
        return {
            "legal_path": self.legal_path.value,
            "basis": [b.as_dict() for b in self.basis],
            "reason": self.reason,
            "notes": list(self.notes),
        }
