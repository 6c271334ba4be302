"""Every vectorised validator against its plain-Python reference, and against known values.

The contract (detectors/validators.py): on every string the identifier's patterns can match, the
kernel and the reference agree on validity and on the normalised value. Hypothesis draws strings
from the patterns themselves; the corpus generator adds valid values, which random strings with a
check character almost never are.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.catalogue import IdentifierSpec, load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.reference import REFERENCES
from detectors.validators import VALIDATORS

SPECS = {s.id: s for s in load_catalogue()}


def _check(validator: str, values: list[str]) -> None:
    encoded = [v.encode() for v in values]
    data = b"\n".join(encoded)
    starts, offset = [], 0
    for raw in encoded:
        starts.append(offset)
        offset += len(raw) + 1
    start_arr = np.array(starts, dtype=np.int64)
    end_arr = start_arr + np.array([len(raw) for raw in encoded], dtype=np.int64)
    got = VALIDATORS[validator](np.frombuffer(data, dtype=np.uint8), start_arr, end_arr)
    for i, value in enumerate(values):
        expected = REFERENCES[validator](value)
        assert bool(got.valid[i]) == (expected is not None), (validator, value)
        if expected is not None:
            assert got.values[i].decode() == expected, (validator, value)


def _pattern_strategy(spec: IdentifierSpec) -> st.SearchStrategy[str]:
    options = []
    for pattern in spec.patterns:
        regex = pattern.regex
        if pattern.extend_left:  # the walk-back adds the mailbox in front of the anchored match
            regex = "[A-Za-z0-9._%+-]{0,70}" + regex
        options.append(st.from_regex(regex, fullmatch=True))
    return st.one_of(options)


@pytest.mark.parametrize("identifier", sorted(SPECS))
def test_kernel_equals_reference_on_pattern_strings(identifier: str) -> None:
    spec = SPECS[identifier]

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.lists(_pattern_strategy(spec), min_size=1, max_size=12))
    def check(values: list[str]) -> None:
        _check(spec.validator, values)

    check()


MAKERS = {
    "cn_resident_id": ValueMaker.resident_id,
    "cn_resident_id_15": ValueMaker.resident_id_15,
    "cn_mobile": ValueMaker.mobile,
    "cn_landline": ValueMaker.landline,
    "email": ValueMaker.email,
    "unionpay_card": lambda v: v.card_written(v.unionpay()),
    "payment_card": lambda v: v.card_written(v.payment_card()),
    "iban": ValueMaker.iban,
    "cn_passport": ValueMaker.passport,
    "cn_hkmo_travel_permit": ValueMaker.hkmo_permit,
    "cn_tw_travel_permit": ValueMaker.tw_permit,
    "hk_identity_card": ValueMaker.hkid,
    "cn_uscc": ValueMaker.uscc,
    "us_ssn": ValueMaker.ssn,
    "vin": ValueMaker.vin,
    "cn_vehicle_plate": ValueMaker.plate,
    "gps_coordinates": ValueMaker.gps,
    "icd10_code": ValueMaker.icd10,
    "medical_diagnosis": ValueMaker.diagnosis,
    "cn_person_name": lambda v: v.name()[0],
    "cn_address": ValueMaker.address,
}


def test_every_identifier_has_a_value_maker() -> None:
    assert set(MAKERS) == set(SPECS)


@pytest.mark.parametrize("identifier", sorted(MAKERS))
def test_generated_values_are_valid_and_mutations_agree(identifier: str) -> None:
    """Values built forwards from the standard validate; one-character edits agree with the
    reference either way (most fail the check character, some land on another valid value)."""
    rng = random.Random(identifier)
    maker = ValueMaker(rng)
    values = [MAKERS[identifier](maker) for _ in range(300)]
    validator = SPECS[identifier].validator
    assert all(REFERENCES[validator](v) is not None for v in values), identifier
    mutated = []
    for value in values:
        i = rng.randrange(len(value))
        if value[i].isdigit():
            mutated.append(value[:i] + rng.choice("0123456789") + value[i + 1 :])
    _check(validator, values + mutated)


@pytest.mark.parametrize(
    ("validator", "text", "normalised"),
    [
        ("gb11643", "11010519491231002x", "11010519491231002X"),
        ("gb11643_15", "110105491231002", "11010519491231002X"),  # GB 11643 example, 15-digit form
        ("cn_person_name", "欧阳娜娜", "欧阳娜娜"),
        ("cn_person_name", "张\u3400", None),  # Extension A: not a given-name character here
        ("icd10", "e11.9", "E11.9"),
        ("icd10", "S72.001A", "S72.001A"),
        ("icd10", "D95", None),  # chapter III ends at D89
        ("icd10", "U07.1", None),  # U is reserved for provisional codes
        ("cn_mobile", "+86 138-1234-5678", "13812345678"),
        ("cn_mobile", "008613812345678", "13812345678"),
        ("cn_mobile", "14012345678", None),  # 140 is a 13-digit IoT range
        ("cn_landline", "(010)62345678", "01062345678"),
        ("cn_landline", "+86 755 23456789", "075523456789"),
        ("cn_landline", "0755-1234567", None),  # subscriber numbers do not start with 1
        ("cn_landline", "026-62345678", None),  # 026 is not assigned
        ("email", "Zhang.Wei+news@Mail.Example.COM", "zhang.wei+news@mail.example.com"),
        ("email", "icon@2x.png", None),
        ("email", ".zhang@example.com", None),
        ("email", "zhang..wei@example.com", None),
        ("unionpay_card", "6250 9410 0652 8599", "6250941006528599"),
        ("unionpay_card", "6250941006528590", None),  # Luhn
        ("payment_card", "4111-1111-1111-1111", "4111111111111111"),
        ("payment_card", "3782 822463 10005", "378282246310005"),
        ("payment_card", "6250941006528599", None),  # UnionPay is its own identifier
        ("payment_card", "411111111111111111", None),  # no network issues 18 digits here
        ("iban", "GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("iban", "GB82WEST12345698765433", None),
        ("iban", "XX82WEST12345698765432", None),
        ("hk_identity_card", "A123456(3)", "A1234563"),
        ("hk_identity_card", "A123456(4)", None),
        ("cn_uscc", "91350100M000100Y43", "91350100M000100Y43"),
        ("cn_uscc", "91350100M000100Y44", None),
        ("us_ssn", "078-05-1120", "078051120"),
        ("us_ssn", "666-12-3456", None),
        ("us_ssn", "123-00-4567", None),
        ("vin", "1M8GDM9AXKP042788", "1M8GDM9AXKP042788"),
        ("vin", "1M8GDM9A1KP042788", None),
        ("vin", "11111111111111111", None),  # passes the check digit, but no WMI letter
        ("cn_passport", "E12345678", "E12345678"),
        ("cn_passport", "EA1234567", "EA1234567"),
        ("cn_passport", "E00000000", None),
        ("cn_hkmo_permit", "H1234567801", "H12345678"),
        ("cn_tw_permit", "20231114", None),  # a date
        ("cn_tw_permit", "03456789", "03456789"),
        ("cn_vehicle_plate", "京A·12345", "京A12345"),
        ("cn_vehicle_plate", "粤BD12345", "粤BD12345"),
        ("cn_vehicle_plate", "京AABC12", None),  # three letters in the serial
        ("gps_coordinates", "39.904200, 116.407396", "39.904200,116.407396"),
        ("gps_coordinates", "116.407396 39.904200", "116.407396,39.904200"),
        ("gps_coordinates", "95.000001,116.40739", None),
        ("gps_coordinates", "0.000001,0.000001", None),
    ],
)
def test_known_values(validator: str, text: str, normalised: str | None) -> None:
    assert REFERENCES[validator](text) == normalised
    _check(validator, [text])


def test_empty_candidate_arrays() -> None:
    empty = np.zeros(0, dtype=np.int64)
    for validator, kernel in VALIDATORS.items():
        checked = kernel(np.frombuffer(b"x", dtype=np.uint8), empty, empty)
        assert checked.valid.shape == (0,), validator
