"""Matcher boundary trimming (fixed, start-of-match and walk-back spans), longest-valid selection,
overlap resolution, and agreement with the pure-Python ``re`` baseline."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.baseline import ReScanner, dense_csv, sparse_text
from detectors.catalogue import ContextSpec, ExclusionSpec, load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import Detection, DetectionEngine

SPECS = load_catalogue()
ENGINE = DetectionEngine(SPECS, identity_key=b"test-key-0123456789")
BASELINE = ReScanner(SPECS)
# The baseline validates but knows no context or exclusions; compare it with an engine without them.
BARE_ENGINE = DetectionEngine(
    tuple(
        s.model_copy(
            update={
                "context": ContextSpec(),
                "exclusions": ExclusionSpec(),
                "minimum_confidence": 0.0,
            }
        )
        for s in SPECS
    )
)


def spans(data: bytes, identifier: str) -> list[tuple[int, int]]:
    detection: Detection = ENGINE.detect(data)
    acc = detection.accepted.get(identifier)
    if acc is None:
        return []
    return list(zip(acc.starts.tolist(), acc.ends.tolist(), strict=True))


def text_of(data: bytes, identifier: str) -> list[str]:
    return [data[s:e].decode() for s, e in spans(data, identifier)]


# --- e-mail: variable length, start found by walking back -------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zhang.wei@example.com", ["zhang.wei@example.com"]),  # whole buffer
        ("mail zhang.wei@example.com.", ["zhang.wei@example.com"]),  # sentence dot excluded
        ("<li.na@mail.example.com.cn>", ["li.na@mail.example.com.cn"]),  # longest domain wins
        ("联系张伟zhang@example.cn谢谢", ["zhang@example.cn"]),  # CJK on both sides
        ("a@b.cn,c@d.cn", ["a@b.cn", "c@d.cn"]),  # one separator shared by two values
        ("mailto:wang+news@example.org?x=1", ["wang+news@example.org"]),
        ("icon@2x.png logo@3x.webp", []),  # file names, not mailboxes
        ("https://deploy:s3cret@git.example.com/app.git", []),  # credentials in a URL
        ("x@y@example.com", []),  # two @: not one mailbox
        (".dot@example.com", []),
    ],
)
def test_email_spans(text: str, expected: list[str]) -> None:
    assert text_of(text.encode(), "email") == expected


def test_email_longer_than_the_walk_window() -> None:
    local = "a" * 60
    data = f"to: {local}@example.com".encode()
    assert text_of(data, "email") == [f"{local}@example.com"]
    too_long = "b" * 80  # RFC 5321 caps the local part at 64
    assert text_of(f"to: {too_long}@example.com".encode(), "email") == []


# --- fixed and start-of-match spans -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "identifier", "expected"),
    [
        ("13812345678", "cn_mobile", ["13812345678"]),
        ("tel:+86 138 1234 5678;", "cn_mobile", ["+86 138 1234 5678"]),
        ("0086-138-1234-5678", "cn_mobile", ["0086-138-1234-5678"]),
        ("213812345678", "cn_mobile", []),  # inside a longer digit run
        ("13812345678.5", "cn_mobile", []),  # a decimal number
        ("SN13812345678", "cn_mobile", []),  # a product code
        ("卡号 6222 0212 3456 7890 128 数量 3", "unionpay_card", ["6222 0212 3456 7890 128"]),
        ("卡号 6250 9410 0652 8599", "unionpay_card", []),  # a published test number
        ("card 4111111111111112 and 5555555555554444", "payment_card", []),  # bad Luhn, test card
        ("HKID A123456(3).", "hk_identity_card", ["A123456(3)"]),
        ("粤BD12345 京A·12345", "cn_vehicle_plate", ["粤BD12345", "京A·12345"]),
        ("位置 39.904200,116.407396", "gps_coordinates", ["39.904200,116.407396"]),
    ],
)
def test_spans(text: str, identifier: str, expected: list[str]) -> None:
    assert text_of(text.encode(), identifier) == expected


def test_longest_valid_span_per_start() -> None:
    """A grouped card followed by a short number: both readings match the pattern, only the one
    that passes Luhn is taken, however long it is."""
    rng = random.Random(3)
    maker = ValueMaker(rng)
    for _ in range(50):
        card = maker.unionpay()
        grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
        data = f"卡号 {grouped} 12".encode()
        assert text_of(data, "unionpay_card") == [grouped]


def test_card_inside_iban_is_part_of_the_iban() -> None:
    data = b"IBAN DE90 4577 1030 1535 5115 36"
    found = {ident for ident, acc in ENGINE.detect(data).accepted.items() if acc.starts.size}
    assert "payment_card" not in found


def test_mobile_inside_mailbox_counts_twice() -> None:
    data = b"contact 13812345678@163.com"
    assert text_of(data, "email") == ["13812345678@163.com"]
    assert text_of(data, "cn_mobile") == ["13812345678"]


def test_identical_span_goes_to_the_resident_id() -> None:
    """A Gansu (62) resident ID that also passes Luhn as an 18-digit UnionPay number."""
    rng = random.Random(0)
    maker = ValueMaker(rng)
    while True:
        value = maker.resident_id()
        body = value[:-1]
        if value.startswith("62") and not value.endswith("X"):
            from detectors.corpus_values import luhn_check_digit

            if luhn_check_digit(body) == value[-1]:
                break
    result = ENGINE.inspect(value.encode())
    counted = {f.identifier for f in result.findings if f.count}
    assert counted == {"cn_resident_id"}


def test_values_of_another_identifier_are_not_rejections() -> None:
    """Every resident ID has the shape of a credit code; it is not counted as a failed one."""
    result = ENGINE.inspect(b"11010519491231002X 110105194912310021")
    rejected = {f.identifier: f.rejected for f in result.findings + result.general}
    assert rejected["cn_resident_id"] == 1  # the wrong check character
    assert rejected.get("cn_uscc", 0) == 1  # only the decoy, which nobody accepted


# --- agreement with the pure-Python re baseline --------------------------------------------------


def _baseline_spans(data: bytes) -> dict[str, set[tuple[int, int]]]:
    return {k: {(s, e) for s, e, _ in v} for k, v in BASELINE.detect(data).items()}


def _engine_valid_spans(data: bytes, identifiers: set[str]) -> dict[str, set[tuple[int, int]]]:
    out: dict[str, set[tuple[int, int]]] = {}
    for ident, acc in BARE_ENGINE.detect(data).accepted.items():
        if ident in identifiers and acc.starts.size:
            out[ident] = set(zip(acc.starts.tolist(), acc.ends.tolist(), strict=True))
    return out


SELF_STANDING = {"cn_resident_id", "email", "iban", "hk_identity_card", "cn_vehicle_plate"}


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.integers(0, 2**32),
    st.lists(
        st.sampled_from(["\n", ",", " ", "x", "1", "。", "@", ".", "-", "("]),
        min_size=1,
        max_size=6,
    ),
)
def test_engine_and_re_baseline_find_the_same_values(seed: int, seps: list[str]) -> None:
    """On text mixing values of identifiers with random separators, the hyperscan engine (context
    and exclusions off) and the look-around ``re`` scanner accept exactly the same spans."""
    rnd = random.Random(seed)
    maker = ValueMaker(rnd)
    parts = []
    for _ in range(12):
        parts.append(
            rnd.choice(
                (
                    maker.resident_id(),
                    maker.email(),
                    maker.iban().replace(" ", ""),
                    maker.hkid(),
                    maker.plate(),
                    maker.decoy_resident_id(),
                )
            )
        )
        parts.append(rnd.choice(seps))
    data = "".join(parts).encode()
    expected = {k: v for k, v in _baseline_spans(data).items() if k in SELF_STANDING}
    assert _engine_valid_spans(data, SELF_STANDING) == expected


def test_baseline_agrees_on_samples() -> None:
    for data in (sparse_text(50_000), dense_csv(20_000)):
        expected = {
            k: v
            for k, v in _baseline_spans(data).items()
            if k in {"cn_resident_id", "email", "cn_mobile"}
        }
        assert _engine_valid_spans(data, {"cn_resident_id", "email", "cn_mobile"}) == expected


def test_empty_and_tiny_objects() -> None:
    for data in (b"", b"\n", b"1", b"@", b"\xff\xfe"):
        result = ENGINE.inspect(data)
        assert not result
        assert result.distinct_individuals == 0


@pytest.mark.parametrize(
    ("text", "codes", "terms"),
    [
        # a people table: the 诊断 / 诊断编码 headers are context for every row
        (
            "姓名,诊断,诊断编码\n张三,2型糖尿病,E11.9\n李四,高血压,I10\n",
            ["E11.9", "I10"],
            ["糖尿病", "高血压"],
        ),
        # free text with a diagnosis keyword in the clause
        ("患者王五 诊断: 肺结核 (ICD-10 A15.0)", ["A15.0"], ["肺结核"]),
        # the same shapes without medical context: a guideline, a part number, a seat
        ("新闻：糖尿病预防指南发布。零件型号 E11.9，座位 A12", [], []),
    ],
)
def test_medical_findings_need_medical_context(
    text: str, codes: list[str], terms: list[str]
) -> None:
    data = text.encode()
    assert text_of(data, "icd10_code") == codes
    assert text_of(data, "medical_diagnosis") == terms


def test_keyword_does_not_reach_past_another_value() -> None:
    """``serial`` names the token after it, not the Hong Kong ID card further on."""
    data = b"serial HWN8SK0SW6KPXYZ55 status ok XZ362030(7)"
    assert text_of(data, "hk_identity_card") == ["XZ362030(7)"]
    assert text_of(b"serial XZ362030(7)", "hk_identity_card") == []


def test_names_and_addresses_in_a_people_table() -> None:
    data = (
        "姓名,身份证号,地址,车架号\n"
        "张三丰,11010519491231002X,北京市朝阳区建国路88号,LSVAM4187C2184847\n"
        "欧阳娜娜,,广东省深圳市南山区科技园路1号,\n"
    ).encode()
    assert text_of(data, "cn_person_name") == ["张三丰", "欧阳娜娜"]  # not the 车架号 header
    assert text_of(data, "cn_address") == [
        "北京市朝阳区建国路88号",
        "广东省深圳市南山区科技园路1号",
    ]
    # two rows, two people: the name is the only identifier of the second row
    assert ENGINE.inspect(data).distinct_individuals == 2


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{"name":"刘伟","tel":"x"}', ["刘伟"]),
        ("收件人：赵敏，电话见附件", ["赵敏"]),
        ("客户张三的手机号是多少？王经理说李四明天来。", []),  # glued to other characters
        ("张三丰,李四\n", []),  # no name keyword or column
    ],
)
def test_names_need_to_stand_apart_and_a_keyword(text: str, names: list[str]) -> None:
    assert text_of(text.encode(), "cn_person_name") == names
