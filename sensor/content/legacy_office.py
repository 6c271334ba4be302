"""Text out of legacy Excel workbooks (BIFF ``.xls`` inside an OLE2 container), via xlrd.

Old ``.xls`` files are still what many systems export, and their bytes hide what the detectors
look for: text cells are UTF-16 or Latin-1 in a shared string table, and numbers (a mobile typed
as a number) are binary doubles. Each sheet becomes a CSV part, header row first, like an
``.xlsx`` sheet (``sensor.content.office``), so rows and columns keep counting one person per row.

Numbers that are whole are written without a decimal point (13812345678.0 -> ``13812345678``),
as Excel shows them in a General cell; dates stay serial numbers (the detectors do not use
them). An OLE file that is not a workbook (a ``.doc``, ``.ppt``, ``.msg``) raises ``NotAWorkbook``
and the caller flags it unsupported, as before. The CSV is bounded by ``max_bytes`` (the caller's
budget): the row that would cross it and everything after are left out, and ``truncated`` says
so. (xlrd itself holds the parsed file, which the object size limit already bounds.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import xlrd

MAX_EXACT_FLOAT = 2**53  # above this a double no longer holds every integer


class NotAWorkbook(Exception):
    """The OLE container holds no Excel workbook stream (a .doc, .ppt, .msg)."""


class DamagedWorkbook(Exception):
    """A workbook xlrd cannot read: damaged, cut short, or built to break parsers."""


@dataclass
class Sheets:
    parts: list[tuple[str, bytes]]  # (sheet name, CSV bytes) in workbook order
    truncated: bool = False  # the byte budget was reached
    damaged: bool = False  # a sheet after the ones in ``parts`` could not be read


def _cell_text(cell: xlrd.sheet.Cell) -> str:
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return ""
    if cell.ctype in (xlrd.XL_CELL_NUMBER, xlrd.XL_CELL_DATE):
        value = float(cell.value)
        if math.isfinite(value) and value.is_integer() and abs(value) < MAX_EXACT_FLOAT:
            return str(int(value))
        return repr(value)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if cell.value else "FALSE"
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return ""
    return str(cell.value)


def _csv_field(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _rows(sheet: xlrd.sheet.Sheet, budget: list[int]) -> Iterator[bytes]:
    for r in range(sheet.nrows):
        line = ",".join(_csv_field(_cell_text(cell)) for cell in sheet.row(r)).encode() + b"\n"
        budget[0] -= len(line)
        if budget[0] < 0:
            return
        yield line


def xls_sheets(data: bytes, max_bytes: int) -> Sheets:
    """Every worksheet of the ``.xls`` in ``data`` as CSV, at most ``max_bytes`` in all.

    xlrd raises many exception types on hostile input (struct.error, AssertionError, LookupError
    for a made-up code page...); all of them become ``DamagedWorkbook``, or, once some sheets were
    read, a truncated result: a capture must never stop the audit."""
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=_Quiet())
    except xlrd.XLRDError as exc:
        if "find workbook" in str(exc):  # xlrd: "Can't find workbook in OLE2 compound document"
            raise NotAWorkbook(str(exc)) from None
        raise DamagedWorkbook(str(exc)) from None
    except Exception as exc:
        raise DamagedWorkbook(f"{type(exc).__name__}: {exc}") from None
    budget = [max_bytes]
    out = Sheets([])
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            text = b"".join(_rows(sheet, budget))
            if text:
                out.parts.append((sheet.name, text))
            book.unload_sheet(index)
            if budget[0] < 0:
                out.truncated = True
                break
    except Exception as exc:
        if not out.parts:
            raise DamagedWorkbook(f"{type(exc).__name__}: {exc}") from None
        out.damaged = True
    finally:
        book.release_resources()
    return out


class _Quiet:
    """xlrd writes warnings to a log file object; they are not the audit's business."""

    def write(self, _text: str) -> int:
        return 0
