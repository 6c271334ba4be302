"""The accuracy corpus's truth is right by itself: labels match what was written, in every format.

The oracle must not lean on ``detectors/``: check characters are recomputed here from the
standards (GB 11643, Luhn, ISO 13616 mod 97, GB 32100, ISO 3779, the HKID weights), and labelled
values are looked up in each file with a reader the sensor does not use (the GBK codec, openpyxl,
python-docx; for PDF, the text lines handed to fpdf2 after layout).
"""

from __future__ import annotations

import datetime
import functools
import io
import re
import shutil
import string
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from detectors.corpus import CorpusGenerator, Document
from detectors.corpus_formats import (
    STRUCTURED,
    Rendered,
    _fit,
    csv_rows,
    formats_available,
    render,
    report_lines,
    text_lines,
    truth_values,
)

DOCUMENTS = list(CorpusGenerator().documents(30))
USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _gb11643(value: str) -> bool:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(value[:17], weights, strict=True))
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return "10X98765432"[total % 11] == value[17]


def _luhn(value: str) -> bool:
    digits = [int(c) for c in re.sub(r"[ -]", "", value)][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _iban(value: str) -> bool:
    v = value.replace(" ", "")
    return int("".join(str(int(c, 36)) for c in v[4:] + v[:4])) % 97 == 1


def _uscc(value: str) -> bool:
    total = sum(USCC.index(c) * pow(3, i, 31) for i, c in enumerate(value[:17]))
    return USCC[(31 - total % 31) % 31] == value[17]


def _vin(value: str) -> bool:
    letters = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", "12345678123457923456789", strict=True))
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    total = sum(int(letters.get(c, c)) * w for c, w in zip(value, weights, strict=True)) % 11
    return value[8] == ("X" if total == 10 else str(total))


def _hkid(value: str) -> bool:
    m = re.fullmatch(r"([A-Z]{1,2})([0-9]{6})\(([0-9A])\)", value)
    assert m, value
    letters, body, check = m.groups()
    values = ([36] if len(letters) == 1 else []) + [ord(c) - 55 for c in letters]
    values += [int(d) for d in body]
    expected = (11 - sum(w * v for w, v in zip(range(9, 1, -1), values, strict=True)) % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


CHECKS = {
    "cn_resident_id": _gb11643,
    "unionpay_card": _luhn,
    "payment_card": _luhn,
    "iban": _iban,
    "cn_uscc": _uscc,
    "vin": _vin,
    "hk_identity_card": _hkid,
}


def test_check_digit_labels_pass_their_standard_and_decoys_do_not() -> None:
    checked: Counter[str] = Counter()
    for doc in DOCUMENTS:
        for identifier, value in truth_values(doc):
            if identifier in CHECKS:
                assert CHECKS[identifier](value), (doc.name, identifier, value)
                checked[identifier] += 1
        labelled = {(lab.start, lab.end) for lab in doc.labels}
        text = doc.data.decode("utf-8")
        for m in re.finditer(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])", text):
            span = (len(text[: m.start()].encode()), len(text[: m.end()].encode()))
            if span not in labelled and doc.kind == "csv" and _gb11643(m.group()):
                # an unlabelled valid-looking ID may only be an order number, never in the ID
                # column (the second field of a row)
                line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
                assert line.count(",") != 1, (doc.name, m.group())
    assert set(checked) == set(CHECKS), checked  # every check-digit identifier was exercised


def test_decoys_of_the_generator_fail_the_independent_checks() -> None:
    v = CorpusGenerator(7).v
    for _ in range(200):
        assert not _gb11643(v.decoy_resident_id())
        assert not _luhn(v.decoy_card())
        assert not _iban(v.decoy_iban())
        assert not _uscc(v.decoy_uscc())
        assert not _vin(v.decoy_vin())
        assert not _hkid(v.decoy_hkid())


def _written_text(fmt: str, data: bytes) -> str:
    """The file's text as an independent reader sees it (not sensor/content)."""
    if fmt == "csv-gbk":
        return data.decode("gbk")
    if fmt == "xlsx":
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        return "\n".join(
            "\t".join("" if c is None else str(c) for c in row)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
        )
    if fmt == "xls":
        xlrd = pytest.importorskip("xlrd")
        book = xlrd.open_workbook(file_contents=data)
        return "\n".join(
            "\t".join(_xls_cell(c) for c in sheet.row(r))
            for sheet in book.sheets()
            for r in range(sheet.nrows)
        )
    if fmt == "docx":
        docx = pytest.importorskip("docx")
        return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    if fmt in ("doc", "doc-table", "ppt"):
        return _legacy_text(fmt, data)
    return data.decode("utf-8")


def _legacy_text(fmt: str, data: bytes) -> str:
    """antiword (.doc) or catppt (.ppt): readers that share no code with sensor/content."""
    from tests.test_legacy_doc_ppt import _antiword

    tool = "catppt" if fmt == "ppt" else "antiword"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (deploy/install.sh --test installs it)")
    with tempfile.NamedTemporaryFile(suffix="." + fmt[:3]) as handle:
        handle.write(data)
        handle.flush()
        if fmt == "ppt":
            done = subprocess.run(
                ["catppt", "-d", "utf-8", handle.name], capture_output=True, check=True, text=True
            )
            return done.stdout
        return _antiword(Path(handle.name))


def _xls_cell(cell: Any) -> str:
    value = cell.value
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


@functools.cache
def _rendered(name: str) -> tuple[Rendered, ...]:
    doc = next(d for d in DOCUMENTS if d.name == name)
    available = dict(formats_available(), pdf=False)  # PDF is checked through its layout below
    return tuple(render(doc, available))


def _count(text: str, value: str) -> int:
    return len(re.findall(re.escape(value), text))


def _labels_hold(doc: Document, text: str) -> None:
    wanted = Counter(value for _, value in truth_values(doc))
    for value, n in wanted.items():
        assert _count(text, value) >= n, (doc.name, value, n)


@pytest.mark.parametrize(
    "fmt",
    [
        "csv-utf8",
        "csv-gbk",
        "xlsx",
        "xls",
        "doc-table",
        "json",
        "ndjson",
        "text",
        "docx",
        "doc",
        "ppt",
    ],
)
def test_every_label_is_in_the_written_file(fmt: str) -> None:
    available = formats_available()
    if fmt in available and not available[fmt]:
        pytest.skip(f"no writer for {fmt} (deploy/install.sh --test installs it)")
    seen = 0
    for doc in DOCUMENTS:
        for rendered in _rendered(doc.name):
            if rendered.fmt == fmt:
                assert rendered.truth == truth_values(doc)
                _labels_hold(doc, _written_text(fmt, rendered.data))
                seen += 1
    assert seen


def _chars(text: str) -> float:
    return float(len(text))


def test_pdf_layout_never_breaks_a_labelled_value() -> None:
    width = 120.0  # characters: narrower than the page, so many lines must break
    broken = 0
    for doc in DOCUMENTS:
        if doc.kind == "csv":
            lines = report_lines(csv_rows(doc))
        elif doc.kind == "text":
            lines = text_lines(doc)
        else:
            continue
        pieces = [p for line in lines for p in _fit(line, width, _chars)]
        broken += len(pieces) - len(lines)
        _labels_hold(doc, "\n".join(pieces))
    assert broken > 100


def test_people_are_counted_by_record_in_structured_formats() -> None:
    doc = next(d for d in DOCUMENTS if d.kind == "csv")
    rows = csv_rows(doc)
    assert doc.people == len(rows) - 1
    fmts = {r.fmt: r.people for r in _rendered(doc.name)}
    assert {f for f in fmts if f in STRUCTURED} >= {"csv-utf8", "csv-gbk"}
    assert set(fmts.values()) == {doc.people}
    assert all(ch in string.printable or ord(ch) > 127 for ch in doc.data.decode("utf-8"))


def test_short_gbk_exports_are_read_as_gbk() -> None:
    """The shortest exports (a header and one person) are where charset guessing has least to go
    on; every one of the generator's must still be read as GBK by extraction."""
    from sensor.content.extract import extract

    generator = CorpusGenerator(11)
    for i in range(60):
        doc = generator.csv_people(f"short{i}")
        lines = doc.data.decode("utf-8").split("\n")
        short = "\n".join(lines[:2]).encode("gbk")
        part = extract(short).parts[0]
        assert part.encoding == "gb18030", short
        assert part.text == "\n".join(lines[:2]).encode("utf-8")
