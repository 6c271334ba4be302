"""Whole-run patterns (detectors/runscan.py): which patterns qualify, the C run scan against a
plain-Python oracle, and the matcher finding exactly the same rows with and without the routing."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from detectors import runscan
from detectors.baseline import dense_csv, sparse_text
from detectors.catalogue import IdentifierSpec, PatternSpec, load_catalogue
from detectors.corpus import CorpusGenerator
from detectors.engine import DetectionEngine
from detectors.matcher import Matcher, class_table
from sensor.errors import SignatureError

SPECS = load_catalogue((), frozenset())
DIGITS = class_table("[0-9]")


def _pattern(regex: str, length: int | tuple[int, int], **extra: object) -> PatternSpec:
    return PatternSpec.model_validate({"regex": regex, "length": length, **extra})


def test_byte_set_and_width_of_the_catalogue_syntax() -> None:
    chars = runscan.byte_set("0(?:10|2[0-9]|[3-9][0-9]{2})[2-8][0-9]{6,7}")
    assert chars is not None and np.array_equal(chars, DIGITS)
    assert runscan.width("0(?:10|2[0-9]|[3-9][0-9]{2})[2-8][0-9]{6,7}") == (10, 12)
    spaced = runscan.byte_set(r"1[3-9]\d[ -]\d{4}")
    assert spaced is not None and set(np.flatnonzero(spaced)) == set(range(48, 58)) | {32, 45}
    negated = runscan.byte_set("[^a]")
    assert negated is not None and negated.sum() == 255 and not negated[ord("a")]
    for unknown in (".", "^1", "(?i)a", "a(?=b)", "(a)\\1", "[[:digit:]]", "("):
        assert runscan.byte_set(unknown) is None, unknown


def test_which_patterns_are_whole_runs() -> None:
    assert runscan.whole_run(_pattern("1[3-9][0-9]{9}", 11), DIGITS, DIGITS)
    assert runscan.whole_run(_pattern("[2-6][0-9]{12,16}", (13, 17)), DIGITS, DIGITS)
    # a separator outside the class: the match need not be a whole run
    assert not runscan.whole_run(_pattern("1[3-9][0-9][ -][0-9]{8}", 12), DIGITS, DIGITS)
    # the check letter X is outside [0-9]
    assert not runscan.whole_run(_pattern("[0-9]{17}[0-9Xx]", 18), DIGITS, DIGITS)
    # a declared length that is not the pattern's width would move the start
    assert not runscan.whole_run(_pattern("1[3-9][0-9]{9}", (10, 11)), DIGITS, DIGITS)
    assert not runscan.whole_run(_pattern("[0-9]{9}", 9), DIGITS, class_table("[0-9A-Z]"))


def test_the_built_in_whole_run_patterns_qualify() -> None:
    flagged = [(s.id, p.regex) for s in SPECS for p in s.patterns if p.whole_run]
    assert len(flagged) == 6
    routed = sum(len(g.expressions) for g in Matcher(SPECS)._runs)
    assert routed == len(flagged)


def test_a_pattern_wrongly_marked_whole_run_is_refused() -> None:
    data = SPECS[0].model_dump(by_alias=True)
    data["patterns"] = [{"regex": "1[3-9][0-9] [0-9]{8}", "length": 12, "whole_run": True}]
    data["boundary"] = "[0-9]"
    with pytest.raises(SignatureError, match="whole_run needs a pattern made only of"):
        Matcher((IdentifierSpec.model_validate(data),))


def _oracle(padded: bytes, group_expressions: list[bytes], table: np.ndarray, lo: int, hi: int):
    """Every (local id, byte before the run, byte after it) by re.fullmatch on each run."""
    starts, ends = runscan.runs(padded, table, lo, hi)
    patterns = [re.compile(e[len(b"^(?:") : -len(b")$")]) for e in group_expressions]
    rows = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        rows.extend((i, s - 1, e + 1) for i, p in enumerate(patterns) if p.fullmatch(padded[s:e]))
    return sorted(rows)


def test_the_c_run_scan_matches_a_python_oracle() -> None:
    matcher = Matcher(SPECS)
    assert matcher._runs, "deploy/install.sh builds detectors._hsscan"
    group = matcher._runs[0]
    rng = random.Random(11)
    samples = [dense_csv(300), b"", b"1", b"13812345678", b"x13812345678x"]
    for _ in range(400):
        alphabet = rng.choice([b"0123456789", b"0123456789 ,-x\n", b"1236\n"])
        samples.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 400))))
    for data in samples:
        padded = b"\n" + data + b"\n"
        raw = group.native.scan_runs(padded, group.table.tobytes(), group.shortest, group.longest)
        got = sorted(map(tuple, np.frombuffer(raw, dtype=np.int64).reshape(-1, 3).tolist()))
        want = _oracle(padded, group.expressions, group.table, group.shortest, group.longest)
        assert got == want


def _rows(matcher: Matcher, data: bytes) -> list[tuple[object, ...]]:
    """Match rows by what the expression is (not its position), ``from`` only where it counts."""
    exprs = matcher._exprs
    rows = []
    for ident, start, end in matcher.matches(data).tolist():
        e = exprs[ident]
        key = (e.identifier, e.mode, e.min_length, e.max_length, e.confidence, e.keyword)
        rows.append((key, start if e.mode == "som" else 0, end))
    return sorted(rows)


def test_routing_finds_exactly_what_the_wrapped_patterns_find(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keywords = DetectionEngine(SPECS).matcher.keywords
    routed = Matcher(SPECS, keywords)
    monkeypatch.setenv("EGRESS_RUN_SCAN", "0")
    wrapped = Matcher(SPECS, keywords)
    assert routed._runs and not wrapped._runs
    rng = random.Random(5)
    samples = [dense_csv(2000), sparse_text(200_000)]
    samples += [doc.data for doc in CorpusGenerator().documents(30)]
    for _ in range(300):
        alphabet = b"0123456789 -+()x\n,62"
        samples.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 300))))
    for data in samples:
        assert _rows(routed, data) == _rows(wrapped, data)
