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

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from detectors.context import normalise_keyword
from detectors.layout import MAX_HEADER_BYTES, SAMPLE_BYTES, detect_layout
from sensor import yamlfast
from sensor.errors import SignatureError

KIB = 1024
# Exports often put a title and a date line above the column names; the header is the first
# delimited line among this many.
HEADER_SEARCH_LINES = 5


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
    terms: tuple[str, ...] = Field(min_length=3, description="specific terms of the sector")
    common_terms: tuple[str, ...] = Field(
        (), description="sector words also common in ordinary text: never enough on their own"
    )
    negative_terms: tuple[str, ...] = Field(
        (), description="longer phrases in which a term means something else; cancel that term"
    )
    min_distinct: int = Field(3, ge=1, description="distinct terms needed (breadth)")
    min_specific: int = Field(2, ge=1, description="of which distinct specific terms")
    min_density: float = Field(1.0, gt=0, description="term hits per KiB needed (density)")
    source: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> TermPack:
        specific = {normalise_keyword(t) for t in self.terms}
        common = {normalise_keyword(t) for t in self.common_terms}
        if specific & common:
            both = sorted(w.decode() for w in specific & common)
            raise ValueError(f"in both terms and common_terms: {', '.join(both)}")
        if self.min_specific > self.min_distinct:
            raise ValueError("min_specific cannot exceed min_distinct")
        for negative in self.negative_terms:
            word = normalise_keyword(negative)
            if not any(_occurrences(t, word) for t in specific | common):
                raise ValueError(
                    f"negative term {negative!r} contains none of the pack's terms; a negative "
                    "term cancels the term it contains, so write the longer phrase"
                )
        return self


def _is_letter(byte: int) -> bool:
    return 65 <= byte <= 90 or 97 <= byte <= 122


def _occurrences(inner: bytes, outer: bytes) -> int:
    """How often the matcher would find keyword ``inner`` inside a hit of the longer ``outer``."""
    return _count_in(inner, outer) if len(inner) < len(outer) else 0


def _count_in(inner: bytes, outer: bytes) -> int:
    """How often the matcher would find keyword ``inner`` in ``outer`` (both normalised).

    Mirrors the matcher's rule that a keyword starting (ending) with an ASCII letter may not touch
    a letter on that side, so "fe" is not inside "NdFeB" but "earth" is inside "rare earth".
    """
    found, at = 0, outer.find(inner)
    while at >= 0:
        end = at + len(inner)
        left_ok = not _is_letter(inner[0]) or at == 0 or not _is_letter(outer[at - 1])
        right_ok = not _is_letter(inner[-1]) or end == len(outer) or not _is_letter(outer[end])
        found += left_ok and right_ok
        at = outer.find(inner, at + 1)
    return found


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


@dataclass(frozen=True, slots=True)
class _Plan:
    """A pack's keyword numbers, and the nesting to undo before counting."""

    pack: TermPack
    specific: frozenset[int]
    common: frozenset[int]
    # (outer, inner, times), longest outer first: each hit of outer also produced ``times`` hits
    # of inner, which are taken back so a phrase counts once, as its longest term.
    nesting: tuple[tuple[int, int, int], ...]
    words: frozenset[int]  # every keyword number above, negative terms included

    def tally(self, counts: dict[int, int]) -> tuple[int, int, int]:
        """(distinct specific terms, distinct terms, hits) after undoing the nesting."""
        own = {k: counts[k] for k in self.words if k in counts}
        for outer, inner, times in self.nesting:  # longest outer first
            if own.get(outer, 0) and own.get(inner, 0):
                own[inner] = max(0, own[inner] - times * own[outer])
        specific = sum(1 for t in self.specific if own.get(t, 0))
        distinct = specific + sum(1 for t in self.common if own.get(t, 0))
        hits = sum(own.get(t, 0) for t in self.specific | self.common)
        return specific, distinct, hits


def builtin_directory() -> Path:
    return Path(str(resources.files("signatures"))) / "important"


def load_term_packs(directories: tuple[Path, ...] | None = None) -> tuple[TermPack, ...]:
    """Term packs from the built-in directory (and any others), sorted by subclass."""
    packs: dict[str, TermPack] = {}
    for directory in directories if directories is not None else (builtin_directory(),):
        for path in sorted(directory.glob("*.yaml")):
            try:
                raw = yamlfast.safe_load(path.read_text(encoding="utf-8"))
                pack = TermPack.model_validate({**raw, "source": str(path)})
            except (OSError, yaml.YAMLError, TypeError) as exc:
                raise SignatureError(f"{path}: cannot load term pack: {exc}") from None
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "pack"
                raise SignatureError(f"{path}: field '{where}': {first['msg']}") from None
            packs[pack.code] = pack
    return tuple(sorted(packs.values(), key=lambda p: (p.subclass, p.code)))


class TermScorer:
    """Maps term packs onto matcher keyword numbers and scores an object's keyword hits.

    False-positive controls, all computed from the per-keyword hit counts of the one scan:
    breadth (``min_distinct``), density (``min_density``), specific terms (``min_specific``: words
    in ``common_terms`` count but cannot carry an indication alone), nesting (a hit of "测绘成果"
    is not also a hit of "测绘") and negative terms ("故障诊断" takes its hit back from "诊断").
    One rule relaxes density: in a delimited table, column names that alone meet the breadth
    thresholds indicate the object however many rows of numbers follow them.
    """

    def __init__(self, packs: tuple[TermPack, ...], keyword_index: dict[bytes, int]) -> None:
        self.packs = packs
        self._plans = [self._plan(pack, keyword_index) for pack in packs]
        by_keyword: dict[int, set[int]] = {}
        for number, plan in enumerate(self._plans):
            for k in plan.specific | plan.common:
                by_keyword.setdefault(k, set()).add(number)
        self._packs_of = {k: tuple(sorted(v)) for k, v in by_keyword.items()}
        mine = {k for plan in self._plans for k in plan.words}
        self._words = {n: w for w, n in keyword_index.items() if n in mine}

    @staticmethod
    def _plan(pack: TermPack, keyword_index: dict[bytes, int]) -> _Plan:
        specific = {normalise_keyword(t) for t in pack.terms}
        common = {normalise_keyword(t) for t in pack.common_terms}
        counted = specific | common
        words = sorted(counted | {normalise_keyword(t) for t in pack.negative_terms}, key=len)
        nesting = [
            (keyword_index[outer], keyword_index[inner], times)
            for outer in reversed(words)
            for inner in counted
            if (times := _occurrences(inner, outer))
        ]
        return _Plan(
            pack,
            frozenset(keyword_index[w] for w in specific),
            frozenset(keyword_index[w] for w in common),
            tuple(nesting),
            frozenset(keyword_index[w] for w in words),
        )

    @staticmethod
    def keywords(packs: tuple[TermPack, ...]) -> list[bytes]:
        return [
            normalise_keyword(t)
            for pack in packs
            for t in pack.terms + pack.common_terms + pack.negative_terms
        ]

    def score(
        self, counts: dict[int, int], data: bytes, size: int | None = None
    ) -> tuple[Indication, ...]:
        """Indications for ``counts`` (hits per keyword number) in the object ``data``, strongest
        first. ``size``: the bytes the counts cover when ``data`` is not all of them (stream mode
        passes no data: no header line to read)."""
        touched = sorted({n for k in counts for n in self._packs_of.get(k, ())})
        kib = max(len(data) if size is None else size, KIB) / KIB
        header: dict[int, int] | None = None  # term hits in a table's header line, when needed
        ranked = []
        for number in touched:
            plan = self._plans[number]
            pack = plan.pack
            specific, distinct, hits = plan.tally(counts)
            if distinct < pack.min_distinct or specific < pack.min_specific:
                continue
            density = hits / kib
            strength = (distinct / pack.min_distinct * density / pack.min_density) ** 0.5 / 2
            if density < pack.min_density:
                # Too sparse for text; but a table whose column names alone have the breadth is
                # about the subclass on every row, however many rows of numbers follow.
                if header is None:
                    header = self._header_hits(counts, data)
                h_specific, h_distinct, _ = plan.tally(header)
                if h_distinct < pack.min_distinct or h_specific < pack.min_specific:
                    continue
                strength = max(strength, (h_distinct / pack.min_distinct) ** 0.5 / 2)
            indication = Indication(
                pack.code,
                pack.subclass,
                pack.name_zh,
                pack.name_en,
                pack.basis,
                hits,
                distinct,
                round(density, 2),
                round(min(1.0, strength), 2),
            )
            ranked.append((-strength, pack.subclass, indication))
        return tuple(i for _s, _n, i in sorted(ranked, key=lambda r: (r[0], r[1])))

    def _header_hits(self, counts: dict[int, int], data: bytes) -> dict[int, int]:
        """Hits of the terms the scan found, counted again within the header line of a delimited
        table (no second scan: only terms already hit, only in at most MAX_HEADER_BYTES)."""
        layout = detect_layout(np.frombuffer(data[:SAMPLE_BYTES], dtype=np.uint8))
        if not layout.rows or layout.delimiter is None:
            return {}
        head = data[: MAX_HEADER_BYTES * HEADER_SEARCH_LINES].split(b"\n")[:HEADER_SEARCH_LINES]
        delimited = [line for line in head if layout.delimiter in line]
        if not delimited:
            return {}
        line = delimited[0][:MAX_HEADER_BYTES].lower()
        found = {k: _count_in(self._words[k], line) for k in counts if k in self._words}
        return {k: n for k, n in found.items() if n}
