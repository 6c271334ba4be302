"""Findings of an object read in several parts (sheets of a workbook, members of an archive).

Each part is inspected on its own, so each keeps its own layout (a sheet's header row speaks for
its columns only). The object's findings are then combined:

- counts, rejected and suppressed candidates add up;
- distinct individuals (all, sensitive, account or medical) come from the union of the parts'
  keyed person hashes, so a person listed in two sheets counts once;
- ``distinct`` per identifier is the sum over parts, an upper bound (the values themselves are
  gone by now; the person count above is the exact one);
- masked samples are the first ones in part order, offsets those of the first part that has the
  identifier (``PartFindings`` says which part);
- important-data indications keep the highest score per subclass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from detectors.engine import MAX_SAMPLES, Finding, ObjectFindings
from detectors.important import Indication


@dataclass(frozen=True, slots=True)
class PartFindings:
    """Where in the object findings came from (for the alert's explanation)."""

    path: str
    kind: str
    encoding: str
    size: int
    findings: ObjectFindings


def _merge(findings: list[Finding], max_samples: int) -> Finding:
    first = findings[0]
    if len(findings) == 1:
        return first
    count = sum(f.count for f in findings)
    samples: list[str] = []
    for f in findings:
        samples.extend(s for s in f.masked_samples if s not in samples)
    with_offsets = next((f for f in findings if f.offsets), first)
    confidence = sum(f.confidence * f.count for f in findings) / count if count else 0.0
    return replace(
        first,
        count=count,
        distinct=sum(f.distinct for f in findings),
        rejected=sum(f.rejected for f in findings),
        suppressed=sum(f.suppressed for f in findings),
        masked_samples=tuple(samples[:max_samples]),
        offsets=with_offsets.offsets,
        confidence=round(confidence, 2),
    )


def _merge_all(groups: list[tuple[Finding, ...]], max_samples: int) -> tuple[Finding, ...]:
    by_id: dict[str, list[Finding]] = {}
    for group in groups:
        for finding in group:
            by_id.setdefault(finding.identifier, []).append(finding)
    return tuple(_merge(items, max_samples) for items in by_id.values())


def combine(parts: list[PartFindings], max_samples: int = MAX_SAMPLES) -> ObjectFindings:
    """One ``ObjectFindings`` for the whole object; a single part is returned unchanged."""
    if not parts:
        return ObjectFindings((), 0)
    if len(parts) == 1:
        return parts[0].findings
    results = [p.findings for p in parts]
    keys = sorted({k for r in results for k in r.individual_keys})
    sensitive = sorted({k for r in results for k in r.sensitive_keys})
    account = sorted({k for r in results for k in r.account_or_medical_keys})
    best: dict[str, Indication] = {}
    for r in results:
        for indication in r.important:
            if indication.code not in best or indication.score > best[indication.code].score:
                best[indication.code] = indication
    largest = max(parts, key=lambda p: p.size)
    return ObjectFindings(
        findings=_merge_all([r.findings for r in results], max_samples),
        distinct_individuals=len(keys) if keys else max(r.distinct_individuals for r in results),
        general=_merge_all([r.general for r in results], max_samples),
        individual_keys=tuple(keys),
        sensitive_keys=tuple(sensitive),
        account_or_medical_keys=tuple(account),
        key_id=results[0].key_id,
        layout=largest.findings.layout,
        important=tuple(sorted(best.values(), key=lambda i: -i.score)),
    )
