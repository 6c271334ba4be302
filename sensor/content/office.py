"""Text out of Office Open XML and OpenDocument files, keeping the structure detectors use.

Spreadsheets become one CSV-like part per sheet (header row first), so the detectors see rows and
columns and count one person per row; documents and slides become paragraphs, one per line.
The XML is read with regular expressions over the bytes rather than a DOM: the formats are
machine-written and regular, a DOM of a 50 MB sheet costs gigabytes, and nothing here needs
more than element text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

Reader = Callable[[str], bytes | None]  # member name -> bytes (None: missing or over a limit)

_TAG = re.compile(rb"<[^>]*>")
_PARAGRAPH_END = re.compile(rb"</(?:w:p|a:p|text:p|text:h)>")
_TAB = re.compile(rb"<(?:w:tab|text:tab)\b[^>]*/>")
_BREAK = re.compile(rb"<(?:w:br|a:br|text:line-break)\b[^>]*/>")
_ROW = re.compile(rb"<row\b[^>]*>(.*?)</row>", re.S)
_CELL = re.compile(rb"<c\b([^>]*?)(?:/>|>(.*?)</c>)", re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+)[0-9]+"')
_CELL_TYPE = re.compile(rb'\bt="([a-zA-Z]+)"')
_VALUE = re.compile(rb"<v>(.*?)</v>", re.S)
_TEXT = re.compile(rb"<t\b[^>]*>(.*?)</t>", re.S)
_SHARED_ITEM = re.compile(rb"<si>(.*?)</si>", re.S)
_SHEET = re.compile(rb'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL = re.compile(rb'<Relationship\b[^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"')
_REL_ALT = re.compile(rb'<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"')
_ODS_ROW = re.compile(rb"<table:table-row\b[^>]*>(.*?)</table:table-row>", re.S)
_ODS_CELL = re.compile(rb"<table:table-cell\b([^>]*?)(?:/>|>(.*?)</table:table-cell>)", re.S)
_ODS_REPEAT = re.compile(rb'table:number-columns-repeated="([0-9]+)"')
_ODS_TABLE = re.compile(rb'<table:table\b[^>]*?table:name="([^"]*)"[^>]*>(.*?)</table:table>', re.S)
MAX_REPEAT = 64  # repeated empty ODS cells are padding; more than this is not data


def _unescape(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", errors="replace"))


def paragraphs(xml: bytes) -> bytes:
    """Element text of a WordprocessingML, DrawingML or ODF body, a paragraph per line."""
    xml = _PARAGRAPH_END.sub(b"\n", xml)
    xml = _TAB.sub(b"\t", xml)
    xml = _BREAK.sub(b"\n", xml)
    return _unescape(_TAG.sub(b"", xml)).encode("utf-8")


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number - 1


def _shared_strings(xml: bytes | None) -> list[str]:
    if not xml:
        return []
    return [
        "".join(_unescape(t) for t in _TEXT.findall(item)) for item in _SHARED_ITEM.findall(xml)
    ]


def sheet_rows(xml: bytes, shared: list[str]) -> Iterator[str]:
    """CSV lines of one worksheet; cells keep their column (gaps become empty fields)."""
    for row in _ROW.finditer(xml):
        fields: list[str] = []
        for cell in _CELL.finditer(row.group(1)):
            attrs, body = cell.group(1), cell.group(2) or b""
            ref = _CELL_REF.search(attrs)
            if ref:
                column = _column_number(ref.group(1))
                if column > len(fields) + 16384:  # a lying reference: do not pad millions
                    continue
                fields.extend([""] * (column - len(fields)))
            kind = _CELL_TYPE.search(attrs)
            cell_type = kind.group(1) if kind else b"n"
            if cell_type == b"inlineStr":
                value = "".join(_unescape(t) for t in _TEXT.findall(body))
            else:
                found = _VALUE.search(body)
                raw = _unescape(found.group(1)) if found else ""
                if cell_type == b"s" and raw.isdigit() and int(raw) < len(shared):
                    value = shared[int(raw)]
                else:
                    value = raw
            fields.append(_csv_field(value))
        yield ",".join(fields)


def _relationships(xml: bytes | None) -> dict[bytes, bytes]:
    if not xml:
        return {}
    rels = {rid: target for rid, target in _REL.findall(xml)}
    rels.update({rid: target for target, rid in _REL_ALT.findall(xml)})
    return rels


def xlsx_sheets(read: Reader) -> Iterator[tuple[str, bytes]]:
    """(sheet name, CSV bytes) per worksheet, in workbook order."""
    shared = _shared_strings(read("xl/sharedStrings.xml"))
    workbook = read("xl/workbook.xml") or b""
    rels = _relationships(read("xl/_rels/workbook.xml.rels"))
    for name, rid in _SHEET.findall(workbook):
        target = rels.get(rid)
        if target is None:
            continue
        path = target.decode("utf-8", "replace").lstrip("/")
        if not path.startswith("xl/"):
            path = "xl/" + path
        xml = read(path)
        if xml is not None:
            yield _unescape(name), "\n".join(sheet_rows(xml, shared)).encode("utf-8") + b"\n"


def ods_sheets(xml: bytes) -> Iterator[tuple[str, bytes]]:
    """(table name, CSV bytes) per table of an OpenDocument spreadsheet's content.xml."""
    for table in _ODS_TABLE.finditer(xml):
        lines = []
        for row in _ODS_ROW.finditer(table.group(2)):
            fields: list[str] = []
            for cell in _ODS_CELL.finditer(row.group(1)):
                repeat = _ODS_REPEAT.search(cell.group(1))
                count = min(int(repeat.group(1)), MAX_REPEAT) if repeat else 1
                text = paragraphs(cell.group(2) or b"").decode("utf-8").strip()
                fields.extend([_csv_field(text)] * count)
            while fields and not fields[-1]:
                fields.pop()
            lines.append(",".join(fields))
        yield _unescape(table.group(1)), "\n".join(lines).encode("utf-8") + b"\n"


def _numbered(names: list[str], prefix: str) -> list[str]:
    found = [n for n in names if n.startswith(prefix) and n.endswith(".xml")]
    return sorted(found, key=lambda n: int(re.sub(r"\D", "", n) or 0))


def office_parts(kind: str, names: list[str], read: Reader) -> Iterator[tuple[str, bytes]]:
    """(part name, UTF-8 text) of an Office file already opened as a ZIP (``names``: its
    members)."""
    if kind == "xlsx":
        yield from xlsx_sheets(read)
    elif kind == "docx":
        for name in ["word/document.xml", *_numbered(names, "word/footnotes")]:
            xml = read(name)
            if xml:
                yield name, paragraphs(xml)
    elif kind == "pptx":
        for name in _numbered(names, "ppt/slides/slide"):
            xml = read(name)
            if xml:
                yield name, paragraphs(xml)
    elif kind in ("odt", "ods"):
        xml = read("content.xml")
        if xml:
            if kind == "ods":
                yield from ods_sheets(xml)
            else:
                yield "content.xml", paragraphs(xml)
