"""Legacy Word (.doc) and PowerPoint (.ppt) text: sensor/content/legacy_word.py, legacy_ppt.py,
ole.py, as reached through ``extract``; the files come from detectors/legacy_writers.py and are
checked against independent readers (antiword for .doc, catppt for .ppt) so the writer and the
reader cannot share one misreading of the specifications."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from detectors import legacy_writers
from sensor.content.extract import ExtractionLimits, extract
from sensor.content.legacy_ppt import ppt_text
from tests.test_content_extract import ENGINE, HEADER, PEOPLE

LINES = [
    "Customer export 2024, mobile 13812345678, mail li.na@example.com",
    "客户 张伟 身份证号 11010519491231002X 手机 139 1234 5678",
    "Ünïcödé € and “quotes” survive",
]
TABLE = [list(HEADER), *[list(p) for p in PEOPLE]]


def _tokens(text: str) -> list[str]:
    """Words and digit runs, whatever each reader does with cell borders and line breaks."""
    return re.findall(r"[\w@.€“”-]+", text.replace("|", " "))


def _doc_text(data: bytes) -> str:
    result = extract(data)
    assert result.flags == [], result.flags
    (part,) = result.parts
    assert part.kind == "doc"
    return part.text.decode("utf-8")


def _antiword(path: Path) -> str:
    """antiword 0.37 (Debian) crashes on about a third of its runs over these minimal files
    (SIGSEGV, varying from run to run with the address layout: it reads the stylesheet and font
    table these files leave out); every run that completes prints the same text, so it is rerun."""
    for _ in range(20):
        done = subprocess.run(
            ["antiword", "-m", "UTF-8.txt", "-w", "0", str(path)], capture_output=True, text=True
        )
        if done.returncode == 0:
            return done.stdout
    raise AssertionError(f"antiword failed 20 times: {done.returncode} {done.stderr}")


@pytest.mark.skipif(shutil.which("antiword") is None, reason="antiword is not installed")
@pytest.mark.parametrize("lines", [LINES[:1], LINES], ids=["cp1252-piece", "utf16-piece"])
def test_doc_text_matches_antiword(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "export.doc"
    path.write_bytes(legacy_writers.doc(lines, TABLE))
    oracle = _antiword(path)
    ours = _doc_text(path.read_bytes())
    assert _tokens(ours) == _tokens(oracle)
    assert "13812345678" in ours and PEOPLE[0][1] in ours


@pytest.mark.skipif(shutil.which("catppt") is None, reason="catppt is not installed")
def test_ppt_text_matches_catppt(tmp_path: Path) -> None:
    slides = [LINES[:1], [f"{n} {rid} {mobile}" for n, rid, mobile in PEOPLE], LINES[1:]]
    path = tmp_path / "deck.ppt"
    path.write_bytes(legacy_writers.ppt(slides))
    oracle = subprocess.run(
        ["catppt", "-d", "utf-8", str(path)], capture_output=True, check=True, text=True
    ).stdout
    result = extract(path.read_bytes())
    assert result.flags == []
    (part,) = result.parts
    assert part.kind == "ppt"
    ours = part.text.decode("utf-8")
    assert _tokens(ours) == _tokens(oracle)
    assert ours.splitlines()[1:4] == [f"{n} {rid} {mobile}" for n, rid, mobile in PEOPLE]


def test_word_table_rows_are_lines_and_people_are_counted() -> None:
    """Row ends (sprmPFTtp in the PAPX) end a line and each row is a CSV line, as an .xls sheet:
    one person per row, an empty middle cell kept, a cell with a comma quoted, a cell of two
    paragraphs (sprmPFInTable on the inner mark) one field."""
    rows = [*TABLE, ["赵敏", "", "13900001111"], ["周杰", "A, B", "first\rsecond"]]
    text = _doc_text(legacy_writers.doc(["名单"], rows))
    expected = [",".join(row) for row in rows[:-1]] + ['周杰,"A, B",first second']
    assert text.splitlines() == ["名单", *expected]
    text = text.split("\n", 1)[1]
    findings = ENGINE.inspect(text.encode())
    assert findings.layout == "rows"
    assert findings.distinct_individuals == len(PEOPLE) + 2  # 赵敏 by mobile, 周杰 by name
    raw = {f.identifier: f.count for f in ENGINE.inspect(legacy_writers.doc([], rows)).findings}
    assert raw.get("cn_resident_id", 0) == 0  # UTF-16 in the container: invisible before


def test_field_codes_keep_their_result_only() -> None:
    field = '\x13 HYPERLINK "mailto:hidden@example.com" \x14visible@example.com\x15'
    nested = "a\x13 IF \x13 PAGE \x14 1\x15 = 1 \x14b\x15c"
    text = _doc_text(legacy_writers.doc([field, nested, "x\x13 broken \x14y"]))
    assert text.splitlines() == ["visible@example.com", "abc", "xy"]


def test_encrypted_and_old_and_other_ole_files_are_flagged() -> None:
    streams = legacy_writers.doc_streams(LINES)
    word = bytearray(streams["WordDocument"])
    word[0x0A:0x0C] = struct.pack("<H", struct.unpack_from("<H", word, 0x0A)[0] | 0x0100)
    encrypted = extract(legacy_writers.cfb({**streams, "WordDocument": bytes(word)}))
    assert (encrypted.parts, encrypted.flags) == ([], ["encrypted:doc"])
    word[2:4] = struct.pack("<H", 0x68)  # a Word 95 nFib
    word[0x0A:0x0C] = b"\0\0"
    old = extract(legacy_writers.cfb({**streams, "WordDocument": bytes(word)}))
    assert old.flags == ["unsupported:doc95"]
    deck = legacy_writers.ppt_streams([LINES])
    locked = extract(legacy_writers.cfb({**deck, "EncryptedSummary": b"\0" * 64}))
    assert (locked.parts, locked.flags) == ([], ["encrypted:ppt"])
    msg = extract(legacy_writers.cfb({"__substg1.0_0037001F": "Subject".encode("utf-16-le")}))
    assert (msg.parts, msg.flags) == ([], ["unsupported:ole"])


def test_doc_and_ppt_are_bounded_by_the_size_budget() -> None:
    lines = [f"{n} {rid} {mobile}" for n, rid, mobile in PEOPLE] * 200
    for data in (legacy_writers.doc(lines), legacy_writers.ppt([[line] for line in lines])):
        result = extract(data, ExtractionLimits(max_total_bytes=3000))
        assert "limit:size" in result.flags
        (part,) = result.parts
        assert 2000 < len(part.text) <= 3000 and part.text.endswith(b"\n")


def _record(rec_type: int, body: bytes, version: int = 0) -> bytes:
    return struct.pack("<HHI", version, rec_type, len(body)) + body


def test_ppt_depth_and_record_limits_are_flagged_and_siblings_still_read() -> None:
    deep = _record(0x0FA8, b"too deep")
    for _ in range(40):
        deep = _record(0x03E8, deep, 0xF)
    stream = deep + _record(0x0FA8, b"13812345678")
    result = ppt_text(stream, 1 << 20)
    assert result.limits == ["limit:ppt_depth"] and result.text == b"13812345678\n"
    many = b"".join(_record(0x0FA8, b"x%d" % i) for i in range(100))
    counted = ppt_text(many, 1 << 20, max_records=10)
    assert counted.limits == ["limit:ppt_records"] and counted.text.count(b"\n") == 10


def test_ppt_cstrings_are_read_in_hyperlinks_but_not_in_tags() -> None:
    link = _record(0x0FD7, _record(0x0FBA, "mailto:li.na@example.com".encode("utf-16-le")), 0xF)
    tag = _record(0x1388, _record(0x0FBA, "___PPT10".encode("utf-16-le")), 0xF)
    slide = _record(0x03EE, tag + _record(0x0FBA, "note 13812345678".encode("utf-16-le")), 0xF)
    result = ppt_text(link + slide, 1 << 20)
    assert result.text == b"mailto:li.na@example.com\nnote 13812345678\n"


def _mutations(base: bytes, seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("kind", ["doc", "ppt"])
def test_damaged_doc_and_ppt_are_flagged_never_raised(kind: str) -> None:
    """Seeded byte mutations (1-20 bytes, one in five also cut short) of a real-shaped file:
    nothing escapes ``extract``; damage is ``error:doc``/``error:ppt`` or a container error."""
    lines = [f"{n} {rid} {mobile}" for n, rid, mobile in PEOPLE] * 30
    if kind == "doc":
        base = legacy_writers.doc(LINES + lines, TABLE)
    else:
        base = legacy_writers.ppt([LINES, lines])
    seen: set[str] = set()
    for data in _mutations(base, seed=5, count=300):
        result = extract(data)  # must not raise
        seen.update(result.flags)
    assert f"error:{kind}" in seen
    allowed = {f"error:{kind}", "error:ole", "error:xls", "unsupported:ole", "limit:size"}
    allowed |= (
        {"error:doc-tables", "unsupported:doc95", "encrypted:doc"} if kind == "doc" else set()
    )
    allowed |= {"limit:ppt_depth", "limit:ppt_records", "encrypted:ppt"} if kind == "ppt" else set()
    assert seen <= allowed, seen - allowed


def test_ppt_crypt_session_record_means_encrypted() -> None:
    """Without an EncryptedSummary stream, the CryptSession10Container in the stream says it."""
    deck = legacy_writers.ppt_streams([LINES])
    stream = deck["PowerPoint Document"] + _record(0x2F14, b"\0" * 16, 0xF)
    result = extract(legacy_writers.cfb({**deck, "PowerPoint Document": stream}))
    assert (result.parts, result.flags) == ([], ["encrypted:ppt"])
