"""Resident ID detection: vectorised validator against the reference, matcher boundaries, engine."""

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine, Finding, ObjectFindings
from detectors.masking import mask
from detectors.validators import gb11643, gb11643_reference

VALID = "11010519491231002X"  # the example printed in GB 11643 commentaries
DECOY_CHECK = "110105194912310021"  # same body, wrong check character
DECOY_DATE = "110105194913310028"  # month 13


def _check_char(body: str) -> str:
    total = sum(
        int(c) * w
        for c, w in zip(body, [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], strict=True)
    )
    return "10X98765432"[total % 11]


def _finding(result: ObjectFindings, identifier: str) -> Finding:
    (finding,) = [f for f in result.findings + result.general if f.identifier == identifier]
    return finding


def test_reference_on_known_values() -> None:
    assert gb11643_reference(VALID)
    assert gb11643_reference(VALID.lower())
    assert not gb11643_reference(DECOY_CHECK)
    assert not gb11643_reference(DECOY_DATE)
    body = "44030519900229123"  # 1990 is not a leap year
    assert not gb11643_reference(body + _check_char(body))
    body = "44030520000229123"  # 2000 is
    assert gb11643_reference(body + _check_char(body))
    body = "99030520000101123"  # no province 99
    assert not gb11643_reference(body + _check_char(body))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="0123456789Xx", min_size=18, max_size=18), min_size=1, max_size=30)
)
def test_vectorised_validator_equals_reference(values: list[str]) -> None:
    data = " ".join(values).encode()
    starts = np.arange(len(values), dtype=np.int64) * 19
    got = gb11643(np.frombuffer(data, dtype=np.uint8), starts)
    assert got.tolist() == [gb11643_reference(v) for v in values]


def test_vectorised_validator_on_plausible_ids() -> None:
    rng = random.Random(1)
    values = []
    for _ in range(2000):
        body = f"{rng.choice([11, 31, 44, 99])}0101{rng.randint(1890, 2030)}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}{rng.randint(0, 999):03d}"
        values.append(
            body + (_check_char(body) if rng.random() < 0.7 else rng.choice("0123456789X"))
        )
    data = ",".join(values).encode()
    starts = np.arange(len(values), dtype=np.int64) * 19
    got = gb11643(np.frombuffer(data, dtype=np.uint8), starts)
    expected = [gb11643_reference(v) for v in values]
    assert got.tolist() == expected
    assert 100 < sum(expected) < 1900  # the sample really mixes valid and invalid


def test_engine_counts_masks_and_rejects() -> None:
    engine = DetectionEngine(load_catalogue())
    text = (
        f"{VALID},{VALID.lower()}\n{DECOY_CHECK}\n{DECOY_DATE}\norder 2{VALID}9\n{VALID}".encode()
    )
    result = engine.inspect(text)
    assert [f.identifier for f in result.findings if f.count] == ["cn_resident_id"]
    finding = _finding(result, "cn_resident_id")
    assert finding.count == 3  # the one inside a longer digit run is not an ID
    assert finding.distinct == 1
    # the two decoys, and the 18 digits before the X inside "2<VALID>9" (the X ends the digit
    # run, so they form a candidate, which the check digit then refuses)
    assert finding.rejected == 3
    assert finding.masked_samples == ("110105********002X",)
    assert finding.offsets == (0, 19, len(text) - 18)
    assert result.distinct_individuals == 1
    assert VALID not in repr(result)


def test_identifier_at_buffer_edges_and_between_letters() -> None:
    engine = DetectionEngine(load_catalogue())
    assert _finding(engine.inspect(VALID.encode()), "cn_resident_id").count == 1
    assert _finding(engine.inspect(f"id:{VALID}abc".encode()), "cn_resident_id").offsets == (3,)
    assert not engine.inspect(b"no personal data here 12345")


def test_mask_never_reveals_short_values() -> None:
    assert mask(VALID, 6, 4) == "110105********002X"
    assert mask("1234567", 3, 3) == "*******"
