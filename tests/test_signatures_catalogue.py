"""Signature pack format: version 2, version 1 migration, operator overrides, disabling, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.catalogue import builtin_directory, load_all, load_catalogue, load_identifier
from detectors.engine import DetectionEngine
from detectors.matcher import Matcher
from sensor.errors import SignatureError

V1 = """format_version: 1
id: acme_staff_no
version: 3
name: {zh: 员工号, en: ACME staff number}
class: personal_information
taxonomy: PI.acme.staff
basis: internal policy
pattern: 'AC[0-9]{6}'
boundary: '[A-Za-z0-9]'
length: 8
validator: none
mask: {keep_start: 2, keep_end: 0}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_pack_loads_and_keeps_the_resident_id_contract() -> None:
    specs = {s.id: s for s in load_catalogue()}
    assert len(specs) >= 17
    rid = specs["cn_resident_id"]
    assert (rid.rule, rid.data_class.value, rid.mask.keep_start, rid.mask.keep_end) == (
        "cn_resident_id@1",
        "sensitive_personal_information",
        6,
        4,
    )
    assert all(s.format_version == 2 for s in specs.values())


def test_version_1_files_are_migrated(tmp_path: Path) -> None:
    spec = load_identifier(_write(tmp_path, "acme.yaml", V1))
    assert spec.format_version == 2
    assert [(p.regex, p.length) for p in spec.patterns] == [("AC[0-9]{6}", 8)]
    assert (spec.boundary.left, spec.boundary.right) == ("[A-Za-z0-9]", "[A-Za-z0-9]")
    specs = load_catalogue((tmp_path,))
    engine = DetectionEngine(specs)
    (finding,) = [f for f in engine.inspect(b"staff AC123456 ok").findings if f.count]
    assert (finding.identifier, finding.rule, finding.masked_samples) == (
        "acme_staff_no",
        "acme_staff_no@3",
        ("AC******",),
    )


def test_operator_override_enables_and_extends(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "mobile-extra.yaml",
        """format_version: 2
override: cn_mobile
minimum_confidence: 0.7
add:
  keywords: [contact no]
  allowlist: ['13800138000']
""",
    )
    specs = {s.id: s for s in load_catalogue((tmp_path,))}
    mobile = specs["cn_mobile"]
    assert mobile.minimum_confidence == 0.7
    assert "contact no" in mobile.context.keywords and "13800138000" in mobile.exclusions.values
    engine = DetectionEngine(tuple(specs.values()))
    counted = engine.detect(b"13912345678; contact no 13912345679; 13800138000").accepted[
        "cn_mobile"
    ]
    assert counted.starts.tolist() == [
        24
    ]  # 0.6 alone is now too little; the allowlisted one is out


def test_override_of_unknown_identifier_fails(tmp_path: Path) -> None:
    _write(tmp_path, "x.yaml", "format_version: 2\noverride: nope\n")
    with pytest.raises(SignatureError, match="overrides unknown identifier 'nope'"):
        load_catalogue((tmp_path,))


def test_disabled_by_id_and_glob() -> None:
    ids = {s.id for s in load_catalogue(disabled=frozenset({"vin", "cn_*_travel_permit"}))}
    assert (
        "vin" not in ids and "cn_hkmo_travel_permit" not in ids and "cn_tw_travel_permit" not in ids
    )
    assert "cn_resident_id" in ids
    with pytest.raises(SignatureError, match="unknown identifiers"):
        load_catalogue(disabled=frozenset({"no_such_identifier"}))


def test_identifiers_can_ship_disabled(tmp_path: Path) -> None:
    _write(
        tmp_path, "acme.yaml", V1.replace("format_version: 1", "format_version: 1\nenabled: false")
    )
    assert "acme_staff_no" not in {s.id for s in load_catalogue((tmp_path,))}
    assert "acme_staff_no" in load_all((tmp_path,))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (V1.replace("validator: none", "validator: nope"), "field 'validator'"),
        (V1.replace("length: 8", "length: 0"), "field 'patterns.0'"),
        (V1.replace("boundary: '[A-Za-z0-9]'", "boundary: 'x'"), "field 'boundary"),
        (V1.replace("class: personal_information", "class: secret"), "field 'class'"),
        (V1.replace("format_version: 1", "format_version: 7"), "format_version"),
        ("- just a list\n", "must be a YAML mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SignatureError, match=re.escape(message)):
        load_identifier(_write(tmp_path, "bad.yaml", text))


def test_extend_left_must_cover_the_left_boundary(tmp_path: Path) -> None:
    text = """format_version: 2
id: bad_walk
version: 1
name: {zh: x, en: x}
class: personal_information
taxonomy: x
basis: x
patterns: [{regex: '@[a-z]+', length: [2, 40], extend_left: '[a-z]'}]
boundary: '[A-Za-z]'
validator: none
"""
    spec = load_identifier(_write(tmp_path, "walk.yaml", text))
    with pytest.raises(SignatureError, match="left boundary class must be part of extend_left"):
        Matcher((spec,))


@pytest.mark.parametrize("path", sorted(builtin_directory().glob("*.yaml")), ids=lambda p: p.stem)
def test_declared_lengths_match_the_patterns(path: Path) -> None:
    """Every string a built-in pattern matches has a length inside the declared range (a fixed
    length is what the matcher subtracts from the end to find the start)."""
    spec = load_identifier(path)
    strategies = [
        st.tuples(st.just(i), st.from_regex(p.regex, fullmatch=True))
        for i, p in enumerate(spec.patterns)
    ]

    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(st.one_of(strategies))
    def check(drawn: tuple[int, str]) -> None:
        pattern = spec.patterns[drawn[0]]
        size = len(drawn[1].encode())
        if pattern.extend_left:  # the anchor is shorter than the whole value
            assert size <= pattern.max_length
        else:
            assert pattern.min_length <= size <= pattern.max_length, (spec.id, drawn[1])

    check()
