"""Detection engine: object bytes in, findings out.

One object goes through five steps, each vectorised over all candidates of an identifier:

1. ``Matcher.scan``: one hyperscan pass finds candidate spans of every identifier and every
   context keyword.
2. The identifier's validator checks all its candidates and normalises them. Per start the longest
   valid span wins (``a@b.com`` inside ``a@b.com.cn``); spans inside another valid span are
   dropped; candidates with no valid reading are counted as ``rejected``.
3. Exclusions (allowlisted test values, reverse keywords, structures such as hashes) and context
   keywords (near the value or in its column header) turn each valid value into a confidence;
   values under the identifier's ``minimum_confidence`` are counted as ``suppressed``.
4. Two identifiers claiming the very same bytes (an 18-digit Gansu resident ID that also passes
   Luhn as a "62" card) resolve to the more confident one; a value inside another identifier's
   value (a card number inside an IBAN) is dropped unless the outer one ``keeps_inner``.
5. ``detectors.individuals`` counts distinct people and hashes them with the engine's secret;
   ``detectors.important`` scores the important-data term hits of the same scan.

``inspect`` runs all five over one object. ``evaluate`` (steps 2-4 over a scan) and
``count_people`` (step 5 with the engine's secret) are the public pieces for callers that scan
buffers of their own, such as ``detectors.streaming``.

Raw identifiers never leave the engine: findings carry counts, masked samples, offsets and keyed
hashes only. ``detect`` returns the accepted spans themselves for the accuracy harness and the CLI's
``signatures test``; it is not meant for outputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors.catalogue import DataClass, IdentifierSpec
from detectors.context import (
    STRUCTURES,
    header_columns,
    keyword_context,
    keyword_table,
)
from detectors.important import Indication, TermPack, TermScorer, load_term_packs
from detectors.individuals import (
    NO_MARKS,
    ClassMarks,
    Evidence,
    KeyedHasher,
    People,
    count_people,
    digest_secret,
)
from detectors.layout import TEXT, Layout, detect_layout
from detectors.masking import mask_value
from detectors.matcher import Candidates, FloatArray, Matcher, ScanResult
from detectors.reference import REFERENCES
from detectors.validators import VALIDATORS
from detectors.vectors import (
    BoolArray,
    IntArray,
    distinct_strings,
    native_kernels,
    search_sorted,
    unique_ints,
)

MAX_SAMPLES = 3  # masked samples per identifier in an alert: enough to recognise, little to leak
MAX_OFFSETS = 20  # evidence offsets per identifier kept in an alert
# Taxonomies of sensitive PI that the Jiangsu FTZ rules single out (银行账户、保险账户、注册账户、诊疗数据)
ACCOUNT_OR_MEDICAL_TAXONOMIES = ("PI.financial.", "PI.account.", "PI.health.", "PI.medical.")
_Reach = tuple[IntArray, IntArray]  # accepted starts in order, furthest end reached up to each


def is_sensitive(spec: IdentifierSpec) -> bool:
    """Values of this identifier make a person's record sensitive personal information."""
    return spec.data_class is DataClass.SENSITIVE_PERSONAL


def is_account_or_medical(spec: IdentifierSpec) -> bool:
    """Sensitive PI about bank, payment, insurance or registered accounts, or medical data."""
    return is_sensitive(spec) and spec.taxonomy.startswith(ACCOUNT_OR_MEDICAL_TAXONOMIES)


@dataclass(frozen=True, slots=True)
class Finding:
    """What one identifier found in one object. Never holds a raw identifier."""

    identifier: str
    rule: str
    name_en: str
    name_zh: str
    data_class: DataClass
    basis: str
    count: int  # valid, confident occurrences
    distinct: int  # distinct normalised values among them
    rejected: int  # candidates the validator refused (decoys, typos)
    masked_samples: tuple[str, ...]
    offsets: tuple[int, ...]  # byte offsets of the first occurrences in the object
    taxonomy: str = ""
    suppressed: int = 0  # valid values excluded or below the confidence threshold
    confidence: float = 0.0  # mean confidence of the counted occurrences

    @classmethod
    def of(cls, spec: IdentifierSpec, **counts: Any) -> Finding:
        """A finding of ``spec``: its names, class, basis and taxonomy, and the given counts."""
        return cls(
            identifier=spec.id,
            rule=spec.rule,
            name_en=spec.name.en,
            name_zh=spec.name.zh,
            data_class=spec.data_class,
            basis=spec.basis,
            taxonomy=spec.taxonomy,
            **counts,
        )


@dataclass(frozen=True, slots=True)
class ObjectFindings:
    findings: tuple[Finding, ...]  # personal, sensitive, important and core data
    distinct_individuals: int
    general: tuple[Finding, ...] = ()  # general_data identifiers (enterprise codes): not alerts
    individual_keys: tuple[str, ...] = ()  # HMAC-SHA256 per distinct individual, for the ledger
    sensitive_keys: tuple[str, ...] = ()  # those whose record holds sensitive PI (see individuals)
    account_or_medical_keys: tuple[str, ...] = ()  # ... bank/financial account or medical data
    key_id: str = ""  # fingerprint of the secret that made ``individual_keys``
    layout: str = "text"  # "rows" when the object was read as a table
    important: tuple[Indication, ...] = ()  # important-data subclasses indicated: hints, not alerts

    @classmethod
    def of(
        cls,
        personal: Sequence[Finding],
        general: Sequence[Finding],
        people: People,
        key_id: str,
        layout: str,
        important: tuple[Indication, ...] = (),
    ) -> ObjectFindings:
        """Findings with the people counted from them (block mode and stream mode alike)."""
        return cls(
            tuple(personal),
            people.count,
            tuple(general),
            people.keys,
            people.sensitive_keys,
            people.account_or_medical_keys,
            key_id,
            layout,
            important,
        )

    def __bool__(self) -> bool:
        return any(f.count for f in self.findings)

    @property
    def individuals_by_class(self) -> dict[str, int]:
        """Distinct individuals per ledger class: all personal, sensitive, account_or_medical."""
        return {
            "personal": len(self.individual_keys),
            "sensitive": len(self.sensitive_keys),
            "account_or_medical": len(self.account_or_medical_keys),
        }


@dataclass(frozen=True, slots=True)
class Accepted:
    """The accepted occurrences of one identifier in one object (raw spans: internal use only)."""

    spec: IdentifierSpec
    starts: IntArray
    ends: IntArray
    values: npt.NDArray[np.bytes_]
    confidence: FloatArray
    rejected: IntArray  # starts of candidates with no valid reading (see _claimed_elsewhere)
    suppressed: int
    candidates: int


@dataclass(frozen=True, slots=True)
class Detection:
    accepted: dict[str, Accepted]
    layout: Layout
    matches: int = 0
    keyword_counts: dict[int, int] = field(default_factory=dict)  # hits per keyword number


class DetectionEngine:
    """Holds the compiled matcher; ``inspect`` is safe to call for every object.

    ``identity_key`` is the deployment secret for the person hashes. Without one, the engine draws
    a random key at construction: hashes then agree within this engine (one audit run) and mean
    nothing anywhere else, which is the safe failure. A ledger that counts people across runs must
    pass the same persistent key every time.
    """

    def __init__(
        self,
        specs: tuple[IdentifierSpec, ...],
        max_samples: int = MAX_SAMPLES,
        identity_key: bytes | None = None,
        term_packs: tuple[TermPack, ...] | None = None,
    ) -> None:
        self.specs = specs
        self.max_samples = max_samples
        secret = identity_key if identity_key is not None else os.urandom(32)
        self.key_id = digest_secret(secret)
        self._hasher = KeyedHasher(secret)
        self.term_packs = load_term_packs() if term_packs is None else term_packs
        index, self._keyword_sets = keyword_table(specs, TermScorer.keywords(self.term_packs))
        self._terms = TermScorer(self.term_packs, index)
        keywords = tuple(index)
        self._keyword_lengths = np.array([len(k) for k in keywords] or [0], dtype=np.int64)
        self.matcher = Matcher(specs, keywords)
        self._allow = [self._allowlist(spec) for spec in specs]
        self._ranks = np.array([s.individual_rank or 10 for s in specs] or [10], dtype=np.int64)
        self._keeps_inner = np.array([s.keeps_inner for s in specs] or [False], dtype=bool)
        # Identifiers no pattern can find without context: in a table's header line the "context"
        # is the other column names, so their candidates there are not values.
        self._needs_context = [
            max(p.confidence for p in s.patterns) < s.minimum_confidence for s in specs
        ]

    def share_person_key(self, other: DetectionEngine) -> None:
        """Hash people with ``other``'s key from now on (a reloaded rule set must keep counting
        the same people as the ledger the running engine feeds)."""
        self._hasher, self.key_id = other._hasher, other.key_id

    @staticmethod
    def _allowlist(spec: IdentifierSpec) -> npt.NDArray[np.bytes_]:
        normalise = REFERENCES[spec.validator]
        values = [(normalise(v) or v.upper()).encode() for v in spec.exclusions.values]
        return np.array(values or [b""], dtype=np.bytes_)[: len(values)]

    def detect(self, data: bytes) -> Detection:
        """Accepted occurrences of every identifier that had candidates."""
        scan = self.matcher.scan(data)
        counts = {k: int(v.size) for k, v in scan.keyword_starts.items()}
        if not scan.candidates:
            return Detection({}, TEXT, scan.matches, counts)
        layout = detect_layout(scan.buf)
        by_index = self.evaluate(scan, layout)
        accepted = {a.spec.id: a for a in by_index.values()}
        return Detection(accepted, layout, scan.matches, counts)

    def evaluate(self, scan: ScanResult, layout: Layout) -> dict[int, Accepted]:
        """Steps 2-4 of the module docstring over one ``Matcher.scan`` of ``self.matcher``:
        validation, context and exclusions per identifier, then overlaps between identifiers and
        candidates another identifier accepted. Keyed by identifier index (into ``specs``),
        ascending; every identifier with candidates has an entry, empty or not.

        The public step for callers that scan their own buffers (``detectors.streaming`` reads
        an object past the block limit as a rolling buffer, with ``layout`` ``TEXT``)."""
        by_index = {
            index: self._evaluate(index, cands, scan, layout)
            for index, cands in sorted(scan.candidates.items())
        }
        reach = self._resolve_overlaps(by_index)
        _drop_claimed_rejections(by_index, reach)
        return by_index

    def count_people(
        self, evidence: list[Evidence], layout: Layout, marks: ClassMarks = NO_MARKS
    ) -> People:
        """``detectors.individuals.count_people`` with this engine's secret: the person keys agree
        with those of ``inspect`` for the same values."""
        return count_people(evidence, layout, self._hasher, marks)

    def score_terms(self, counts: dict[int, int], size: int) -> tuple[Indication, ...]:
        """Important-data indications for keyword hit ``counts`` over ``size`` bytes read as text
        (``detectors.streaming`` scores the bytes past the object limit this way)."""
        return self._terms.score(counts, b"", size)

    def person_keys(self, namespace: str, values: list[bytes]) -> list[str]:
        """Keyed hashes of people named outside the pattern scan (a VCF file's sample columns),
        made exactly as ``count_people`` makes them."""
        return self._hasher.many(namespace.encode() + b":", values)

    def inspect(self, data: bytes) -> ObjectFindings:
        detection = self.detect(data)
        personal: list[Finding] = []
        general: list[Finding] = []
        evidence: list[Evidence] = []
        sensitive: list[IntArray] = [np.zeros(0, dtype=np.int64)]
        account: list[IntArray] = [np.zeros(0, dtype=np.int64)]
        for acc in detection.accepted.values():
            distinct = distinct_strings(acc.values) if acc.values.size else None
            finding = self._finding(acc, distinct)
            (general if acc.spec.data_class is DataClass.GENERAL else personal).append(finding)
            if not acc.starts.size:
                continue
            spec = acc.spec
            if is_sensitive(spec):
                sensitive.append(acc.starts)
            if is_account_or_medical(spec):
                account.append(acc.starts)
            if spec.individual_rank is not None:
                evidence.append(
                    Evidence(
                        spec.individual_rank,
                        spec.namespace,
                        acc.starts,
                        acc.values,
                        is_sensitive(spec),
                        is_account_or_medical(spec),
                        distinct,
                    )
                )
        marks = ClassMarks(np.concatenate(sensitive), np.concatenate(account))
        people = self.count_people(evidence, detection.layout, marks)
        return ObjectFindings.of(
            personal,
            general,
            people,
            self.key_id,
            detection.layout.kind,
            self._terms.score(detection.keyword_counts, data),
        )

    # --- per identifier ---------------------------------------------------------------------

    def _evaluate(
        self, index: int, cands: Candidates, scan: ScanResult, layout: Layout
    ) -> Accepted:
        spec = self.specs[index]
        buf = scan.buf
        checked = VALIDATORS[spec.validator](buf, cands.starts, cands.ends)
        keep = _longest_valid(cands.starts, cands.ends, checked.valid)
        if keep.size == cands.starts.size:  # all of them, in order (a dense column): no copies
            starts, ends, values, base = cands.starts, cands.ends, checked.values, cands.confidence
        else:
            starts, ends = cands.starts[keep], cands.ends[keep]
            values, base = checked.values[keep], cands.confidence[keep]
        rejected = _rejected(cands.starts, checked.valid, starts, ends)
        if starts.size == 0:
            return _empty(spec, rejected, len(cands.starts))
        ctx, exc = spec.context, spec.exclusions
        sets = self._keyword_sets[index]
        lengths = self._keyword_lengths

        kw = scan.keyword_starts
        governing, after_reverse, after_positive = keyword_context(
            kw, lengths, sets, buf, starts, ends, ctx.window_before, ctx.window_after, layout.rows
        )
        allow = self._allow[index]
        excluded = governing == 0
        if allow.size:
            excluded |= np.isin(values, allow)
        if self._needs_context[index]:  # 车架号 after 姓名 in a header line is a column name
            excluded |= layout.in_header(starts)
        excluded |= after_reverse
        columns = _Columns(layout, starts)
        excluded |= columns.among(header_columns(layout, sets.reverse_words))
        for structure in exc.structures:
            excluded |= STRUCTURES[structure](buf, starts, ends)
        positive = (governing == 2) | columns.among(header_columns(layout, sets.positive_words))
        positive |= (governing == -1) & after_positive
        negative = (governing == 1) | columns.among(header_columns(layout, sets.negative_words))
        confidence = np.clip(base + ctx.raise_by * positive - ctx.lower_by * negative, 0.0, 1.0)
        ok = ~excluded & (confidence >= spec.minimum_confidence - 1e-9)
        if bool(ok.all()):
            return Accepted(spec, starts, ends, values, confidence, rejected, 0, len(cands.starts))
        return Accepted(
            spec,
            starts[ok],
            ends[ok],
            values[ok],
            confidence[ok],
            rejected,
            int(np.count_nonzero(~ok)),
            len(cands.starts),
        )

    def _resolve_overlaps(self, by_index: dict[int, Accepted]) -> _Reach | None:
        """Between identifiers: the same bytes go to the most confident claim (then the lower
        rank); a value strictly inside another identifier's value is part of it (a card number
        inside an IBAN, a permit number inside a phone number) and is dropped, unless the outer
        signature says ``keeps_inner`` (a mailbox named after a mobile number discloses both).

        When no two accepted spans share a byte (the usual case) nothing changes, and the spans
        sorted for that test are returned for ``_drop_claimed_rejections``; otherwise None."""
        items = [(i, a) for i, a in by_index.items() if a.starts.size]
        if len(items) < 2:
            return None
        starts = np.concatenate([a.starts for _, a in items])
        ends = np.concatenate([a.ends for _, a in items])
        sizes = [a.starts.size for _, a in items]
        merged, reach, disjoint = _merge_spans(starts, ends, sizes)
        if disjoint:
            return merged, reach
        owner = np.concatenate([np.full(a.starts.size, i) for i, a in items])
        pos = np.concatenate([np.arange(a.starts.size) for _, a in items])
        conf = np.concatenate([a.confidence for _, a in items])
        order = np.lexsort((owner, self._ranks[owner], -conf, -ends, starts))
        s, e, o = starts[order], ends[order], owner[order]
        lose = np.zeros(len(order), dtype=bool)
        lose[1:] = (s[1:] == s[:-1]) & (e[1:] == e[:-1])
        e_live = np.where(lose, -1, e)
        running = np.maximum.accumulate(e_live)
        holder = np.maximum.accumulate(np.where(e_live == running, np.arange(len(e)), 0))
        prev_max = np.concatenate([[-1], running[:-1]])
        prev_holder = np.concatenate([[0], holder[:-1]])
        inside = (
            ~lose & (prev_max >= e) & (o[prev_holder] != o) & ~self._keeps_inner[o[prev_holder]]
        )
        losers = order[lose | inside]
        if losers.size == 0:
            return None
        for index, acc in items:
            drop = pos[losers[owner[losers] == index]]
            if drop.size == 0:
                continue
            keep = np.ones(acc.starts.size, dtype=bool)
            keep[drop] = False
            by_index[index] = Accepted(
                acc.spec,
                acc.starts[keep],
                acc.ends[keep],
                acc.values[keep],
                acc.confidence[keep],
                acc.rejected,
                acc.suppressed + int(drop.size),
                acc.candidates,
            )
        return None

    def _finding(
        self, acc: Accepted, distinct_values: tuple[npt.NDArray[np.bytes_], IntArray] | None
    ) -> Finding:
        """``distinct_values`` is ``distinct_strings(acc.values)`` (None if empty): numbered in
        order of first appearance, so the masked samples are the first ``max_samples`` numbers."""
        spec = acc.spec
        samples: list[str] = []
        distinct = 0
        if distinct_values is not None:
            uniq = distinct_values[0]
            distinct = len(uniq)
            for code in range(min(distinct, self.max_samples)):
                text = bytes(uniq[code]).decode("utf-8", "replace")
                samples.append(
                    mask_value(text, spec.mask.style, spec.mask.keep_start, spec.mask.keep_end)
                )
        return Finding.of(
            spec,
            count=int(acc.starts.size),
            distinct=distinct,
            rejected=int(acc.rejected.size),
            masked_samples=tuple(samples),
            offsets=tuple(acc.starts[:MAX_OFFSETS].tolist()),
            suppressed=acc.suppressed,
            confidence=round(float(acc.confidence.mean()), 2) if acc.starts.size else 0.0,
        )


class _Columns:
    """Which values sit below the header in given columns (``context.in_columns``), with the
    column of each value found once per identifier instead of once per keyword set."""

    def __init__(self, layout: Layout, starts: IntArray) -> None:
        self.layout, self.starts = layout, starts
        self._places: tuple[IntArray, BoolArray] | None = None

    def among(self, columns: IntArray) -> BoolArray:
        if columns.size == 0 or self.starts.size == 0:
            return np.zeros(self.starts.shape, dtype=bool)
        if self._places is None:
            rows = self.layout.row_of(self.starts)
            self._places = self.layout.column_of(self.starts, rows), rows > 0
        column, below_header = self._places
        wanted = np.zeros(int(columns.max()) + 2, dtype=bool)  # the last entry stays False: -1
        wanted[columns] = True
        result: BoolArray = below_header & wanted[np.clip(column, -1, wanted.size - 1)]
        return result


def _empty(spec: IdentifierSpec, rejected: IntArray, candidates: int) -> Accepted:
    none = np.zeros(0, dtype=np.int64)
    return Accepted(spec, none, none, np.zeros(0, "S1"), np.zeros(0), rejected, 0, candidates)


def _longest_valid(starts: IntArray, ends: IntArray, valid: BoolArray) -> IntArray:
    """Indices of valid spans that are the longest valid span at their start and not inside
    another valid span. Candidates arrive sorted by (start, end). With ``detectors._kernels``
    built, one C pass (``longest_valid``) instead of six numpy ones; ``_longest_valid_python``
    is the reference."""
    native = native_kernels()
    if native is None or starts.size == 0:
        return _longest_valid_python(starts, ends, valid)
    keep = np.empty(starts.size, dtype=np.int64)
    count = native.longest_valid(
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        np.ascontiguousarray(valid, dtype=bool),
        keep,
    )
    result: IntArray = keep[:count]
    return result


def _longest_valid_python(starts: IntArray, ends: IntArray, valid: BoolArray) -> IntArray:
    """``_longest_valid`` in numpy."""
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return idx
    s, e = starts[idx], ends[idx]
    last = np.ones(idx.size, dtype=bool)
    last[:-1] = s[1:] != s[:-1]
    idx, e = idx[last], e[last]
    previous_max = np.maximum.accumulate(np.concatenate([[-1], e[:-1]]))
    result: IntArray = idx[e > previous_max]
    return result


def _rejected(
    starts: IntArray, valid: BoolArray, kept_starts: IntArray, kept_ends: IntArray
) -> IntArray:
    """Distinct starts with no valid reading and not inside an accepted span."""
    bad = unique_ints(starts[~valid])
    if bad.size and kept_starts.size:
        good = starts[valid]  # sorted, like every candidate start: a lookup, not np.isin
        at = np.minimum(search_sorted(good, bad), max(good.size - 1, 0))
        if good.size:
            bad = bad[good[at] != bad]
        i = search_sorted(kept_starts, bad, "right") - 1
        inside = (i >= 0) & (kept_ends[np.maximum(i, 0)] > bad)
        bad = bad[~inside]
    result: IntArray = bad.astype(np.int64)
    return result


def _merge_spans(
    starts: IntArray, ends: IntArray, sizes: list[int]
) -> tuple[IntArray, IntArray, bool]:
    """Spans given as runs of ``sizes`` spans, each ascending by start, ordered by start (a stable
    sort: equal starts in run order): the starts, the furthest end reached up to each, and
    whether no span starts before an earlier one ends. With ``detectors._kernels`` built, one
    merge of the runs in C (``merge_spans``); ``_merge_spans_python`` is the reference."""
    native = native_kernels()
    if native is None:
        return _merge_spans_python(starts, ends)
    merged = np.empty(starts.size, dtype=np.int64)
    reach = np.empty(starts.size, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    disjoint = native.merge_spans(
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        bounds,
        merged,
        reach,
    )
    return merged, reach, bool(disjoint)


def _merge_spans_python(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray, bool]:
    """``_merge_spans`` in numpy: each run's starts are ascending, so a stable sort merges those
    runs (timsort), five times faster here than numpy's default quicksort."""
    by_start = np.argsort(starts, kind="stable")
    reach: IntArray = np.maximum.accumulate(ends[by_start])
    merged: IntArray = starts[by_start]
    return merged, reach, bool(np.all(merged[1:] >= reach[:-1]))


def _drop_claimed_rejections(by_index: dict[int, Accepted], spans: _Reach | None = None) -> None:
    """A candidate another identifier accepted is not a rejection: a resident ID is no failed
    credit code, even though it has the shape of one. ``spans``: the accepted spans as
    ``_resolve_overlaps`` sorted them, when it changed nothing."""
    if not any(a.rejected.size for a in by_index.values()):
        return
    if spans is None:
        accepted = [(a.starts, a.ends) for a in by_index.values() if a.starts.size]
        if not accepted:
            return
        all_starts = np.concatenate([s for s, _ in accepted])
        all_ends = np.concatenate([e for _, e in accepted])
        merged, reach, _ = _merge_spans(all_starts, all_ends, [s.size for s, _ in accepted])
        spans = merged, reach
    starts, reach = spans
    for index, acc in by_index.items():
        if acc.rejected.size == 0:
            continue
        i = search_sorted(starts, acc.rejected, "right") - 1
        claimed = (i >= 0) & (reach[np.maximum(i, 0)] > acc.rejected)
        if claimed.any():
            by_index[index] = Accepted(
                acc.spec,
                acc.starts,
                acc.ends,
                acc.values,
                acc.confidence,
                acc.rejected[~claimed],
                acc.suppressed,
                acc.candidates,
            )
