"""Context keywords, column headers, clause limits, allowlists and structural exclusions."""

from __future__ import annotations

import pytest

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine

ENGINE = DetectionEngine(load_catalogue(), identity_key=b"test-key-0123456789")


def count(text: str, identifier: str) -> int:
    acc = ENGINE.detect(text.encode()).accepted.get(identifier)
    return 0 if acc is None else int(acc.starts.size)


@pytest.mark.parametrize(
    ("text", "identifier", "expected"),
    [
        # context-only identifiers need a keyword (or a column header)
        ("台胞证号码：03456789", "cn_tw_travel_permit", 1),
        ("合计 03456789 元", "cn_tw_travel_permit", 0),
        ("身份证号 110105491231002", "cn_resident_id_15", 1),
        ("编号 110105491231002", "cn_resident_id_15", 0),
        ("护照 P1234567", "cn_passport", 1),
        ("P1234567", "cn_passport", 0),
        ("E12345678", "cn_passport", 1),  # the e-passport shape stands on its own
        ("型号 E12345678", "cn_passport", 0),  # ...unless the word before it says it is a model
        # negative keywords lower, reverse keywords suppress
        ("订单号 4000 0000 0000 0002", "payment_card", 0),
        ("card 4000 0000 0000 0002", "payment_card", 1),
        ("测试卡 4000000000000002", "payment_card", 0),
        ("4000000000000002（测试卡）", "payment_card", 0),
        # allowlisted test values are never counted
        ("card 4111 1111 1111 1111", "payment_card", 0),
        ("SSN 078-05-1120", "us_ssn", 0),
        ("IBAN GB82 WEST 1234 5698 7654 32", "iban", 0),
    ],
)
def test_keywords(text: str, identifier: str, expected: int) -> None:
    assert count(text, identifier) == expected


def test_nearest_keyword_governs_in_json() -> None:
    """The card number after "order_id" is an order number, although 卡号 is within the window."""
    text = '{"卡号":"4000 0000 0000 0002","order_id":"4000000000000010"}'
    acc = ENGINE.detect(text.encode()).accepted["payment_card"]
    assert [text.encode()[s:e].decode() for s, e in zip(acc.starts, acc.ends, strict=True)] == [
        "4000 0000 0000 0002"
    ]


def test_keyword_reach_stops_at_the_line_and_clause() -> None:
    assert count("订单号\n4000000000000002", "payment_card") == 1
    assert count("订单号 123。4000000000000002", "payment_card") == 1
    assert count("订单号 4000000000000002", "payment_card") == 0


def test_column_header_is_context_for_the_whole_column() -> None:
    rows = "\n".join(f"{i},0345678{i},20240101" for i in range(5))
    table = "行,台胞证号码,日期\n" + rows + "\n"
    assert count(table, "cn_tw_travel_permit") == 5
    plain = "行,编号,日期\n" + rows + "\n"
    assert count(plain, "cn_tw_travel_permit") == 0


def test_header_negative_column_and_quoted_commas() -> None:
    """An order-number column lowers card confidence; a quoted field with a comma does not shift
    the columns after it."""
    header = "name,location,order_no,card\n"
    rows = "".join(
        f'x,"39.90420{i},116.40739{i}",4000000000000002,4000000000000010\n' for i in range(4)
    )
    acc = ENGINE.detect((header + rows).encode()).accepted["payment_card"]
    data = (header + rows).encode()
    assert {data[s:e] for s, e in zip(acc.starts, acc.ends, strict=True)} == {b"4000000000000010"}


@pytest.mark.parametrize(
    ("text", "identifier"),
    [
        ("sha1 9f86d081884c13812345678b2f0dd4a0d1e8fc2b", "cn_mobile"),  # inside a hash
        ("id 550e8400-e29b-41d4-a716-13812345678f", "cn_mobile"),  # inside a UUID
        ("v3.13812345678", "cn_mobile"),  # a version or decimal
        ("12:13812345678", "cn_mobile"),  # a time-like run
        ("SN13812345678", "cn_mobile"),  # glued to letters
        ("git https://ci:hunter2@git.example.com/x.git", "email"),
    ],
)
def test_structural_exclusions(text: str, identifier: str) -> None:
    assert count(text, identifier) == 0


def test_suppressed_values_are_counted_in_the_finding() -> None:
    result = ENGINE.inspect("订单号 4000000000000002 card 4000000000000010".encode())
    (finding,) = [f for f in result.findings if f.identifier == "payment_card"]
    assert (finding.count, finding.suppressed) == (1, 1)
    assert 0.5 <= finding.confidence <= 1.0
