"""Every threshold of the policy packs at its boundary (n-1, n, n+1), per processor type and zone.

Each row cites where the number comes from:
  N  = 促进和规范数据跨境流动规定 as summarised in seed 004 chapter 3 (第三条, 第五条第四项, 第七条, 第八条)
  JS = 中国（江苏）自由贸易试验区数据分类分级参考规则, 重要数据统一识别参考规则 2-3 (seed 002), with
       负面清单管理办法 第八条(一) (important data -> assessment) and 第十条 (outside the list: exempt)
  BJ = 北京自贸区负面清单, 零售与现代服务业 会员管理 (seed 004 chapter 4)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sensor.compliance.evaluator import Evaluator, YearlyCounts
from sensor.compliance.legal import LegalPath
from sensor.compliance.packs import builtin_directory, load_packs
from sensor.compliance.processors import ProcessorProfile
from tests.cli import run_egress

EX, SC, SA, NO = (
    LegalPath.EXEMPT,
    LegalPath.STANDARD_CONTRACT,
    LegalPath.SECURITY_ASSESSMENT,
    LegalPath.PROHIBITED,
)
PLAIN = {"ftz": "none"}
CIIO = {"ftz": "none", "ciio": True}
JIANGSU = {"ftz": "jiangsu", "industry": "retail"}  # no published list for retail: national
JIANGSU_LISTED = {"ftz": "jiangsu", "industry": "manufacturing"}  # list names only JS-FTZ-16
BEIJING_RETAIL = {"ftz": "beijing", "scenarios": ("retail_membership",)}
BEIJING_OTHER = {"ftz": "beijing", "industry": "logistics"}
TIANJIN = {"ftz": "tianjin", "industry": "logistics"}  # no list for the domain: national
TIANJIN_LISTED = {"ftz": "tianjin", "industry": "finance"}  # operator list names TJ-FIN-01
LINGANG = {"ftz": "shanghai_lingang", "scenarios": ("lingang_clinical_research",)}
LINGANG_OTHER = {"ftz": "shanghai_lingang", "industry": "retail"}  # no registered scenario


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Evaluator:
    """Built-in packs plus operator copies of the Jiangsu and Tianjin negative-list packs, each
    naming one list (the seeds describe the lists, not their contents)."""
    directory = tmp_path_factory.mktemp("packs")
    for name, industries in (
        ("jiangsu_ftz_negative_list", "{manufacturing: [JS-FTZ-16]}"),
        ("tianjin_ftz_negative_list", "{finance: [TJ-FIN-01]}"),
    ):
        text = (builtin_directory() / f"{name}.yaml").read_text(encoding="utf-8")
        text = text.replace("  industries: {}", f"  industries: {industries}")
        (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return Evaluator(load_packs((directory,)))


def _decide(
    evaluator: Evaluator, profile: dict[str, Any], counts: dict[str, Any]
) -> tuple[LegalPath, set[str]]:
    decision = evaluator.decide(
        ProcessorProfile(id="p", name="P", **profile), YearlyCounts(**counts)
    )
    return decision.legal_path, {b.rule for b in decision.basis}


Row = tuple[dict[str, Any], LegalPath, bool]  # counts, path, whether the rule is cited


def _boundary(
    metric: str, n: int, below: LegalPath, at: LegalPath, extra: dict[str, Any]
) -> list[Row]:
    """n-1 gives ``below`` without the rule; n and n+1 give ``at`` citing it."""
    return [
        ({metric: n - 1, **extra}, below, False),
        ({metric: n, **extra}, at, True),
        ({metric: n + 1, **extra}, at, True),
    ]


def _one(counts: dict[str, Any], path: LegalPath) -> list[Row]:
    return [(counts, path, True)]


CASES: list[tuple[str, dict[str, Any], dict[str, Any], LegalPath, str, bool]] = []


def _add(source: str, profile: dict[str, Any], rows: list[Row], rule: str) -> None:
    for counts, path, cited in rows:
        CASES.append((source, profile, counts, path, rule, cited))


# --- national, non-CIIO --------------------------------------------------------------------------
_add(
    "N 第五条第四项/第八条: 10万人 PI",
    PLAIN,
    _boundary("personal", 100_000, EX, SC, {}),
    "sc_personal_100k",
)
_add(
    "N 第七条第二项: 100万人 PI",
    PLAIN,
    _boundary("personal", 1_000_000, SC, SA, {}),
    "sa_personal_1m",
)
_add(
    "N 第八条: any sensitive",
    PLAIN,
    _boundary("sensitive", 1, EX, SC, {"personal": 50}),
    "sc_sensitive_under_10k",
)
_add(
    "N 第七条第二项: 1万人 sensitive",
    PLAIN,
    _boundary("sensitive", 10_000, SC, SA, {"personal": 20_000}),
    "sa_sensitive_10k",
)
_add(
    "N 第七条第二项: important data",
    PLAIN,
    [({"important_data": ()}, EX, False), ({"important_data": ("X",)}, SA, True)],
    "important_data_assessment",
)
# --- national, CIIO --------------------------------------------------------------------------------
_add(
    "N 第七条第一项: CIIO any PI",
    CIIO,
    _boundary("personal", 1, EX, SA, {}),
    "ciio_any_pi_or_important",
)
_add(
    "N 第七条第一项: CIIO important data",
    CIIO,
    _one({"important_data": ("X",)}, SA),
    "ciio_any_pi_or_important",
)
_add(
    "N 第七条第一项: CIIO not under the 10万 exemption",
    CIIO,
    _one({"personal": 99_999}, SA),
    "ciio_any_pi_or_important",
)
_add(
    "数据安全法 第二十一条: core data",
    PLAIN,
    _one({"core_data": ("C",), "personal": 5}, NO),
    "core_data_prohibited",
)
# --- Jiangsu FTZ without a list for the industry: national rules (002 第二十四条) -------------------
_add(
    "JS 第二十四条 -> N 第八条",
    JIANGSU,
    _boundary("personal", 100_000, EX, SC, {}),
    "sc_personal_100k",
)
_add(
    "JS 第二十四条 -> N 第七条",
    JIANGSU,
    _boundary("sensitive", 10_000, SC, SA, {"personal": 20_000}),
    "sa_sensitive_10k",
)
# --- Jiangsu FTZ, industry with a list, nothing sent on it: exempt up to important-data volumes --
_add(
    "JS 第十条: outside the list",
    JIANGSU_LISTED,
    _one({"personal": 5_000_000, "sensitive": 500_000}, EX),
    "js_outside_negative_list",
)
_add(
    "JS 参考规则2: 1000万人 PI",
    JIANGSU_LISTED,
    _boundary("personal", 10_000_000, EX, SA, {}),
    "js_important_personal_10m",
)
_add(
    "JS 参考规则2: 100万人 sensitive",
    JIANGSU_LISTED,
    _boundary("sensitive", 1_000_000, EX, SA, {"personal": 2_000_000}),
    "js_important_sensitive_1m",
)
_add(
    "JS 参考规则2: 10万人 account/medical",
    JIANGSU_LISTED,
    _boundary("account_or_medical", 100_000, EX, SA, {"personal": 200_000, "sensitive": 200_000}),
    "js_important_account_medical_100k",
)
_add(
    "JS 参考规则3: CIIO 10万人",
    {**JIANGSU_LISTED, "ciio": True},
    _boundary("personal", 100_000, SA, SA, {}),
    "js_important_ciio_100k",
)
_add(
    "JS 第十条 does not cover listed data -> N 第八条",
    JIANGSU_LISTED,
    _one({"personal": 10, "important_data": ("JS-FTZ-16",)}, SA),
    "important_data_assessment",
)
# --- Beijing FTZ retail membership --------------------------------------------------------------
_add(
    "BJ 会员 50万人 PI",
    BEIJING_RETAIL,
    _boundary("personal", 500_000, EX, SC, {}),
    "bj_sc_members_500k",
)
_add(
    "BJ 会员 500万人 PI",
    BEIJING_RETAIL,
    _boundary("personal", 5_000_000, SC, SA, {}),
    "bj_sa_members_5m",
)
_add(
    "BJ 会员 10万人 sensitive",
    BEIJING_RETAIL,
    _boundary("sensitive", 100_000, EX, SC, {"personal": 200_000}),
    "bj_sc_sensitive_100k",
)
_add(
    "BJ 会员 100万人 sensitive",
    BEIJING_RETAIL,
    _boundary("sensitive", 1_000_000, SC, SA, {"personal": 2_000_000}),
    "bj_sa_sensitive_1m",
)
_add(
    "BJ below the list: 规定 第六条",
    BEIJING_RETAIL,
    _one({"personal": 499_999, "sensitive": 99_999}, EX),
    "bj_exempt_below_list",
)
_add(
    "BJ list is for members only -> N 第八条",
    BEIJING_OTHER,
    _boundary("personal", 100_000, EX, SC, {}),
    "sc_personal_100k",
)
_add("BJ keeps N 第七条第一项 for CIIOs", {**BEIJING_RETAIL, "ciio": True}, _one({"personal": 10}, SA), "ciio_any_pi_or_important")  # fmt: skip

# --- Tianjin FTZ negative list (seed 004 ch. 4; 规定 第六条) ------------------------------------------
_add(
    "TJ domain without a list -> N 第八条",
    TIANJIN,
    _boundary("personal", 100_000, EX, SC, {}),
    "sc_personal_100k",
)
_add(
    "TJ 规定 第六条: outside the domain's list",
    TIANJIN_LISTED,
    _one({"personal": 5_000_000, "sensitive": 500_000}, EX),
    "tj_outside_negative_list",
)
_add(
    "TJ listed data keeps the national path -> N 第八条",
    TIANJIN_LISTED,
    _one({"personal": 100_000, "important_data": ("TJ-FIN-01",)}, SA),
    "important_data_assessment",
)
_add("TJ keeps N 第七条第一项 for CIIOs", {**TIANJIN_LISTED, "ciio": True}, _one({"personal": 10}, SA), "ciio_any_pi_or_important")  # fmt: skip
# --- Shanghai Lingang general data list (seed 004 ch. 4, 表4-1) -------------------------------------
_add(
    "LG 一般数据 备案后出境: no national volume path",
    LINGANG,
    [
        ({"personal": 99_999}, EX, True),
        ({"personal": 1_000_000}, EX, True),
        ({"personal": 1_000_001, "sensitive": 10_000}, EX, True),
    ],
    "lingang_general_list_registration",
)
_add(
    "LG without a registered scenario -> N 第八条",
    LINGANG_OTHER,
    _boundary("personal", 100_000, EX, SC, {}),
    "sc_personal_100k",
)
_add(
    "LG 重要数据 安全评估后出境 (national rule stays)",
    LINGANG,
    _one({"personal": 10, "important_data": ("X",)}, SA),
    "important_data_assessment",
)
_add(
    "LG 核心数据 禁止跨境 (national rule stays)",
    LINGANG,
    _one({"personal": 10, "core_data": ("C",)}, NO),
    "core_data_prohibited",
)
_add("LG keeps N 第七条第一项 for CIIOs", {**LINGANG, "ciio": True}, _one({"personal": 10}, SA), "ciio_any_pi_or_important")  # fmt: skip


@pytest.mark.parametrize(("source", "profile", "counts", "path", "rule", "cited"), CASES)
def test_threshold_boundaries(
    evaluator: Evaluator,
    source: str,
    profile: dict[str, Any],
    counts: dict[str, Any],
    path: LegalPath,
    rule: str,
    cited: bool,
) -> None:
    got, rules = _decide(evaluator, profile, counts)
    assert got is path, f"{source} {counts}"
    assert (rule in rules) is cited, f"{source} {counts}: {rules}"


def test_below_every_threshold_is_exempt_with_article_3_or_5() -> None:
    evaluator = Evaluator(load_packs())
    assert _decide(evaluator, PLAIN, {})[1] == {"no_pi_no_important"}  # 第三条
    assert _decide(evaluator, PLAIN, {"personal": 99_999})[1] == {
        "exempt_under_100k"
    }  # 第五条第四项


def test_indicated_important_data_is_a_note_not_a_path() -> None:
    decision = Evaluator(load_packs()).decide(
        ProcessorProfile(id="p", name="P"), YearlyCounts(personal=10, indicated=("JS-FTZ-28",))
    )
    assert decision.legal_path is EX
    assert "JS-FTZ-28" in decision.notes[0]


def test_thresholds_listed_per_zone(evaluator: Evaluator) -> None:
    keys = {
        t.key
        for t in evaluator.thresholds(
            ProcessorProfile(id="p", name="P", **BEIJING_RETAIL), YearlyCounts()
        )
    }
    assert "beijing_ftz_retail.bj_sc_members_500k.personal" in keys
    assert not any(k.startswith("national.sc_personal_100k") for k in keys)  # replaced
    plain = {
        t.key: t.value
        for t in evaluator.thresholds(ProcessorProfile(id="p", name="P"), YearlyCounts())
    }
    assert plain["national.sc_personal_100k.personal"] == 100_000


def test_cli_evaluate_options_and_json(tmp_path: Path) -> None:
    result = run_egress("policy", "evaluate", "--personal", "1000000", "--json")
    assert result.returncode == 0, result.stderr
    assert '"legal_path": "security_assessment"' in result.stdout
    assert "第七条第二项" in result.stdout
    profile = tmp_path / "p.json"
    profile.write_text(
        '{"processor": {"id": "shop", "name": "Shop", "ftz": "beijing", '
        '"scenarios": ["retail_membership"]}, "counts": {"personal": 600000}}'
    )
    text = run_egress("policy", "evaluate", profile)
    assert text.returncode == 0, text.stderr
    assert "legal path: standard_contract_or_certification" in text.stdout
    assert "会员管理场景 50万人以上" in text.stdout
    noted = run_egress(
        "policy", "evaluate", "--personal", "10", "--exempted", "cross_border_hr=500", "--json"
    )
    assert noted.returncode == 0, noted.stderr
    assert "cross_border_hr 500" in noted.stdout and '"personal": 10,' in noted.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"counts": {"persons": 5}}')
    failed = run_egress("policy", "evaluate", bad)
    assert failed.returncode == 2 and "counts.persons" in failed.stderr
