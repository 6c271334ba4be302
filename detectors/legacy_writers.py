"""Minimal writers of legacy Word (``.doc``) and PowerPoint (``.ppt``) files for the corpus and tests.

No Python library writes Word 97 or PowerPoint 97 binaries, and the accuracy corpus must measure
the ``.doc``/``.ppt`` readers of ``sensor.content`` on files their own code did not shape. These
writers follow the specifications ([MS-CFB], [MS-DOC], [MS-PPT]) with only what a reader needs,
and the tests check their output with independent readers (``antiword``, ``catdoc``,
``catppt``), so the writer and the reader cannot share one misreading:

- ``cfb``: a version-3 compound file (512-byte sectors; streams under 4096 bytes in the mini
  stream), directory entries as a balanced tree;
- ``doc``: a FIB (nFib 0x00C1), the text as one piece (cp1252 when every character fits, else
  UTF-16LE), a CLX with one-piece PlcPcd in ``1Table``, and PAPX FKPs that mark table cells
  (sprmPFInTable) and row ends (sprmPFTtp) so tables are tables;
- ``ppt``: a DocumentContainer with a SlideListWithText holding one TextHeaderAtom and text atom
  per slide (TextBytesAtom when Latin-1 suffices, else TextCharsAtom), a Slide container per
  slide, the ``Current User`` stream, a UserEditAtom and a PersistDirectoryAtom.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END, FAT_SECTOR, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _pad(data: bytes, unit: int) -> bytes:
    return data + b"\0" * (-len(data) % unit)


def _dir_entry(
    name: str, kind: int, start: int, size: int, children: tuple[int, int, int]
) -> bytes:
    encoded = (name + "\0").encode("utf-16-le")
    left, right, child = children
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        encoded,
        len(encoded),
        kind,
        1,  # black
        left,
        right,
        child,
        b"\0" * 16,
        0,
        0,
        0,
        start,
        size,
    )


def _tree(ids: list[int], names: list[str]) -> tuple[int, dict[int, tuple[int, int]]]:
    """A balanced binary tree of sibling entries, ordered as [MS-CFB] compares names."""
    order = sorted(ids, key=lambda i: (len(names[i]), names[i].upper()))
    links: dict[int, tuple[int, int]] = {}

    def build(part: list[int]) -> int:
        if not part:
            return NO_STREAM
        mid = len(part) // 2
        links[part[mid]] = (build(part[:mid]), build(part[mid + 1 :]))
        return part[mid]

    return build(order), links


def cfb(streams: dict[str, bytes]) -> bytes:
    """A compound file holding ``streams`` at its root."""
    names = ["Root Entry", *streams]
    small = {n: d for n, d in streams.items() if len(d) < MINI_CUTOFF}
    big = {n: d for n, d in streams.items() if len(d) >= MINI_CUTOFF}
    mini_stream = b""
    mini_fat: list[int] = []
    starts: dict[str, int] = {}
    for name, data in small.items():
        count = max(1, -(-len(data) // MINI_SECTOR))
        starts[name] = len(mini_fat)
        mini_fat += [len(mini_fat) + i + 1 for i in range(count - 1)] + [END]
        mini_stream += _pad(data, MINI_SECTOR) if data else b"\0" * MINI_SECTOR
    dir_sectors = -(-len(names) * 128 // SECTOR)
    mini_fat_sectors = -(-len(mini_fat) * 4 // SECTOR)
    mini_stream_sectors = -(-len(mini_stream) // SECTOR)
    big_sectors = sum(-(-len(d) // SECTOR) for d in big.values())
    rest = dir_sectors + mini_fat_sectors + mini_stream_sectors + big_sectors
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + rest:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("file too large for a header-only DIFAT")
    fat: list[int] = [FAT_SECTOR] * fat_sectors
    body: list[bytes] = []

    def chain(data: bytes) -> int:
        count = -(-len(data) // SECTOR)
        first = len(fat)
        fat.extend([len(fat) + i + 1 for i in range(count - 1)] + [END])
        body.append(_pad(data, SECTOR))
        return first

    ids = list(range(1, len(names)))
    root_child, links = _tree(ids, names)
    dir_first = len(fat)
    fat.extend([len(fat) + i + 1 for i in range(dir_sectors - 1)] + [END])
    body.append(b"")  # placeholder for the directory, filled below
    mini_fat_first = chain(b"".join(struct.pack("<I", x) for x in mini_fat)) if mini_fat else END
    mini_first = chain(mini_stream) if mini_stream else END
    for name, data in big.items():
        starts[name] = chain(data)
    entries = [
        _dir_entry(
            "Root Entry", 5, mini_first, len(mini_stream), (NO_STREAM, NO_STREAM, root_child)
        )
    ]
    for i, name in enumerate(names[1:], start=1):
        left, right = links[i]
        entries.append(
            _dir_entry(name, 2, starts[name], len(streams[name]), (left, right, NO_STREAM))
        )
    body[0] = _pad(b"".join(entries), SECTOR)
    fat += [FREE] * (fat_sectors * SECTOR // 4 - len(fat))
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        fat_sectors,
        dir_first,
        0,
        MINI_CUTOFF,
        mini_fat_first,
        mini_fat_sectors,
        END,
        0,
        *difat,
    )
    return header + struct.pack(f"<{len(fat)}I", *fat) + b"".join(body)


# -- Word ------------------------------------------------------------------------------------------

TEXT_START = 0x800  # where the text begins in WordDocument, after the FIB
_IN_TABLE = struct.pack("<HB", 0x2416, 1)
_TTP = struct.pack("<HB", 0x2417, 1)


def _papx(sprms: bytes) -> bytes:
    grpprl = b"\0\0" + sprms  # istd 0 (Normal)
    if len(grpprl) % 2:
        return bytes([(len(grpprl) + 1) // 2]) + grpprl
    return b"\0" + bytes([len(grpprl) // 2]) + grpprl


def _fkps(paragraphs: list[tuple[int, int]], first_page: int) -> tuple[bytes, list[int], list[int]]:
    """PAPX FKPs for ``(end byte offset, kind)`` paragraphs (0 plain, 1 cell, 2 row end)."""
    papxs = [b"", _papx(_IN_TABLE), _papx(_IN_TABLE + _TTP)]
    pages: list[bytes] = []
    bounds: list[int] = []
    start = TEXT_START
    per_page = 24  # 4 + 13 per run plus the two shared PAPX fit easily in 511 bytes
    for chunk_at in range(0, len(paragraphs), per_page):
        chunk = paragraphs[chunk_at : chunk_at + per_page]
        page = bytearray(SECTOR)
        rgfc = [start] + [end for end, _ in chunk]
        struct.pack_into(f"<{len(rgfc)}I", page, 0, *rgfc)
        offsets = [0, 0, 0]
        top = 511
        for kind in (1, 2):
            top = (top - len(papxs[kind])) & ~1
            page[top : top + len(papxs[kind])] = papxs[kind]
            offsets[kind] = top // 2
        for run, (_, kind) in enumerate(chunk):
            page[4 * len(rgfc) + 13 * run] = offsets[kind]
        page[511] = len(chunk)
        pages.append(bytes(page))
        bounds.append(start)
        start = chunk[-1][0]
    bounds.append(start)
    return b"".join(pages), bounds, [first_page + i for i in range(len(pages))]


def doc(lines: Sequence[str], table: Sequence[Sequence[str]] = ()) -> bytes:
    """A Word 97 document: ``lines`` as paragraphs, then ``table`` as a table (rows of cells)."""
    return cfb(doc_streams(lines, table))


def doc_streams(lines: Sequence[str], table: Sequence[Sequence[str]] = ()) -> dict[str, bytes]:
    """The ``WordDocument`` and ``1Table`` streams of ``doc`` (tests alter them)."""
    parts: list[tuple[str, int]] = [(line + "\r", 0) for line in lines]
    for row in table:
        for cell in row:  # a cell's inner paragraphs end with \r, its last with the cell mark
            *inner, last = cell.split("\r")
            parts += [(paragraph + "\r", 1) for paragraph in inner] + [(last + "\x07", 1)]
        parts.append(("\x07", 2))
    if not parts:
        parts = [("\r", 0)]
    text = "".join(p for p, _ in parts)
    try:
        encoded, width = text.encode("cp1252"), 1
    except UnicodeEncodeError:
        encoded, width = text.encode("utf-16-le"), 2
    ends, at = [], TEXT_START
    for part, kind in parts:
        at += width * len(part)
        ends.append((at, kind))
    text_end = TEXT_START + len(encoded)
    chpx_page = -(-text_end // SECTOR)  # one CHPX FKP: a single run with default properties
    chpx = bytearray(SECTOR)
    struct.pack_into("<II", chpx, 0, TEXT_START, text_end)
    chpx[511] = 1
    fkps, bounds, pns = _fkps(ends, chpx_page + 1)
    # at least 4096 bytes, as Word writes it: readers expect WordDocument outside the mini stream
    word = bytearray(max((chpx_page + 1) * SECTOR + len(fkps), MINI_CUTOFF))
    word[TEXT_START:text_end] = encoded
    word[chpx_page * SECTOR : (chpx_page + 1) * SECTOR] = chpx
    word[(chpx_page + 1) * SECTOR : (chpx_page + 1) * SECTOR + len(fkps)] = fkps
    fc = TEXT_START * 2 | 0x40000000 if width == 1 else TEXT_START
    plc_pcd = struct.pack("<IIHIH", 0, len(text), 0, fc, 0)
    clx = b"\x02" + struct.pack("<I", len(plc_pcd)) + plc_pcd
    bte = struct.pack(f"<{len(bounds)}I{len(pns)}I", *bounds, *pns)
    bte_chpx = struct.pack("<III", TEXT_START, text_end, chpx_page)
    table_stream = bte + bte_chpx + clx
    pairs = [(0, 0)] * 93
    pairs[12] = (len(bte), len(bte_chpx))  # PlcBteChpx
    pairs[13] = (0, len(bte))  # PlcBtePapx
    pairs[33] = (len(bte) + len(bte_chpx), len(clx))  # Clx
    rg_lw = [0] * 22
    rg_lw[0] = len(word)  # cbMac
    rg_lw[3] = len(text)  # ccpText
    # FibBase; its last two fields are fcMin/fcMac of Word 6, still written by Word 97 and read
    # by catdoc
    fib = struct.pack(
        "<HHHHHHHIBBHHII",
        0xA5EC,
        0xC1,
        0,
        0x0804,
        0,
        0x1200,
        0xBF,
        0,
        0,
        0,
        0,
        0,
        TEXT_START,
        text_end,
    )
    fib += struct.pack("<H14H", 14, *([0] * 14))
    fib += struct.pack("<H22I", 22, *rg_lw)
    fib += struct.pack("<H", 93) + b"".join(struct.pack("<II", *p) for p in pairs)
    fib += struct.pack("<H", 0)
    word[: len(fib)] = fib
    return {"WordDocument": bytes(word), "1Table": table_stream}


# -- PowerPoint --------------------------------------------------------------------------------------


def _record(rec_type: int, body: bytes, version: int = 0, instance: int = 0) -> bytes:
    return struct.pack("<HHI", version | instance << 4, rec_type, len(body)) + body


def _container(rec_type: int, children: Sequence[bytes], instance: int = 0) -> bytes:
    return _record(rec_type, b"".join(children), 0xF, instance)


def _text_atom(text: str) -> bytes:
    try:
        return _record(0x0FA8, text.encode("latin-1"))  # TextBytesAtom
    except UnicodeEncodeError:
        return _record(0x0FA0, text.encode("utf-16-le"))  # TextCharsAtom


def ppt(slides: Sequence[Sequence[str]]) -> bytes:
    """A PowerPoint 97 presentation: one body text per slide, its lines as paragraphs."""
    return cfb(ppt_streams(slides))


def ppt_streams(slides: Sequence[Sequence[str]]) -> dict[str, bytes]:
    """The ``PowerPoint Document`` and ``Current User`` streams of ``ppt``."""
    outline: list[bytes] = []
    for n, lines in enumerate(slides, start=1):
        outline.append(_record(0x03F3, struct.pack("<IIiII", n, 0, 0, 256 + n, 0)))  # SlidePersist
        outline.append(_record(0x0F9F, struct.pack("<I", 1)))  # TextHeaderAtom: body
        outline.append(_text_atom("\r".join(lines)))
    document_atom = _record(
        0x03E9, struct.pack("<iiiiIIHHBBBB", 5760, 4320, 5760, 4320, 0, 0, 0, 0, 0, 0, 0, 1), 1
    )
    document = _container(0x03E8, [document_atom, _container(0x0FF0, outline)])
    slide_atom = _record(0x03EF, struct.pack("<I8sIIHH", 0, b"\0" * 8, 0, 0, 0, 0), 2)
    slide_records = [_container(0x03EE, [slide_atom]) for _ in slides]
    offsets = [0]
    for record in [document, *slide_records]:
        offsets.append(offsets[-1] + len(record))
    persist_offset = offsets[-1]
    persist = _record(
        0x1772, struct.pack(f"<I{len(offsets) - 1}I", (len(offsets) - 1) << 20 | 1, *offsets[:-1])
    )
    user_edit = _record(
        0x0FF5,
        struct.pack("<iHBBIIIII", 0, 0, 0, 3, 0, persist_offset, 1, len(offsets), 0),
    )
    stream = document + b"".join(slide_records) + persist + user_edit
    user = b"user"
    current = _record(
        0x0FF6, struct.pack("<II H HHBB", 20, 0xE391C05F, len(user), 0x03F4, 3, 3, 0) + user
    )
    return {"PowerPoint Document": stream, "Current User": current}
