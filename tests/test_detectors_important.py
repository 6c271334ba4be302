"""Important-data term packs: loading, breadth and density scoring, no alert on their own."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from detectors.catalogue import load_catalogue
from detectors.cli import signatures_group
from detectors.engine import DetectionEngine
from detectors.important import TermPack, builtin_directory, load_term_packs
from sensor.config import EgressConfig
from sensor.content.extract import extract
from sensor.errors import SignatureError
from sensor.inspection import inspect_object, inspect_part
from sensor.objects import FlowContext, TransferObject

SPECS = load_catalogue()
ENGINE = DetectionEngine(SPECS, identity_key=b"test-key-0123456789")
DATA = Path(__file__).parent / "data" / "important"
ORDINARY = sorted((DATA / "ordinary").iterdir())
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus" / "real"
SEEDS = SHARED / "seeds"
REACTOR = (
    "核电厂一回路运行参数：堆功率 98%，硼浓度 1200ppm，控制棒位置 225 步，稳压器压力 15.5MPa，"
    "蒸汽发生器水位正常；乏燃料水池温度 35℃。"
)

# The 39 subclasses (二级类别) of the 13 classes (一级类别), transcribed from the table of
# 《中国（江苏）自由贸易试验区数据分类分级参考规则》, appendix of the Jiangsu FTZ data-export measures
# (../shared/seeds/002_11af762e97e8ec9a.txt, the table after "重要数据统一识别参考规则").
SEED_SUBCLASSES: tuple[tuple[int, str, str], ...] = (
    (1, "战略物资和大宗商品类", "石油、石化和天然气"),
    (2, "战略物资和大宗商品类", "农产品"),
    (3, "自然资源和环境类", "地理信息"),
    (4, "自然资源和环境类", "气象"),
    (5, "自然资源和环境类", "海洋"),
    (6, "自然资源和环境类", "环保"),
    (7, "自然资源和环境类", "水利"),
    (8, "工业类", "钢铁、有色金属"),
    (9, "工业类", "稀土"),
    (10, "工业类", "其他矿产"),
    (11, "工业类", "化学工业"),
    (12, "工业类", "电力"),
    (13, "工业类", "电子信息"),
    (14, "工业类", "民用核设施"),
    (15, "工业类", "工业装备"),
    (16, "工业类", "智能网联汽车"),
    (17, "工业类", "其他"),
    (18, "国防科技工业类", "国防科技工业类"),
    (19, "电信类", "电信"),
    (20, "广播电视台和网络视听类", "广播电视台"),
    (21, "广播电视台和网络视听类", "网络视听"),
    (22, "金融类", "银行"),
    (23, "金融类", "保险"),
    (24, "金融类", "证券期货"),
    (25, "金融类", "融资租赁"),
    (26, "交通运输类", "交通"),
    (27, "卫生健康和食品药品类", "遗传资源"),
    (28, "卫生健康和食品药品类", "健康医疗"),
    (29, "卫生健康和食品药品类", "食品"),
    (30, "卫生健康和食品药品类", "药品"),
    (31, "卫生健康和食品药品类", "生物安全"),
    (32, "卫生健康和食品药品类", "疾控数据"),
    (33, "公共安全类", "物理安全"),
    (34, "公共安全类", "网络安全"),
    (35, "互联网服务和电子商务类", "互联网平台服务"),
    (36, "互联网服务和电子商务类", "人工智能服务"),
    (37, "科学技术类", "知识产权和重大发现"),
    (38, "科学技术类", "禁止出口限制出口技术"),
    (39, "其他数据类", "属于出口管制法管制的相关数据"),
)


def pack(**fields: object) -> TermPack:
    base: dict[str, object] = {
        "code": "T-1",
        "subclass": 1,
        "category": "测试类",
        "name_zh": "测试",
        "name_en": "Test",
        "basis": "test",
    }
    return TermPack.model_validate(base | fields)


def indicated(packs: tuple[TermPack, ...], text: str) -> list[tuple[str, int]]:
    engine = DetectionEngine(SPECS, identity_key=b"test-key-0123456789", term_packs=packs)
    return [(i.code, i.distinct_terms) for i in engine.inspect(text.encode()).important]


# --- the built-in packs against the seed -----------------------------------------------------


def test_every_subclass_of_the_seed_has_exactly_one_pack() -> None:
    packs = load_term_packs()
    assert [(p.subclass, p.category, p.name_zh) for p in packs] == list(SEED_SUBCLASSES)
    for p in packs:
        assert p.code == f"JSFTZ-{p.subclass:02d}"
        assert re.fullmatch(rf"js_ftz_{p.subclass:02d}_[a-z_]+\.yaml", Path(p.source).name)
        assert p.basis.startswith("中国（江苏）自由贸易试验区数据分类分级参考规则 (")
        assert f"){p.subclass} {p.name_zh}" in p.basis
        assert len(p.terms) >= 15 and p.min_specific <= p.min_distinct
    assert len(list(builtin_directory().glob("*.yaml"))) == 39


@pytest.mark.parametrize("path", sorted(DATA.glob("*.txt")), ids=lambda p: p.stem)
def test_domain_document_is_indicated_with_its_subclass_first(path: Path) -> None:
    result = ENGINE.inspect(path.read_bytes())
    assert result.important, "not indicated at all"
    assert result.important[0].subclass == int(path.stem)


@pytest.mark.parametrize("path", ORDINARY, ids=lambda p: p.name)
def test_ordinary_business_text_indicates_nothing(path: Path) -> None:
    assert ENGINE.inspect(path.read_bytes()).important == ()


def test_the_controls_are_what_keeps_ordinary_text_quiet() -> None:
    """Without common_terms, min_specific and negative terms the same dictionaries would fire on
    the ordinary fixtures: the previous test is not passing because those texts avoid the words."""
    naive = tuple(
        p.model_copy(
            update={
                "terms": p.terms + p.common_terms,
                "common_terms": (),
                "negative_terms": (),
                "min_specific": 1,
            }
        )
        for p in load_term_packs()
    )
    engine = DetectionEngine(SPECS, identity_key=b"test-key-0123456789", term_packs=naive)
    assert sum(len(engine.inspect(p.read_bytes()).important) for p in ORDINARY) >= 3


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus of real captures not present")
def test_real_public_captures_indicate_nothing() -> None:
    captures = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix != ".json"]
    assert captures
    assert [p.name for p in captures if ENGINE.inspect(p.read_bytes()).important] == []


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared regulatory seeds not present")
def test_regulations_that_name_every_sector_indicate_nothing() -> None:
    """The seeds (300 KB of measures and rules, the 39-subclass table among them) talk about the
    sectors; they are not the sectors' data."""
    seeds = sorted(SEEDS.glob("*.txt"))
    assert len(seeds) >= 5
    assert {p.name: ENGINE.inspect(p.read_bytes()).important for p in seeds} == {
        p.name: () for p in seeds
    }


# --- scoring rules ----------------------------------------------------------------------------


def test_dense_domain_text_is_indicated() -> None:
    result = ENGINE.inspect((REACTOR * 3).encode())
    (indication,) = result.important
    assert (indication.code, indication.subclass, indication.name_zh) == (
        "JSFTZ-14",
        14,
        "民用核设施",
    )
    assert indication.distinct_terms >= 6 and indication.score == 1.0
    assert not result


def test_a_mention_is_not_important_data() -> None:
    assert ENGINE.inspect("我们参观了核电站，了解了反应堆的原理。".encode()).important == ()
    diluted = REACTOR + "这是一段与核设施无关的说明文字。" * 400  # breadth is there, density is not
    assert ENGINE.inspect(diluted.encode()).important == ()


def test_indication_with_personal_findings() -> None:
    text = REACTOR * 2 + "值班员身份证号 11010519491231002X"
    result = ENGINE.inspect(text.encode())
    assert [i.subclass for i in result.important] == [14]
    assert bool(result)


def test_common_terms_count_but_cannot_indicate_alone() -> None:
    packs = (
        pack(
            terms=["堆芯", "硼浓度", "控制棒"],
            common_terms=["机组", "检修", "运行"],
            min_distinct=3,
        ),
    )
    assert indicated(packs, "机组运行正常，检修完成。") == []
    assert indicated(packs, "机组运行正常，堆芯与硼浓度正常。") == [("T-1", 4)]


def test_a_nested_term_counts_once_as_the_longer_term() -> None:
    packs = (pack(terms=["测绘", "测绘成果", "地形图"], min_distinct=2, min_specific=1),)
    assert indicated(packs, "测绘成果；测绘成果。") == []  # one term, not two
    assert indicated(packs, "测绘成果与测绘规范。") == [("T-1", 2)]  # a separate 测绘 counts


def test_nesting_follows_the_matchers_ascii_word_boundaries() -> None:
    packs = (pack(terms=["rare earth", "earth", "NdFeB", "Fe"], min_distinct=2, min_specific=1),)
    assert indicated(packs, "rare earth; rare earth") == []  # "earth" inside "rare earth"
    # "Fe" is not found inside "NdFeB", so nothing may be taken back from the separate "Fe"
    assert indicated(packs, "NdFeB magnets; Fe content") == [("T-1", 2)]


def test_a_negative_term_cancels_the_term_it_contains() -> None:
    packs = (
        pack(
            terms=["诊断", "处方", "医嘱", "主诉"],
            negative_terms=["故障诊断"],
            min_distinct=3,
            min_specific=3,
        ),
    )
    assert indicated(packs, "故障诊断、处方、医嘱") == []
    assert indicated(packs, "出院诊断、处方、医嘱") == [("T-1", 3)]
    assert indicated(packs, "故障诊断与出院诊断、处方、医嘱") == [("T-1", 3)]


def test_builtin_negative_terms_work() -> None:
    geo = "测绘成果、遥感影像、地形图、等高线；"
    assert ENGINE.inspect((geo + "高程 85.2m").encode()).important[0].subclass == 3
    # "提高程度" is not 高程: four distinct geographic terms, one short of the pack's five
    assert ENGINE.inspect((geo + "提高程度").encode()).important == ()


def test_a_tables_column_names_carry_the_indication() -> None:
    header = "区站号,台站名称,观测时次,气温,相对湿度,气压,风向,风速,降水量,能见度,质控码\n"
    rows = "58238,站点A,2026-08-01T00:00Z,27.3,86,1003.2,SE,3.4,0.0,12000,000000\n" * 3000
    (indication,) = ENGINE.inspect((header + rows).encode()).important
    assert indication.subclass == 4 and indication.density < 0.1  # far below min_density
    titled = "气象站逐时观测数据导出\n导出时间：2026-08-02\n" + header + rows
    assert [i.subclass for i in ENGINE.inspect(titled.encode()).important] == [4]
    # the same words and numbers as prose are too sparse: only column names get this rule
    prose = header.replace(",", "、").rstrip() + "。\n" + rows.replace(",", " ")
    assert ENGINE.inspect(prose.encode()).important == ()
    # and column names that are common words only (order exports) still indicate nothing
    orders = "订单号,收货人,快递公司,保质期,生产日期,配料,冷链\n" + "1,2,3,4,5,6,7\n" * 3000
    assert ENGINE.inspect(orders.encode()).important == ()


def _reactor_log_rows(rows: int) -> list[list[object]]:
    header: list[object] = [
        "时间",
        "堆功率(%FP)",
        "硼浓度(ppm)",
        "控制棒位置(步)",
        "稳压器压力(MPa)",
        "中子通量",
    ]
    return [header] + [[f"{h:02d}:00", 98.1, 1180 - h, 225, 15.5, 0.97] for h in range(rows)]


def _through_content_stage(data: bytes) -> list[list[int]]:
    """What the audit does with an object: extract its parts (charsets, workbooks, archives) and
    detect in each; the subclasses indicated per part."""
    parts = extract(data).parts
    assert parts
    return [[i.subclass for i in inspect_part(ENGINE, p.text).important] for p in parts]


def test_exports_are_indicated_after_the_content_stage() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    rows = _reactor_log_rows(2000)
    csv = "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"
    # a GBK CSV (Excel's default on Chinese Windows): the content stage hands it on as UTF-8
    assert _through_content_stage(csv.encode("gb18030")) == [[14]]
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    xlsx = io.BytesIO()
    book.save(xlsx)
    assert _through_content_stage(xlsx.getvalue()) == [[14]]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("export/reactor.csv", csv.encode("gb18030"))
        z.writestr("export/readme.txt", "本压缩包为例行数据备份，请勿外传。".encode())
    assert _through_content_stage(archive.getvalue()) == [[14], []]


def test_an_indicated_object_is_tagged_with_the_subclass_code() -> None:
    def upload(body: bytes) -> TransferObject:
        flow = FlowContext("C1", "tcp", "10.0.0.5", 50000, "203.0.113.9", 443)
        return TransferObject(flow, "http", "upload", 0, 0.0, body=bytearray(body))

    rows = _reactor_log_rows(500)
    csv = "\n".join(",".join(str(v) for v in r) for r in rows).encode()
    tagged = upload(csv)
    inspection = inspect_object(ENGINE, tagged)
    assert [i.code for i in inspection.findings.important] == ["JSFTZ-14"]
    assert "important_data:JSFTZ-14" in tagged.flag_names()
    assert not inspection.findings  # a tag for the analyst, not an alert
    plain = upload((DATA / "ordinary" / "newsletter.txt").read_bytes())
    inspect_object(ENGINE, plain)
    assert not [f for f in plain.flag_names() if f.startswith("important_data:")]


def test_strongest_indication_first() -> None:
    text = REACTOR * 3 + "测绘成果 遥感影像 地形图 等高线 CGCS2000 高程。" * 2
    assert [i.subclass for i in ENGINE.inspect(text.encode()).important] == [14, 3]
    text = REACTOR + "测绘成果 遥感影像 地形图 等高线 CGCS2000 高程 正射影像 点云。" * 6
    assert [i.subclass for i in ENGINE.inspect(text.encode()).important] == [3, 14]


def test_signatures_list_shows_the_term_packs() -> None:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = type("Obj", (), {"config": EgressConfig()})()

    root.add_command(signatures_group)
    result = CliRunner().invoke(root, ["signatures", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "important-data term packs" in result.output
    assert all(f"JSFTZ-{n:02d}" in result.output for n, _c, _s in SEED_SUBCLASSES)
    assert "39 属于出口管制法管制的相关数据" in result.output


# --- loading ----------------------------------------------------------------------------------


def test_bad_term_pack_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        "format_version: 1\ncode: X-1\nsubclass: 40\ncategory: a\nname_zh: b\nname_en: c\nbasis: d\nterms: [a, b, c]\n",
        encoding="utf-8",
    )
    with pytest.raises(SignatureError, match="field 'subclass'"):
        load_term_packs((tmp_path,))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("negative_terms: [故障检修]", "contains none of the pack's terms"),
        ("common_terms: [处方]", "in both terms and common_terms: 处方"),
        ("min_distinct: 2\nmin_specific: 3", "min_specific cannot exceed min_distinct"),
    ],
)
def test_inconsistent_term_pack_is_rejected(tmp_path: Path, extra: str, message: str) -> None:
    (tmp_path / "x.yaml").write_text(
        "format_version: 1\ncode: X-1\nsubclass: 28\ncategory: a\nname_zh: b\nname_en: c\n"
        f"basis: d\nterms: [诊断, 处方, 医嘱]\n{extra}\n",
        encoding="utf-8",
    )
    with pytest.raises(SignatureError, match=message):
        load_term_packs((tmp_path,))
