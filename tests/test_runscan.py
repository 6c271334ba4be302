"""Patterns scanned over runs (detectors/runscan.py): which patterns qualify, the C whole-run scan
against a plain-Python oracle, and the matcher finding exactly the same rows with and without the
routing (whole and separated runs)."""

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
    first = runscan.first_bytes("(?:\\+|00)86[ -]?1")
    assert first is not None and set(np.flatnonzero(first)) == {ord("+"), ord("0")}
    assert runscan.first_bytes("[2-6][0-9]{12,16}") is not None
    assert runscan.first_bytes("(?:62)?[0-9]{11}") is None  # optional head: not known here
    for unknown in (".", "^1", "(?i)a", "a(?=b)", "(a)\\1", "[[:digit:]]", "("):
        assert runscan.byte_set(unknown) is None, unknown


def _plan(regex: str, length: int | tuple[int, int]) -> runscan.RunPlan | None:
    return runscan.plan(_pattern(regex, length), DIGITS, DIGITS)


def test_which_patterns_can_be_scanned_over_runs() -> None:
    whole = _plan("1[3-9][0-9]{9}", 11)
    assert whole is not None and whole.anchored and np.array_equal(whole.run_class, DIGITS)
    assert _plan("[2-6][0-9]{12,16}", (13, 17)) is not None
    # a separator every match holds: runs of digits and separators that hold one
    separated = _plan("1[3-9][0-9][ -][0-9]{4}[ -][0-9]{4}", 13)
    assert separated is not None and not separated.anchored
    assert separated.required is not None
    assert set(np.flatnonzero(separated.required)) == {32, 45}
    assert set(np.flatnonzero(separated.run_class)) == set(range(48, 58)) | {32, 45}
    # an optional separator: a match may hold none, so no run could be skipped
    assert _plan("1[3-9][0-9][ -]?[0-9]{8}", (11, 12)) is None
    assert runscan.required("(?:\\+|00)86[ -]?1", np.ones(256, dtype=bool)) == 4  # + 8 6 1
    assert runscan.required("(?:\\+|00)86[ -]?1", separated.required) == 0
    # the check letter X is outside [0-9] and not a separator every match holds
    assert _plan("[0-9]{17}[0-9Xx]", 18) is None
    # a declared length that is not the pattern's width would move the start
    assert _plan("1[3-9][0-9]{9}", (10, 11)) is None
    assert runscan.plan(_pattern("[0-9]{9}", 9), DIGITS, class_table("[0-9A-Z]")) is None


def test_the_built_in_scan_runs_patterns_qualify() -> None:
    flagged = [(s.id, p.regex) for s in SPECS for p in s.patterns if p.scan_runs]
    assert len(flagged) == 11
    routed = Matcher(SPECS)._runs
    assert sum(len(g.expressions) + len(g.linear) for g in routed) == len(flagged)
    # mobile, card and 15-digit ID numbers are checked in C; landlines (alternatives) by hyperscan
    (whole,) = [g for g in routed if g.plan.anchored]
    assert len(whole.linear) == 5 and len(whole.expressions) == 1
    assert sorted(g.plan.anchored for g in routed) == [False, True]


def test_a_pattern_wrongly_marked_is_refused() -> None:
    data = SPECS[0].model_dump(by_alias=True)
    data["patterns"] = [{"regex": "1[3-9][0-9] ?[0-9]{8}", "length": [11, 12], "scan_runs": True}]
    data["boundary"] = "[0-9]"
    with pytest.raises(SignatureError, match="scan_runs needs a pattern made of"):
        Matcher((IdentifierSpec.model_validate(data),))


def _oracle(padded: bytes, regexes: list[str], table: np.ndarray, lo: int, hi: int):
    """Every (local id, byte before the run, byte after it) by re.fullmatch on each run."""
    starts, ends = runscan.runs(padded, table, lo, hi)
    patterns = [re.compile(r.encode("latin-1")) for r in regexes]
    rows = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        rows.extend((i, s - 1, e + 1) for i, p in enumerate(patterns) if p.fullmatch(padded[s:e]))
    return sorted(rows)


def test_the_c_run_scan_matches_a_python_oracle() -> None:
    matcher = Matcher(SPECS)
    (group,) = [g for g in matcher._runs if g.plan.anchored]  # needs detectors._hsscan built
    rng = random.Random(11)
    samples = [dense_csv(300), b"", b"1", b"13812345678", b"x13812345678x"]
    for _ in range(400):
        alphabet = rng.choice([b"0123456789", b"0123456789 ,-x\n", b"1236\n"])
        samples.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 400))))
    for data in samples:
        padded = b"\n" + data + b"\n"
        got = sorted(
            (ident - group.base, start, end)
            for ident, froms, tos in group.columns(padded)
            for start, end in zip(froms.tolist(), tos.tolist(), strict=True)
        )
        table = group.plan.run_class
        regexes = [p.byte_regex for p in group.patterns]
        want = _oracle(padded, regexes, table, group.shortest, group.longest)
        assert got == want


@pytest.mark.parametrize(
    "members",
    [b"0123456789", b"0123456789 -", b"02468acegikmoqsuwy"],  # 1, 3 and 14 byte ranges
    ids=["one range", "three ranges", "table"],
)
def test_the_c_run_finder_agrees_with_the_numpy_reference(members: bytes) -> None:
    """Runs are found 64 bytes at a time (SSE2 range tests, or the table past eight ranges): every
    run, at every position against the 64-byte blocks, as ``runscan.runs`` finds it."""
    from detectors import _hsscan  # needs the C extension built

    whole_line = _hsscan.compile([b"^[^\\n]+$"], [runscan.MULTILINE])
    table = np.zeros(256, dtype=bool)
    table[list(members)] = True
    rng = random.Random(3)
    alphabet = members + b"x,\n\xe4"
    for size in [0, 1, 63, 64, 65, 127, 128, 129, 500, 4096]:
        for _ in range(20):
            data = bytes(rng.choice(alphabet) for _ in range(size))
            padded = b"\n" + data + b"\n"
            for shortest, longest in ((1, 10_000), (3, 7)):
                found = _hsscan.scan_runs(
                    whole_line, padded, table.tobytes(), b"", shortest, longest, True, b"", []
                )
                starts, ends = runscan.runs(padded, table, shortest, longest)
                if not starts.size:
                    assert found == []
                    continue
                ((ident, froms, tos),) = found
                assert ident == 0
                assert np.frombuffer(froms, np.int64).tolist() == (starts - 1).tolist()
                assert np.frombuffer(tos, np.int64).tolist() == (ends + 1).tolist()


def test_linear_shapes() -> None:
    def shape(regex: str) -> tuple[int, bool, int, int, int] | None:
        s = runscan.linear_shape(regex)
        if s is None:
            return None
        return len(s.prefix), s.repeated is not None, len(s.suffix), s.shortest, s.longest

    assert shape("1[3-9][0-9]{9}") == (11, False, 0, 11, 11)
    assert shape("62[0-9]{14,17}") == (2, True, 0, 16, 19)
    assert shape("(?:ab){2}[0-9]{1,3}c") == (4, True, 1, 6, 8)
    assert shape("0(?:10|2[0-9])[0-9]{6}") is None  # alternatives
    assert shape("[0-9]{1,3}x{2,3}") is None  # two variable repeats
    assert shape("a*") is None  # unbounded


def test_linear_patterns_match_as_re_fullmatch_does() -> None:
    """The C check of linear whole-run patterns (no hyperscan database at all) against re."""
    from detectors import _hsscan

    regexes = ["1[3-9][0-9]{9}", "(?:12){2}[0-9]{1,3}3", "[2-6][0-9]{3,5}", "9"]
    linear = []
    for ident, regex in enumerate(regexes):
        s = runscan.linear_shape(regex)
        assert s is not None
        linear.append((ident, s.shortest, s.longest, len(s.prefix), len(s.suffix), s.tables()))
    rng = random.Random(8)
    for _ in range(300):
        data = bytes(rng.choice(b"0123456789x,\n") for _ in range(rng.randint(0, 300)))
        data += b",13812345678,121203,121299993,9,"
        padded = b"\n" + data + b"\n"
        found = _hsscan.scan_runs(None, padded, DIGITS.tobytes(), b"", 1, 30, True, b"", linear)
        got = sorted(
            (ident, start, end)
            for ident, froms, tos in found
            for start, end in zip(
                np.frombuffer(memoryview(froms), np.int64).tolist(),
                np.frombuffer(memoryview(tos), np.int64).tolist(),
                strict=True,
            )
        )
        assert got == _oracle(padded, regexes, DIGITS, 1, 30)
        assert len({ident for ident, _s, _e in got}) >= 3


def _rows(matcher: Matcher, data: bytes) -> list[tuple[object, ...]]:
    """Match rows by what the expression is (not its position), ``from`` only where it counts."""
    exprs = matcher._exprs
    rows = []
    for ident, start, end in matcher.matches(data).tolist():
        e = exprs[ident]
        key = (e.identifier, e.mode, e.min_length, e.max_length, e.confidence, e.keyword)
        rows.append((key, start if e.mode == "som" else 0, end))
    return sorted(rows)


@pytest.mark.parametrize("switch", ["EGRESS_RUN_SCAN", "EGRESS_SPLIT_SCAN"])
def test_routing_finds_exactly_what_one_database_finds(
    monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    """Run groups and the unanchored database (each switched off in turn) change where a pattern
    is scanned, never a row."""
    keywords = DetectionEngine(SPECS).matcher.keywords
    routed = Matcher(SPECS, keywords)
    monkeypatch.setenv(switch, "0")
    plain = Matcher(SPECS, keywords)
    if switch == "EGRESS_RUN_SCAN":
        assert routed._runs and not plain._runs
    else:
        assert routed._unanchored is not None and plain._unanchored is None
    rng = random.Random(5)
    samples = [dense_csv(2000), sparse_text(200_000)]
    samples += [doc.data for doc in CorpusGenerator().documents(30)]
    for _ in range(600):
        alphabet = rng.choice(
            [b"0123456789 -+()x\n,62", b"0123456789 -", b"138 -0\n", b"0123456789ABEHMXZ ().-\n"]
        )
        samples.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 300))))
    for data in samples:
        assert _rows(routed, data) == _rows(plain, data)


def test_which_patterns_go_to_the_unanchored_database() -> None:
    assert runscan.starts_without_literal("[0-9]{17}[0-9Xx]")
    assert runscan.starts_without_literal("[-+]?[0-9]{1,3}\\.[0-9]{5}")  # 12.34567: two digits
    assert runscan.starts_without_literal("(?:[\\xe4-\\xe9][\\x80-\\xbf]){1,3}区")
    assert not runscan.starts_without_literal("E[0-9]{8}")  # hyperscan anchors on the E
    assert not runscan.starts_without_literal("[0-9]E[0-9]{7}")
    assert not runscan.starts_without_literal("(?:\\+|00)86[0-9]{11}")
    assert not runscan.starts_without_literal("[A-Za-z0-9._%+-]@[a-z]+")  # the @
    assert not runscan.starts_without_literal("(?:王|李)[一-鿿]{1,2}")  # parsed as UTF-8 bytes
    assert not runscan.starts_without_literal("[0-9")  # does not parse: stays in the main one
