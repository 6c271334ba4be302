"""Detection engine: object bytes in, findings out.

For the walking skeleton an object's distinct individuals are its distinct resident ID numbers; the
detectors issue groups identifiers by record and deduplicates across identifier kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.catalogue import DataClass, IdentifierSpec
from detectors.masking import mask
from detectors.matcher import Matcher
from detectors.validators import VALIDATORS

MAX_SAMPLES = 3  # masked samples per identifier in an alert: enough to recognise, little to leak
MAX_OFFSETS = 20  # evidence offsets per identifier kept in an alert


@dataclass(frozen=True, slots=True)
class Finding:
    """What one identifier found in one object. Never holds a raw identifier."""

    identifier: str
    rule: str
    name_en: str
    name_zh: str
    data_class: DataClass
    basis: str
    count: int  # valid occurrences
    distinct: int  # distinct values among them
    rejected: int  # candidates the validator refused (decoys, typos)
    masked_samples: tuple[str, ...]
    offsets: tuple[int, ...]  # byte offsets of the first occurrences in the object


@dataclass(frozen=True, slots=True)
class ObjectFindings:
    findings: tuple[Finding, ...]
    distinct_individuals: int

    def __bool__(self) -> bool:
        return any(f.count for f in self.findings)


class DetectionEngine:
    """Holds the compiled matcher; ``inspect`` is safe to call for every object."""

    def __init__(self, specs: tuple[IdentifierSpec, ...], max_samples: int = MAX_SAMPLES) -> None:
        self.specs = specs
        self.matcher = Matcher(specs)
        self.max_samples = max_samples

    def inspect(self, data: bytes) -> ObjectFindings:
        buf, candidates = self.matcher.scan(data)
        findings: list[Finding] = []
        people: set[bytes] = set()
        for ident, starts in sorted(candidates.starts.items()):
            spec = self.specs[ident]
            valid = VALIDATORS[spec.validator](buf, starts)
            good = starts[valid]
            if good.size == 0 and starts.size == 0:
                continue
            values = [data[s : s + spec.length].upper() for s in good.tolist()]
            samples: list[str] = []
            seen: set[bytes] = set()
            for value in values:
                if value not in seen:
                    seen.add(value)
                    if len(samples) < self.max_samples:
                        text = value.decode("ascii", "replace")
                        samples.append(mask(text, spec.mask.keep_start, spec.mask.keep_end))
            if spec.id == "cn_resident_id":
                people |= seen
            findings.append(
                Finding(
                    identifier=spec.id,
                    rule=spec.rule,
                    name_en=spec.name.en,
                    name_zh=spec.name.zh,
                    data_class=spec.data_class,
                    basis=spec.basis,
                    count=int(good.size),
                    distinct=len(seen),
                    rejected=int(np.count_nonzero(~valid)),
                    masked_samples=tuple(samples),
                    offsets=tuple(good[:MAX_OFFSETS].tolist()),
                )
            )
        return ObjectFindings(tuple(findings), len(people))
