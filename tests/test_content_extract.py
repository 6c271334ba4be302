"""Content extraction: real Office, PDF and archive files made by their own libraries, charsets,
and the limits against decompression bombs (sensor/content/extract.py, charset.py, office.py)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import tarfile
import zipfile
from pathlib import Path

import pytest

from detectors.catalogue import load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import DetectionEngine
from sensor.content.charset import detect_charset, to_utf8
from sensor.content.extract import ExtractionLimits, extract, markup_text

_MAKER = ValueMaker(random.Random(20261123))
PEOPLE = [(name, _MAKER.resident_id(), _MAKER.mobile()) for name in ("张伟", "王芳", "李娜")]
HEADER = ("姓名", "身份证号", "手机号")
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
ENGINE = DetectionEngine(load_catalogue((), frozenset()), identity_key=b"k" * 16)


def _csv(encoding: str = "utf-8") -> bytes:
    lines = [",".join(HEADER)] + [",".join(p) for p in PEOPLE]
    return ("\n".join(lines) + "\n").encode(encoding)


def _xlsx() -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户"
    sheet.append(HEADER)
    for person in PEOPLE:
        sheet.append(person)
    other = book.create_sheet("说明")
    other.append(["本表仅供测试"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _xls(people: list[tuple[str, str, str]] | None = None) -> bytes:
    """A legacy .xls (BIFF8 in OLE2) as old systems export it: IDs as text, mobiles as numbers."""
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    for column, title in enumerate(HEADER):
        sheet.write(0, column, title)
    for row, (name, rid, mobile) in enumerate(people or PEOPLE, start=1):
        sheet.write(row, 0, name)
        sheet.write(row, 1, rid)
        sheet.write(row, 2, int(mobile))
    book.add_sheet("说明").write(0, 0, "本表仅供测试")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _docx() -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    for name, rid, mobile in PEOPLE:
        document.add_paragraph(f"客户{name}，身份证号 {rid}，手机 {mobile}。")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _pptx() -> bytes:
    pptx = pytest.importorskip("pptx")
    deck = pptx.Presentation()
    for name, rid, _ in PEOPLE:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = name
        slide.placeholders[1].text = f"身份证号 {rid}"
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def _pdf() -> bytes:
    fpdf = pytest.importorskip("fpdf")
    if not CJK_FONT.exists():
        pytest.skip("fonts-wqy-microhei is not installed (deploy/install.sh --test installs it)")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.add_font("wqy", fname=str(CJK_FONT))
    pdf.set_font("wqy", size=12)
    for name, rid, mobile in PEOPLE:
        pdf.cell(text=f"姓名：{name} 身份证号：{rid} 手机：{mobile}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _zip(members: dict[str, bytes], encrypt_flag: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = bytearray(buf.getvalue())
    if encrypt_flag:  # mark every entry encrypted, as a password-protected archive is
        raw[6] |= 1
        central = raw.find(b"PK\x01\x02")
        while central != -1:
            raw[central + 8] |= 1
            central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def _resident_ids(data: bytes) -> int:
    """Distinct people found across the parts of ``data``."""
    keys: set[str] = set()
    for part in extract(data).parts:
        keys.update(ENGINE.inspect(part.text).individual_keys)
    return len(keys)


@pytest.mark.parametrize(
    ("maker", "kind"),
    [(_xlsx, "xlsx-sheet"), (_xls, "xls-sheet"), (_docx, "docx"), (_pptx, "pptx"), (_pdf, "pdf")],
    ids=["xlsx", "xls", "docx", "pptx", "pdf"],
)
def test_documents_made_by_real_libraries_yield_their_people(maker, kind) -> None:  # type: ignore[no-untyped-def]
    data = maker()
    result = extract(data)
    assert result.flags == []
    assert {p.kind for p in result.parts} == {kind}
    text = b"\n".join(p.text for p in result.parts)
    for name, rid, _ in PEOPLE:
        assert name.encode() in text and rid.encode() in text
    assert _resident_ids(data) == len(PEOPLE)


def test_justified_pdf_text_keeps_numbers_written_with_spaces() -> None:
    """A justified paragraph stretches its gaps; pypdf reads each as two spaces, which hid
    ``150 0295 5862`` from the mobile pattern until extraction collapsed the runs."""
    fpdf = pytest.importorskip("fpdf")
    if not CJK_FONT.exists():
        pytest.skip("fonts-wqy-microhei is not installed (deploy/install.sh --test installs it)")
    mobile = _MAKER.mobile()
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.add_font("wqy", fname=str(CJK_FONT))
    pdf.set_font("wqy", size=12)
    pdf.multi_cell(w=0, text=f"客户手机号 {spaced} 请尽快回电 " * 8)  # justified: wraps 3 times
    text = extract(bytes(pdf.output())).parts[0].text
    assert b"  " not in text
    found = ENGINE.detect(text).accepted["cn_mobile"]
    lines = text.count(b"\n") + 1
    assert lines >= 3 and found.starts.size >= 8 - (lines - 1)  # a wrapped one may be split


def test_spreadsheet_sheets_are_separate_tables_with_their_header_first() -> None:
    parts = extract(_xlsx()).parts
    assert [p.path for p in parts] == ["客户", "说明"]
    assert parts[0].text.splitlines()[0] == ",".join(HEADER).encode()
    findings = ENGINE.inspect(parts[0].text)
    assert findings.layout == "rows" and findings.distinct_individuals == len(PEOPLE)


def test_legacy_xls_sheets_are_tables_and_numbers_keep_their_digits() -> None:
    """Mobiles stored as numbers come out as the digits Excel shows (not 13812345678.0), so the
    sheet reads as a table with one person per row; the raw .xls bytes hide them (UTF-16 text and
    binary doubles)."""
    data = _xls()
    parts = extract(data).parts
    assert [p.path for p in parts] == ["客户", "说明"]
    lines = parts[0].text.decode().splitlines()
    assert lines == [",".join(HEADER)] + [",".join(p) for p in PEOPLE]
    findings = ENGINE.inspect(parts[0].text)
    assert findings.layout == "rows" and findings.distinct_individuals == len(PEOPLE)
    found = {f.identifier: f.count for f in findings.findings}
    assert found["cn_mobile"] == found["cn_resident_id"] == len(PEOPLE)
    raw = {f.identifier: f.count for f in ENGINE.inspect(data).findings}
    assert raw.get("cn_mobile", 0) == 0  # what was read before: the container's raw bytes


def test_legacy_office_files_that_are_not_workbooks_are_flagged() -> None:
    data = bytearray(_xls())
    stream = "Workbook".encode("utf-16-le")
    at = data.find(stream)
    assert at > 0
    data[at : at + len(stream)] = "Xorkbook".encode("utf-16-le")  # as a .doc: no workbook stream
    result = extract(bytes(data))
    assert result.parts == [] and result.flags == ["unsupported:ole"]


def test_damaged_legacy_workbooks_are_flagged_never_raised() -> None:
    """xlrd raises struct.error, AssertionError or LookupError (a made-up code page) on damaged
    input; every one becomes ``error:xls``. Measured on 3,000 random mutations of this workbook:
    423 raised out of ``extract`` before the fix, none after (2,260 flagged ``error:xls``)."""
    base = _xls()
    rng = random.Random(1)
    seen: set[tuple[str, ...]] = set()
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        result = extract(bytes(data))  # must not raise
        seen.add(tuple(result.flags))
    assert ("error:xls",) in seen
    # error:ole: the container itself no longer parses (olefile tells the file's kind first)
    assert seen <= {(), ("error:xls",), ("error:ole",), ("unsupported:ole",), ("limit:size",)}


def test_legacy_xls_is_bounded_by_the_size_budget() -> None:
    maker = ValueMaker(random.Random(7))
    people = [(f"张{i}", maker.resident_id(), maker.mobile()) for i in range(300)]
    result = extract(_xls(people), ExtractionLimits(max_total_bytes=2000))
    assert "limit:size" in result.flags
    kept = b"".join(p.text for p in result.parts)
    assert 1500 < len(kept) <= 2000 and kept.endswith(b"\n")  # whole rows up to the budget


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-8-sig"])
def test_csv_in_other_encodings_reads_like_utf8(encoding: str) -> None:
    data = _csv(encoding)
    assert data != _csv()
    (part,) = extract(data).parts
    assert part.text.replace(b"\r", b"") == _csv()
    assert _resident_ids(data) == len(PEOPLE)


def test_big5_and_binary_are_told_apart() -> None:
    text = "這是一個測試，我們的國家。姓名：陳大文，電話：98765432"
    assert detect_charset(text.encode("big5")) == "big5"
    assert to_utf8(text.encode("big5"))[0].decode() == text
    assert detect_charset(bytes(range(256)) * 4) == "binary"
    assert to_utf8(b"plain ascii")[1] == "utf-8"


def test_nested_archives_name_the_path_of_each_part() -> None:
    inner = _zip({"people.csv": _csv("gbk")})
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tar:
        info = tarfile.TarInfo("export/inner.zip")
        info.size = len(inner)
        tar.addfile(info, io.BytesIO(inner))
    data = _zip({"backup.tar.gz": gzip.compress(tar_buf.getvalue()), "sheet.xlsx": _xlsx()})
    result = extract(data)
    paths = sorted(p.path for p in result.parts)
    assert paths == [
        "backup.tar.gz!/[gzip]!/export/inner.zip!/people.csv",
        "sheet.xlsx!/客户",
        "sheet.xlsx!/说明",
    ]
    gbk = next(p for p in result.parts if p.path.endswith("people.csv"))
    assert gbk.encoding == "gb18030"
    # outer zip 2, gzip stream 1, tar member 1, inner zip member 1, and the four xlsx members read
    # (workbook.xml, its relationships, two sheets; openpyxl writes no sharedStrings.xml)
    assert result.members == 9
    assert _resident_ids(data) == len(PEOPLE)


@pytest.mark.parametrize(
    ("wrap", "stream"), [(gzip.compress, "gzip"), (bz2.compress, "bzip2"), (lzma.compress, "xz")]
)
def test_compressed_streams_are_opened(wrap, stream) -> None:  # type: ignore[no-untyped-def]
    (part,) = extract(wrap(_csv())).parts
    assert part.path == f"[{stream}]" and part.text == _csv()


def test_encrypted_archive_is_flagged_not_read() -> None:
    result = extract(_zip({"people.csv": _csv()}, encrypt_flag=True))
    assert result.flags == ["encrypted"] and result.parts == []


def test_decompression_bomb_stops_at_the_ratio_limit() -> None:
    bomb = gzip.compress(b"0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    result = extract(bomb, ExtractionLimits(max_ratio=100))
    assert "limit:ratio" in result.flags
    assert result.expanded_bytes <= 100 * len(bomb) + (1 << 20)


def test_total_size_depth_and_member_limits_are_flagged() -> None:
    big = _zip({f"f{i}.csv": _csv() * 200 for i in range(5)})
    assert "limit:size" in extract(big, ExtractionLimits(max_total_bytes=40_000)).flags
    assert "limit:members" in extract(big, ExtractionLimits(max_members=3)).flags
    nested = _csv()
    for _ in range(4):
        nested = _zip({"x.zip": nested})
    deep = extract(nested, ExtractionLimits(max_depth=2))
    assert deep.flags == ["limit:depth"] and deep.parts == []


def test_damaged_inputs_are_flagged_not_raised() -> None:
    xlsx = _xlsx()
    half = extract(xlsx[: len(xlsx) // 2]).flags  # no central directory: local headers read
    assert "zip:local-headers" in half and "zip:truncated" in half
    assert "error:zip" in extract(b"PK\x03\x04" + b"\x00" * 10).flags
    assert "error:pdf" in extract(b"%PDF-1.7\n" + b"\x00garbage" * 50).flags
    assert "error:stream" in extract(b"\x1f\x8b\x08\x00" + b"not gzip at all").flags


def test_markup_keeps_element_names_and_table_rows() -> None:
    xml = b"<people><person><name>&#24352;&#20255;</name><id_no>11010519491231002X</id_no></person></people>"
    assert b"name: \xe5\xbc\xa0\xe4\xbc\x9f\n" in markup_text(xml, html=False)
    html = b"<table><tr><th>name</th><th>mobile</th></tr><tr><td>a</td><td>13812345678</td></tr></table>"
    lines = [line.strip() for line in markup_text(html, html=True).splitlines()]
    assert b"name, mobile," in lines and b"a, 13812345678," in lines


def test_audit_reads_inside_an_uploaded_archive(tmp_path: Path) -> None:
    """A zip with a workbook and a GBK CSV of the same three people, POSTed abroad: one alert,
    three people (not six), and the alert names the sheet and the member where they were."""
    from sensor.audit import Audit
    from sensor.config import EgressConfig
    from tests.pcapbytes import global_header
    from tests.test_http_audit import ABROAD, HOME, _http, _session

    archive = _zip({"people.xlsx": _xlsx(), "legacy/people.csv": _csv("gbk")})
    locked = _zip({"people.csv": _csv()}, encrypt_flag=True)
    pcap = _session(HOME, ABROAD, *_http(archive, b"ok")) + _session(
        HOME, ABROAD, *_http(locked, b"ok"), cport=40001
    )
    path = tmp_path / "cap.pcap"
    path.write_bytes(global_header() + pcap)
    out = tmp_path / "case"
    Audit(EgressConfig(), out).run([path])
    (alert,) = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alert["individuals"]["distinct"] == len(PEOPLE)
    assert [(p["path"], p["encoding"]) for p in alert["object"]["parts"]] == [
        ("people.xlsx!/客户", "utf-8"),
        ("legacy/people.csv", "gb18030"),
    ]
    objects = [json.loads(line) for line in (out / "objects.jsonl").read_text().splitlines()]
    uploads = [o for o in objects if o["object"]["direction"] == "upload"]
    assert "encrypted" in uploads[1]["object"]["flags"]  # sniffed: not unpacked, not scanned


def test_classes_of_people_are_combined_across_parts() -> None:
    """A workbook whose two sheets list the same people, one sheet with bank cards: each class is
    the union over the sheets, so nobody counts twice."""
    from detectors.combine import PartFindings, combine

    cards = [_MAKER.unionpay() for _ in PEOPLE]
    sheet_a = _csv()
    sheet_b = (
        "姓名,身份证号,银行卡号\n"
        + "".join(f"{n},{r},{c}\n" for (n, r, _), c in zip(PEOPLE, cards, strict=True))
    ).encode()
    parts = [
        PartFindings(name, "xlsx-sheet", "utf-8", len(d), ENGINE.inspect(d))
        for name, d in (("a", sheet_a), ("b", sheet_b))
    ]
    combined = combine(parts)
    assert combined.individuals_by_class == {
        "personal": len(PEOPLE),
        "sensitive": len(PEOPLE),
        "account_or_medical": len(PEOPLE),
    }
