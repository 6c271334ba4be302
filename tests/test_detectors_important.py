"""Important-data term packs: loading, breadth and density scoring, no alert on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from detectors.important import load_term_packs
from sensor.errors import SignatureError

ENGINE = DetectionEngine(load_catalogue(), identity_key=b"test-key-0123456789")
REACTOR = (
    "核电厂一回路运行参数：堆功率 98%，硼浓度 1200ppm，控制棒位置 225 步，稳压器压力 15.5MPa，"
    "蒸汽发生器水位正常；乏燃料水池温度 35℃。"
)


def test_builtin_packs_cover_their_subclasses() -> None:
    packs = load_term_packs()
    assert {p.subclass for p in packs} >= {3, 9, 14, 16, 19, 27, 28, 34, 39}
    assert all(1 <= p.subclass <= 39 and len(p.terms) >= 10 for p in packs)


def test_dense_domain_text_is_indicated() -> None:
    result = ENGINE.inspect((REACTOR * 3).encode())
    (indication,) = result.important
    assert (indication.code, indication.subclass, indication.name_zh) == (
        "JSFTZ-14",
        14,
        "民用核设施",
    )
    assert indication.distinct_terms >= 6 and indication.score == 1.0
    assert not result  # an indication is a hint for a human, not a finding that raises an alert


def test_a_mention_is_not_important_data() -> None:
    assert ENGINE.inspect("我们参观了核电站，了解了反应堆的原理。".encode()).important == ()
    diluted = REACTOR + "这是一段与核设施无关的说明文字。" * 400  # breadth is there, density is not
    assert ENGINE.inspect(diluted.encode()).important == ()


def test_indication_with_personal_findings() -> None:
    text = REACTOR * 2 + "值班员身份证号 11010519491231002X"
    result = ENGINE.inspect(text.encode())
    assert [i.subclass for i in result.important] == [14]
    assert bool(result)


def test_bad_term_pack_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "format_version: 1\ncode: X-1\nsubclass: 40\ncategory: a\nname_zh: b\nname_en: c\nbasis: d\nterms: [a, b, c]\n",
        encoding="utf-8",
    )
    with pytest.raises(SignatureError, match="field 'subclass'"):
        load_term_packs((tmp_path,))
