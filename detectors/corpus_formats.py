"""The labelled corpus written as the files people send: GBK CSV, XLSX, XLS, DOC, DOCX, PPT, PDF.

``detectors.corpus`` writes UTF-8 documents with byte-span labels. This module writes the same
people and decoys again in the other formats of the issue, so that accuracy is measured through
content extraction (charset detection, the Office readers, PDF text) as an object on the wire is:

    CSV people export  -> csv-utf8 (as generated), csv-gbk, xlsx and legacy xls (one sheet,
                          header row first), doc-table (a legacy Word table, header row first),
                          and a printed report (one "header：value" line per person) as text,
                          docx, ppt (a slide per ``PPT_LINES`` lines) and pdf: the same people,
                          without table structure
    JSON payload       -> json;  service log -> ndjson
    free text          -> text (as generated), docx and legacy doc (a paragraph per line),
                          ppt (a slide per ``PPT_LINES`` lines), pdf (a line per line)

After extraction the bytes differ from the generated ones (GBK becomes UTF-8, a sheet becomes CSV,
PDF text is re-flowed), so the truth of a rendered file is the multiset of labelled
``(identifier, value)`` pairs, not byte spans. A detection whose value differs by one character
from a label still counts as a false positive and a false negative.

Writers: openpyxl (XLSX), xlwt (XLS), python-docx (DOCX), fpdf2 with a CJK TrueType font (PDF), all
test dependencies (``deploy/install.sh --test``; ``formats_available`` says which are usable),
and the project's own minimal legacy Word/PowerPoint writers (``detectors.legacy_writers``, checked
against antiword and catppt in the tests), always available.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from detectors import legacy_writers
from detectors.corpus import Document

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FIXED_TIME = datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)  # for reproducible files
STRUCTURED = ("csv-utf8", "csv-gbk", "xlsx", "xls", "doc-table", "json")  # a person per record
UNSTRUCTURED = ("text", "docx", "doc", "ppt", "pdf")
PPT_LINES = 20  # lines of a report or note on one slide
PDF_WIDTH_MM = 420.0  # A3 landscape: a report line fits, as in a printed export
PDF_FONT_PT = 9


@dataclass(frozen=True, slots=True)
class Rendered:
    """One file of the corpus as it would cross the wire, with its independent truth."""

    name: str
    fmt: str  # csv-utf8, csv-gbk, xlsx, xls, doc-table, json, ndjson, text, docx, doc, ppt, pdf
    data: bytes
    truth: tuple[tuple[str, str], ...]  # (identifier, value as written), one per label
    people: int | None


def truth_values(doc: Document) -> tuple[tuple[str, str], ...]:
    return tuple(
        (lab.identifier, doc.data[lab.start : lab.end].decode("utf-8")) for lab in doc.labels
    )


def formats_available() -> dict[str, bool]:
    found = {}
    for fmt, module in (("xlsx", "openpyxl"), ("xls", "xlwt"), ("docx", "docx"), ("pdf", "fpdf")):
        try:
            __import__(module)
            found[fmt] = fmt != "pdf" or CJK_FONT.exists()
        except ImportError:
            found[fmt] = False
    return found


def csv_rows(doc: Document) -> list[list[str]]:
    return list(csv.reader(io.StringIO(doc.data.decode("utf-8"), newline="")))


def csv_gbk(doc: Document) -> bytes:
    """The export as Excel and most Chinese systems save it: GBK, no byte-order mark."""
    return doc.data.decode("utf-8").encode("gbk")


def _is_plain_number(value: str) -> bool:
    """What Excel stores as a number: at most 15 significant digits, no leading zero."""
    return value.isdigit() and len(value) <= 15 and not value.startswith("0")


def xlsx(rows: list[list[str]]) -> bytes:
    """One sheet; digit strings Excel keeps exactly (mobiles, amounts' integer parts) as numbers,
    longer ones (resident IDs, cards) as text, as an exported workbook has them."""
    import openpyxl  # type: ignore[import-untyped]

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户"
    for row in rows:
        sheet.append([int(v) if _is_plain_number(v) else v for v in row])
    book.properties.created = FIXED_TIME.replace(tzinfo=None)
    book.properties.modified = FIXED_TIME.replace(tzinfo=None)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls(rows: list[list[str]]) -> bytes:
    """The same sheet as ``xlsx`` in the legacy BIFF8 format old systems still export."""
    import xlwt  # type: ignore[import-untyped]

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, int(value) if _is_plain_number(value) else value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_lines(rows: list[list[str]]) -> list[str]:
    """A people table printed as a report: one line per person, ``header：value`` pairs."""
    header, *body = rows
    return ["，".join(f"{h}：{v}" for h, v in zip(header, row, strict=True) if v) for row in body]


def text_lines(doc: Document) -> list[str]:
    return [line.rstrip("\r") for line in doc.data.decode("utf-8").split("\n") if line.strip()]


def docx(lines: list[str]) -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    for line in lines:
        document.add_paragraph(line)
    document.core_properties.created = FIXED_TIME
    document.core_properties.modified = FIXED_TIME
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf(lines: list[str]) -> bytes:
    """Each line as text lines of an A3 landscape page, broken between fields where too wide."""
    import fpdf

    document = fpdf.FPDF(orientation="landscape", format="A3")
    document.set_creation_date(FIXED_TIME)
    document.add_font("wqy", fname=str(CJK_FONT))
    document.set_font("wqy", size=PDF_FONT_PT)
    document.add_page()
    width = document.epw - 2 * document.c_margin - 1  # what multi_cell leaves for text
    for line in lines:
        for piece in _fit(line, width, document.get_string_width):
            document.multi_cell(w=0, text=piece, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def _fit(line: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Break a line between fields (after ``，`` or ``; ``), as a report writer lays out a
    record that does not fit; a single field wider than the page is left to fpdf2's wrapping."""
    pieces: list[str] = []
    current = ""
    for field in re.split(r"(?<=，)|(?<=; )", line):
        if current and measure(current + field) > width:
            pieces.append(current)
            current = field
        else:
            current += field
    return [*pieces, current] if current else pieces


def slides(lines: list[str]) -> list[list[str]]:
    return [lines[i : i + PPT_LINES] for i in range(0, len(lines), PPT_LINES)]


def render(doc: Document, available: dict[str, bool]) -> Iterator[Rendered]:
    """``doc`` in every format that fits its shape (and whose writer is installed)."""
    truth = truth_values(doc)
    if doc.kind == "csv":
        rows = csv_rows(doc)
        lines = report_lines(rows)
        yield Rendered(doc.name, "csv-utf8", doc.data, truth, doc.people)
        yield Rendered(doc.name, "csv-gbk", csv_gbk(doc), truth, doc.people)
        if available["xlsx"]:
            yield Rendered(doc.name, "xlsx", xlsx(rows), truth, doc.people)
        if available["xls"]:
            yield Rendered(doc.name, "xls", xls(rows), truth, doc.people)
        yield Rendered(doc.name, "doc-table", legacy_writers.doc([], rows), truth, doc.people)
        report = doc.name + "-report"
        yield Rendered(report, "text", "\n".join(lines).encode() + b"\n", truth, doc.people)
        if available["docx"]:
            yield Rendered(report, "docx", docx(lines), truth, doc.people)
        yield Rendered(report, "ppt", legacy_writers.ppt(slides(lines)), truth, doc.people)
        if available["pdf"]:
            yield Rendered(report, "pdf", pdf(lines), truth, doc.people)
    elif doc.kind == "text":
        yield Rendered(doc.name, "text", doc.data, truth, None)
        lines = text_lines(doc)
        if available["docx"]:
            yield Rendered(doc.name, "docx", docx(lines), truth, None)
        yield Rendered(doc.name, "doc", legacy_writers.doc(lines), truth, None)
        yield Rendered(doc.name, "ppt", legacy_writers.ppt(slides(lines)), truth, None)
        if available["pdf"]:
            yield Rendered(doc.name, "pdf", pdf(lines), truth, None)
    else:  # json, ndjson
        yield Rendered(doc.name, doc.kind, doc.data, truth, doc.people)
