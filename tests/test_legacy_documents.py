"""Legacy Word (.doc) and PowerPoint (.ppt) text from real converted files (sensor/content/ole.py,
legacy_word.py, legacy_ppt.py; tests/test_legacy_doc_ppt.py covers the project's own writers).

The fixtures were converted by LibreOffice from python-docx/python-pptx files of synthetic people
(tests/fixtures/legacy_office/make.py); the expected people are rebuilt here from the same seed.
catdoc (Debian, installed by deploy/install.sh --test) is the oracle for the Word text.
"""

from __future__ import annotations

import gzip
import io
import random
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import olefile
import pytest

from bench.traffic.people import SyntheticPeople
from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from sensor.content.extract import ExtractionLimits, extract
from sensor.content.legacy_ppt import MAX_DEPTH, NotAPresentation, ppt_text
from sensor.content.legacy_word import DamagedDocument
from sensor.content.ole import OleDocument, ole_kind, read_doc, read_ppt
from sensor.inspection import inspect_content

FIB_FLAGS = 0x0A
FC_CLX = 0x01A2  # fcClx in a Word 97 FIB (FibRgFcLcb97 pair 33)

HERE = Path(__file__).parent / "fixtures" / "legacy_office"
SEED, TABLE_PEOPLE, TEXT_PEOPLE = 23, 12, 3  # as in make.py
PEOPLE = list(SyntheticPeople(SEED).people(TABLE_PEOPLE + TEXT_PEOPLE))
SLIDE_PEOPLE = PEOPLE[: TEXT_PEOPLE + 2]
ENGINE = DetectionEngine(load_catalogue((), frozenset()))
DOC = (HERE / "people.doc").read_bytes()
PPT = gzip.decompress((HERE / "people.ppt.gz").read_bytes())


def document_text(data: bytes, max_bytes: int) -> OleDocument:
    kind, ole = ole_kind(data)
    assert ole is not None and kind in ("doc", "ppt")
    with ole:
        return (read_doc if kind == "doc" else read_ppt)(ole, max_bytes)


def _with_stream(data: bytes, name: str, change: Callable[[bytearray], None]) -> bytes:
    """``data`` with one stream rewritten in place (same size) by ``change(bytearray)``."""
    buffer = io.BytesIO(data)
    with olefile.OleFileIO(buffer, write_mode=True) as ole:
        stream = bytearray(ole.openstream(name).read())
        change(stream)
        ole.write_stream(name, bytes(stream))
    return buffer.getvalue()


def test_word_text_has_every_person_and_keeps_table_rows() -> None:
    result = document_text(DOC, max_bytes=1 << 20)
    text = result.text.decode()
    assert result.kind == "doc" and result.flags == []
    for p in PEOPLE:
        assert p.resident_id in text and p.mobile in text and p.email in text
    for p in PEOPLE[:TABLE_PEOPLE]:  # one table row per line, a CSV line as an .xls sheet
        assert f"\n{p.name},{p.resident_id},{p.mobile},{p.email}\n" in text
    assert "\n姓名,身份证号,手机号,邮箱\n" in text


def test_word_text_agrees_with_catdoc() -> None:
    catdoc = shutil.which("catdoc")
    assert catdoc, "deploy/install.sh --test installs catdoc"
    oracle = subprocess.run(
        [catdoc, "-d", "utf-8", "-w", str(HERE / "people.doc")],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    ours = document_text(DOC, max_bytes=1 << 20).text.decode()

    def tokens(text: str) -> list[str]:
        return re.findall(r"[0-9A-Za-z.@_]{6,}", text)

    assert tokens(ours) == tokens(oracle)
    assert len(tokens(ours)) >= 3 * len(PEOPLE)


def test_a_word_file_counts_its_people() -> None:
    inspection = inspect_content(ENGINE, DOC)
    findings = inspection.findings
    assert not inspection.flags
    found = {f.identifier: f.count for f in findings.findings}
    assert found["cn_resident_id"] == found["cn_mobile"] == found["email"] == len(PEOPLE)
    assert findings.distinct_individuals == len(PEOPLE)


def test_powerpoint_text_has_slides_and_notes() -> None:
    result = document_text(PPT, max_bytes=1 << 20)
    text = result.text.decode()
    assert result.kind == "ppt" and result.flags == []
    for p in SLIDE_PEOPLE:
        assert f"身份证号 {p.resident_id}\n" in text
        assert f"手机 {p.mobile}\n" in text
        assert f"邮箱 {p.email}\n" in text  # speaker notes
    for p in PEOPLE[len(SLIDE_PEOPLE) :]:
        assert p.resident_id not in text
    inspection = inspect_content(ENGINE, PPT)
    found = {f.identifier: f.count for f in inspection.findings.findings}
    assert found["cn_resident_id"] == found["cn_mobile"] == len(SLIDE_PEOPLE)
    assert inspection.findings.distinct_individuals == len(SLIDE_PEOPLE)


def test_the_byte_budget_cuts_at_a_line() -> None:
    result = document_text(DOC, max_bytes=300)
    assert result.flags == ["limit:size"]
    assert 0 < len(result.text) <= 300 and result.text.endswith(b"\n")
    assert "limit:size" in extract(DOC, ExtractionLimits(max_total_bytes=300)).flags


def test_encrypted_and_old_word_files_are_flagged() -> None:
    def set_flag(stream: bytearray) -> None:
        (flags,) = struct.unpack_from("<H", stream, FIB_FLAGS)
        struct.pack_into("<H", stream, FIB_FLAGS, flags | 0x0100)

    def word95(stream: bytearray) -> None:
        struct.pack_into("<H", stream, 2, 0x0065)

    encrypted = extract(_with_stream(DOC, "WordDocument", set_flag))
    assert encrypted.flags == ["encrypted:doc"] and encrypted.parts == []
    old = extract(_with_stream(DOC, "WordDocument", word95))
    assert old.flags == ["unsupported:doc95"] and old.parts == []


def test_a_piece_table_outside_its_stream_is_damage() -> None:
    def far_clx(stream: bytearray) -> None:
        struct.pack_into("<I", stream, FC_CLX, 0x7FFFFFF0)

    from sensor.content.legacy_word import pieces, read_fib

    word = _with_stream(DOC, "WordDocument", far_clx)
    with olefile.OleFileIO(io.BytesIO(word)) as ole:
        fib = read_fib(ole.openstream("WordDocument").read())
        with pytest.raises(DamagedDocument, match="outside the table stream"):
            pieces(ole.openstream(fib.table_stream).read(), fib)
    assert extract(_with_stream(DOC, "WordDocument", far_clx)).flags == ["error:doc"]


def test_powerpoint_records_nested_past_the_limit_are_cut() -> None:
    atom_text = "深处 13812345678".encode("utf-16-le")
    record = struct.pack("<HHI", 0, 0x0FA0, len(atom_text)) + atom_text
    for _ in range(MAX_DEPTH + 5):
        record = struct.pack("<HHI", 0x000F, 0x03E8, len(record)) + record
    result = ppt_text(record, 1 << 20)
    assert result.limits == ["limit:ppt_depth"] and result.text == b""
    result = ppt_text(record[8 * (6 + 1) :], 1 << 20)  # MAX_DEPTH - 2 containers deep
    assert result.limits == [] and result.text == "深处 13812345678\n".encode()
    with pytest.raises(NotAPresentation, match="overruns"):
        ppt_text(record[:-3], 1 << 20)  # the first record runs past the stream


@pytest.mark.parametrize("name,base", [("doc", DOC), ("ppt", PPT)])
def test_damaged_documents_are_flagged_never_raised(name: str, base: bytes) -> None:
    """Random byte mutations and cuts: ``extract`` must never raise (1,000 mutations each)."""
    rng = random.Random(7)
    seen: set[str] = set()
    for _ in range(1000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 30)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        seen.update(extract(bytes(data)).flags)  # must not raise
    assert seen <= {
        f"error:{name}",
        "error:ole",
        "unsupported:ole",
        "unsupported:doc95",
        f"encrypted:{name}",
        "limit:size",
        f"limit:{name}_records",
        f"limit:{name}_depth",
        "error:doc-tables",
    }
