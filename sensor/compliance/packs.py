"""Policy packs: declarative, versioned YAML rules with their legal basis (signatures/policies/).

A pack encodes one document's export rules. Each rule says: when (processor CIIO or not, yearly
counts at least / below a number), which legal path follows, and the article that says so. Packs
are scoped (free-trade zone, business scenario) and may take over a *group* of another pack's rules
while they apply: the Beijing FTZ retail-membership pack replaces the national ``pi_volume``
thresholds for members' data, the Jiangsu negative-list pack replaces them with an exemption for
data outside the list. Groups it does not name (CIIO, important data, core data) stay national.

The loader rejects unknown fields and bad values with the file and line, and refuses two packs
with one id: a policy typo must never silently drop a rule.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sensor.compliance.legal import LegalPath
from sensor.compliance.yamlsource import YamlSource
from sensor.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", frozen=True)

Metric = Literal[
    "personal",  # distinct people whose personal information left (sensitive ones included)
    "non_sensitive",  # personal minus sensitive
    "sensitive",  # distinct people whose sensitive personal information left
    "account_or_medical",  # ... sensitive PI with bank/insurance/registered accounts or medical
    "important_data",  # important-data categories identified (notified to the processor)
    "core_data",  # core-data categories
]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]


class Condition(BaseModel):
    """``at_least <= metric < below`` (either bound may be left out)."""

    model_config = _STRICT
    metric: Metric
    at_least: int | None = Field(None, ge=0)
    below: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounded(self) -> Condition:
        if self.at_least is None and self.below is None:
            raise ValueError("give at_least, below or both")
        if self.at_least is not None and self.below is not None and self.below <= self.at_least:
            raise ValueError("below must be greater than at_least")
        return self

    def holds(self, values: dict[str, int]) -> bool:
        value = values[self.metric]
        if self.at_least is not None and value < self.at_least:
            return False
        return self.below is None or value < self.below


class When(BaseModel):
    model_config = _STRICT
    ciio: bool | None = None
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()

    def holds(self, ciio: bool, values: dict[str, int]) -> bool:
        if self.ciio is not None and self.ciio != ciio:
            return False
        if not all(c.holds(values) for c in self.all):
            return False
        return not self.any or any(c.holds(values) for c in self.any)


class Rule(BaseModel):
    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z0-9_]{2,64}$")
    group: str = Field(pattern=r"^[a-z0-9_]{2,64}$")
    path: LegalPath
    document: str | None = None  # defaults to the pack's document
    article: str = Field(min_length=1)
    when: When
    reason: str = Field(min_length=1, description="str.format fields: the metric names")

    @model_validator(mode="after")
    def _reason_fields(self) -> Rule:
        try:
            self.reason.format_map(dict.fromkeys(METRICS, 0))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"reason uses an unknown field {exc}; fields: {METRICS}") from None
        return self


class Scope(BaseModel):
    model_config = _STRICT
    ftz: tuple[str, ...] | None = None  # processor zones the pack is for; None = everyone
    scenarios: tuple[str, ...] | None = None  # the processor must declare one of them


class NegativeList(BaseModel):
    """Industries with a published list, and the data categories each list names (002 第十条)."""

    model_config = _STRICT
    industries: dict[str, tuple[str, ...]] = {}


class PolicyPack(BaseModel):
    model_config = _STRICT
    format_version: Literal[1] = 1
    id: str = Field(pattern=r"^[a-z0-9_]{2,64}$")
    version: int = Field(ge=1)
    title: str
    document: str
    source: str = Field(description="where the rules were read (seed file, chapter)")
    scope: Scope = Field(default_factory=Scope)
    applies_when: Literal["always", "outside_negative_list"] = "always"
    negative_list: NegativeList | None = None
    replaces: tuple[str, ...] = Field((), description="rule groups of other packs taken over")
    rules: tuple[Rule, ...] = Field(min_length=1)
    file: str = ""  # filled in by the loader

    @model_validator(mode="after")
    def _consistent(self) -> PolicyPack:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique within a pack")
        if self.applies_when == "outside_negative_list" and self.negative_list is None:
            raise ValueError("applies_when: outside_negative_list needs a negative_list")
        return self

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"


def builtin_directory() -> Path:
    return Path(str(resources.files("signatures"))) / "policies"


def load_packs(extra_directories: tuple[Path, ...] = ()) -> tuple[PolicyPack, ...]:
    """Built-in packs and the operator's; an operator pack with a built-in id replaces it."""
    packs: dict[str, PolicyPack] = {}
    for directory in (builtin_directory(), *extra_directories):
        if not directory.is_dir():
            raise ConfigError(f"{directory}: policy pack directory not found")
        mine: set[str] = set()
        for path in sorted(directory.glob("*.yaml")):
            source = YamlSource(path)
            pack = source.validate(PolicyPack, {"file": str(path)})
            if pack.id in mine:
                raise source.error(("id",), f"pack id {pack.id!r} used twice in {directory}")
            mine.add(pack.id)
            packs[pack.id] = pack
    if "national" not in packs:
        raise ConfigError("no policy pack with id 'national': the national rules are required")
    return tuple(packs.values())
