"""Important-data indications: term dictionaries per subclass, scored by density.

"Important data" (重要数据) is defined by sector and region, not by a check digit. The Jiangsu FTZ
reference rules (《中国（江苏）自由贸易试验区数据分类分级参考规则》) split it into 13 classes and 39
subclasses, from strategic commodities to export-controlled items. A document that merely mentions
a reactor is not important data; a file dense with reactor operating parameters might be. So each
subclass has a dictionary of domain terms, and an object is *indicated* for the subclass only when
it contains enough distinct terms (breadth) at a high enough rate per KiB (density).

Indications are a hint for a human, not a finding: they are reported in
``ObjectFindings.important`` and never raise an alert or its severity by themselves. The term
packs live in ``signatures/important/``; their terms are matched in the same hyperscan pass as the
identifiers (as keywords), so an object costs no extra scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from detectors.context import normalise_keyword
from sensor.errors import SignatureError

KIB = 1024


class TermPack(BaseModel):
    """One subclass of the reference rules and its dictionary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: int = Field(1, ge=1, le=1)
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_.-]{1,31}$")
    subclass: int = Field(ge=1, le=39)
    category: str  # 一级类别
    name_zh: str  # 二级类别
    name_en: str
    basis: str
    terms: tuple[str, ...] = Field(min_length=3)
    min_distinct: int = Field(3, ge=1, description="distinct terms needed (breadth)")
    min_density: float = Field(1.0, gt=0, description="term hits per KiB needed (density)")
    source: str = ""


@dataclass(frozen=True, slots=True)
class Indication:
    """An object that looks like a subclass of important data. Carries no content."""

    code: str
    subclass: int
    name_zh: str
    name_en: str
    basis: str
    hits: int
    distinct_terms: int
    density: float  # hits per KiB
    score: float  # 0.5 at both thresholds, 1.0 at twice both (geometric mean of the ratios / 2)


def builtin_directory() -> Path:
    return Path(str(resources.files("signatures"))) / "important"


def load_term_packs(directories: tuple[Path, ...] | None = None) -> tuple[TermPack, ...]:
    """Term packs from the built-in directory (and any others), sorted by subclass."""
    packs: dict[str, TermPack] = {}
    for directory in directories if directories is not None else (builtin_directory(),):
        for path in sorted(directory.glob("*.yaml")):
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8"))
                pack = TermPack.model_validate({**raw, "source": str(path)})
            except (OSError, yaml.YAMLError, TypeError) as exc:
                raise SignatureError(f"{path}: cannot load term pack: {exc}") from None
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise SignatureError(f"{path}: field '{where}': {first['msg']}") from None
            packs[pack.code] = pack
    return tuple(sorted(packs.values(), key=lambda p: (p.subclass, p.code)))


class TermScorer:
    """Maps term packs onto matcher keyword numbers and scores an object's keyword hits."""

    def __init__(self, packs: tuple[TermPack, ...], keyword_index: dict[bytes, int]) -> None:
        self.packs = packs
        self._terms = [
            tuple(sorted({keyword_index[normalise_keyword(t)] for t in pack.terms}))
            for pack in packs
        ]

    @staticmethod
    def keywords(packs: tuple[TermPack, ...]) -> list[bytes]:
        return [normalise_keyword(t) for pack in packs for t in pack.terms]

    def score(self, counts: dict[int, int], size: int) -> tuple[Indication, ...]:
        """Indications for ``counts`` (hits per keyword number) in an object of ``size`` bytes."""
        out = []
        kib = max(size, KIB) / KIB
        for pack, terms in zip(self.packs, self._terms, strict=True):
            hits = sum(counts.get(t, 0) for t in terms)
            if not hits:
                continue
            distinct = sum(1 for t in terms if counts.get(t, 0))
            density = hits / kib
            breadth_ratio, density_ratio = distinct / pack.min_distinct, density / pack.min_density
            score = min(1.0, (breadth_ratio * density_ratio) ** 0.5 / 2)
            if breadth_ratio >= 1 and density_ratio >= 1:
                out.append(
                    Indication(
                        pack.code,
                        pack.subclass,
                        pack.name_zh,
                        pack.name_en,
                        pack.basis,
                        hits,
                        distinct,
                        round(density, 2),
                        round(score, 2),
                    )
                )
        return tuple(out)
