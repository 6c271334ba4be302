"""``egress signatures …`` and ``egress scan`` (detectors/cli.py), the accuracy report, and the
resident-ID findings on the bundled sample uploads."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner, Result

from detectors.accuracy import FORMAT_ORDER, meets, run
from detectors.catalogue import load_catalogue
from detectors.cli import scan_command, signatures_group
from detectors.corpus_formats import STRUCTURED
from detectors.engine import DetectionEngine
from sensor.config import EgressConfig, SignaturesConfig

REPO = Path(__file__).resolve().parent.parent
PERSON = "张伟,11010519491231002X,13812345678,zhang.wei@example.com\n"


class _Obj:
    def __init__(self, config: EgressConfig) -> None:
        self.config = config


def _cli() -> click.Group:
    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = _Obj(EgressConfig(signatures=SignaturesConfig(disabled=("vin",))))

    root.add_command(signatures_group)
    root.add_command(scan_command)
    return root


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(_cli(), list(args), env={"COLUMNS": "250"})


def test_signatures_list_shows_active_identifiers() -> None:
    result = _invoke("signatures", "list")
    assert result.exit_code == 0, result.output
    assert "cn_resident_id@1" in result.output and "居民身份证号码" in result.output
    assert "vin@1" not in result.output  # disabled by the configuration
    everything = _invoke("signatures", "list", "--all")
    assert "vin@1" in everything.output and "disabled" in everything.output


def test_signatures_test_explains_a_file(tmp_path: Path) -> None:
    sample = tmp_path / "people.csv"
    sample.write_text(
        "姓名,身份证号,手机号,邮箱\n" + PERSON + "李娜,110105194912310021,13912345678,x\n",
        encoding="utf-8",
    )
    result = _invoke("signatures", "test", str(sample))
    assert result.exit_code == 0, result.output
    assert "cn_resident_id" in result.output and "110105********002X" in result.output
    assert "distinct individuals: 2" in result.output
    assert "11010519491231002X" not in result.output


def test_scan_json_and_table(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("name,id,mobile,email\n" + PERSON * 3, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("nothing here", encoding="utf-8")
    result = _invoke("scan", "--json", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [Path(r["file"]).name for r in records] == ["a.csv", "b.txt"]
    first = records[0]
    assert first["individuals"]["distinct"] == 1 and len(first["individuals"]["keys"]) == 1
    assert {f["identifier"] for f in first["findings"]} == {
        "cn_person_name",
        "cn_resident_id",
        "cn_mobile",
        "email",
    }
    assert "11010519491231002X" not in result.output and "13812345678" not in result.output
    table = _invoke("scan", str(tmp_path / "a.csv"))
    assert table.exit_code == 0 and "cn_resident_id (3)" in table.output


def test_scan_with_a_key_file_is_reproducible(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_text(PERSON, encoding="utf-8")
    key = tmp_path / "key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef")
    runs = [
        json.loads(_invoke("scan", "--json", "--identity-key-file", str(key), str(data)).output)
        for _ in range(2)
    ]
    assert runs[0]["individuals"]["keys"] == runs[1]["individuals"]["keys"]
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    failed = _invoke("scan", "--identity-key-file", str(short), str(data))
    assert failed.exit_code != 0


def test_scan_missing_path_is_a_user_error(tmp_path: Path) -> None:
    result = _invoke("scan", str(tmp_path / "nope"))
    assert result.exit_code != 0
    assert "no such file or directory" in str(result.exception)


# Below target in one format only, for a cause outside extraction (docs/accuracy.md, "Causes"):
# a one-comma-per-line report read as a table by detectors/layout.py. Remove when fixed.
KNOWN_FORMAT_MISSES: set[tuple[str, str]] = set()


def test_accuracy_meets_targets_and_docs_are_current() -> None:
    """The issue's targets, regenerated through content extraction in every format: each
    identifier overall and per format (check-digit ones 99.5 % / 99.5 %, others 95 % / 90 %),
    and distinct individuals within 1 % on every structured format."""
    report, text = run()
    assert set(report.kinds) == set(FORMAT_ORDER), report.kinds  # every writer was installed
    failing = [i for i in report.tallies if not report.meets(i)]
    assert not failing, failing
    per_format = {
        (fmt, ident)
        for fmt, tallies in report.by_format.items()
        for ident, tally in tallies.items()
        if tally.tp + tally.fp + tally.fn and not meets(ident, tally)
    }
    assert per_format == KNOWN_FORMAT_MISSES
    for fmt in STRUCTURED:
        people = report.people[fmt]
        assert people.documents >= 40
        assert people.mean <= 0.01 and people.total_error <= 0.01, (fmt, people)
    assert (REPO / "docs" / "accuracy.md").read_text(encoding="utf-8") == text, (
        "docs/accuracy.md is stale: run `egress signatures accuracy --out docs/accuracy.md`"
    )


def test_sample_uploads_keep_their_resident_id_findings() -> None:
    """The bundled sample's resident-ID findings, which the end-to-end audit reports, unchanged
    by the larger catalogue: counts, decoy rejections and masked samples (the values the
    walking-skeleton engine gave; the order list's two long-run decoys are no candidates)."""
    from bench.traffic.sample import build_uploads

    engine = DetectionEngine(load_catalogue())
    found = []
    for upload in build_uploads():
        result = engine.inspect(upload.body)
        rid = [f for f in result.findings if f.identifier == "cn_resident_id"]
        found.append((rid[0].count, rid[0].distinct, rid[0].rejected) if rid else (0, 0, 0))
    assert found == [(45, 40, 6), (8, 8, 0), (5, 5, 0), (0, 0, 8)]
    first = engine.inspect(build_uploads()[0].body)
    (rid,) = [f for f in first.findings if f.identifier == "cn_resident_id"]
    assert rid.masked_samples == ("440305********0705", "310115********973X", "440305********2275")


def test_scan_reads_inside_office_files_as_the_audit_does(tmp_path: Path) -> None:
    """`egress scan` extracts content (sheets, archives, PDF) before detection, so a workbook gives
    its people; before, it scanned the raw bytes and a compressed .xlsx gave none."""
    from tests.test_content_extract import PEOPLE, _xls, _xlsx

    (tmp_path / "people.xlsx").write_bytes(_xlsx())
    (tmp_path / "people.xls").write_bytes(_xls())
    result = _invoke("scan", "--json", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = {Path(r["file"]).name: r for r in map(json.loads, result.output.splitlines())}
    for name, kind in (("people.xlsx", "xlsx-sheet"), ("people.xls", "xls-sheet")):
        record = records[name]
        assert record["individuals"]["distinct"] == len(PEOPLE)
        assert record["layout"] == "rows"
        (part,) = record["parts"]
        assert (part["path"], part["kind"]) == ("客户", kind)
        assert part["identifiers"] == {
            "cn_mobile": len(PEOPLE),
            "cn_person_name": len(PEOPLE),
            "cn_resident_id": len(PEOPLE),
        }


def test_scan_reports_the_people_of_legacy_word_and_powerpoint_files(tmp_path: Path) -> None:
    """`egress scan` reads .doc (a Word table: one person per row) and .ppt (slide text)."""
    from detectors import legacy_writers
    from tests.test_content_extract import HEADER, PEOPLE

    (tmp_path / "people.doc").write_bytes(legacy_writers.doc([], [list(HEADER), *PEOPLE]))
    lines = [f"{name} 身份证号 {rid} 手机 {mobile}" for name, rid, mobile in PEOPLE]
    (tmp_path / "people.ppt").write_bytes(legacy_writers.ppt([lines]))
    result = _invoke("scan", "--json", str(tmp_path))
    assert result.exit_code == 0, result.output
    records = {Path(r["file"]).name: r for r in map(json.loads, result.output.splitlines())}
    for name, kind in (("people.doc", "doc"), ("people.ppt", "ppt")):
        record = records[name]
        assert record["individuals"]["distinct"] == len(PEOPLE), record
        (part,) = record["parts"]
        assert part["kind"] == kind
        assert part["identifiers"]["cn_resident_id"] == len(PEOPLE)
        assert part["identifiers"]["cn_mobile"] == len(PEOPLE)
    assert records["people.doc"]["layout"] == "rows"
    table = _invoke("scan", str(tmp_path / "people.doc"))
    assert table.exit_code == 0 and f"cn_resident_id ({len(PEOPLE)})" in table.output
