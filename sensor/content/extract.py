"""Unpack and decode an object into the text parts the detectors read.

People send personal data as spreadsheets inside ZIP files, as GBK CSV exports, as PDF reports.
``extract`` walks an object the way a reviewer would open it:

    ZIP / tar / gzip / bzip2 / xz  -> each member, recursively (``a.zip!/b.xlsx!/Sheet1``)
    xlsx / ods                     -> one CSV part per sheet (rows and columns kept)
    xls (OLE2)                     -> one CSV part per sheet (sensor.content.legacy_office)
    doc / ppt (OLE2)               -> one text part: Word table rows one per line, cells
                                      tab-separated; slide text atoms (sensor.content.ole)
    docx / pptx / odt              -> paragraphs, one per line
    PDF                            -> page text (pypdf)
    HTML / XML                     -> element text; ``<name>x</name>`` becomes ``name: x`` so the
                                      element name is context; table cells become CSV fields
    any text                       -> UTF-8 (GBK, GB18030, Big5, UTF-16 recognised: ``charset``)

Every limit is named in ``ExtractionLimits`` and hitting one is a flag on the result, never a
silent stop: ``limit:depth``, ``limit:size``, ``limit:ratio``, ``limit:members``, ``limit:time``.
Content that cannot be read is flagged too: ``encrypted``, ``unsupported:<kind>``,
``error:<kind>`` (a corrupt member); legacy Office adds ``encrypted:doc``/``encrypted:ppt``.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import logging
import lzma
import re
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sensor.content.charset import to_utf8
from sensor.content.forms import json_text
from sensor.content.legacy_office import DamagedWorkbook, NotAWorkbook, xls_sheets
from sensor.content.office import office_parts
from sensor.content.ole import damaged_kind, ole_kind, read_doc, read_ppt
from sensor.content.sniff import detect_type, is_encrypted
from sensor.content.ziplocal import DEFLATED, STORED, LocalMember, local_members

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns on every odd PDF; we flag instead

OFFICE_KINDS = frozenset({"docx", "xlsx", "pptx", "odt", "ods"})
STREAM_KINDS = frozenset({"gzip", "bzip2", "xz"})
MEDIA_KINDS = frozenset({"png", "jpeg", "gif", "webp"})  # no text to find; not scanned
UNSUPPORTED_KINDS = frozenset({"7z", "rar", "zstd", "sqlite"})  # and OLE not .xls/.doc/.ppt
RATIO_GRACE_BYTES = 1 << 20  # as for Content-Encoding: small members may expand a lot harmlessly
READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Bounds against decompression bombs and pathological files (config ``limits.extraction``)."""

    max_depth: int = 4  # archives inside archives: a.zip!/b.zip!/c.tar.gz!/d.csv is depth 3
    max_total_bytes: int = 256 << 20  # expanded bytes over the whole object
    max_ratio: int = 1000  # expanded / compressed bytes of one member, past the grace size
    max_members: int = 10_000  # archive members over the whole object
    max_seconds: float = 30.0  # wall time for one object
    max_pdf_pages: int = 2_000


@dataclass(frozen=True, slots=True)
class TextPart:
    """One readable piece of an object, as UTF-8 text for the detectors."""

    path: str  # "" for the object itself, else members joined by "!/" (a.zip!/people.xlsx!/Sheet1)
    kind: str  # csv, json, text, html, xml, xlsx-sheet, docx, pptx, pdf, binary ...
    encoding: str  # the charset the text was in (utf-8, gb18030, big5, utf-16...)
    text: bytes


@dataclass
class Extraction:
    parts: list[TextPart] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # sorted, unique when read through ``flag_list``
    members: int = 0
    expanded_bytes: int = 0

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


class _Budget(Exception):
    """A whole-object limit was reached: stop extracting, keep what was found."""


def _join(path: str, member: str) -> str:
    return f"{path}!/{member}" if path else member


_XML_FIELD = re.compile(rb"<([A-Za-z_][\w:.-]{0,63})(?:\s[^>]*)?>([^<]{1,4096})</\1\s*>")
_HTML_CELL_END = re.compile(rb"</t[dh]\s*>", re.I)
_HTML_LINE_END = re.compile(rb"</(?:tr|p|div|li|h[1-6])\s*>|<br\s*/?>", re.I)
_HTML_DROP = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(rb"<[^>]*>")
# pypdf writes a justified line's stretched gaps as a space glyph plus a synthesised space, so a
# mobile "150 0295 5862" in a justified paragraph reads "150  0295  5862" and no pattern takes it.
# A PDF has no meaningful runs of spaces (layout is by position), so runs become one space.
_PDF_SPACES = re.compile(r" {2,}")
_ENTITY = re.compile(rb"&(?:#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")


def markup_text(data: bytes, html: bool) -> bytes:
    """Text of HTML or XML with its structure kept where detectors can use it."""
    import html as html_module

    if html:
        data = _HTML_DROP.sub(b" ", data)
        data = _HTML_CELL_END.sub(b",", data)
        data = _HTML_LINE_END.sub(b"\n", data)
    else:
        data = _XML_FIELD.sub(rb"\1: \2\n", data)
    data = _TAG.sub(b" ", data)
    if b"&" in data:
        data = _ENTITY.sub(
            lambda m: html_module.unescape(m.group(0).decode("ascii")).encode("utf-8"), data
        )
    return data


class _Extractor:
    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self.result = Extraction()
        self.deadline = time.monotonic() + limits.max_seconds

    # -- limits ---------------------------------------------------------------------------------

    def _check_time(self) -> None:
        if time.monotonic() > self.deadline:
            self.result.flag("limit:time")
            raise _Budget

    def _room(self) -> int:
        room = self.limits.max_total_bytes - self.result.expanded_bytes
        if room <= 0:
            self.result.flag("limit:size")
            raise _Budget
        return room

    def _count_member(self) -> None:
        self.result.members += 1
        if self.result.members > self.limits.max_members:
            self.result.flag("limit:members")
            raise _Budget

    def _expanded(self, data: bytes, compressed: int) -> bytes:
        """Account ``data`` against the size and ratio limits; returns what may be kept."""
        room = self._room()
        if len(data) > room:
            data = data[:room]
            self.result.flag("limit:size")
        if len(data) > RATIO_GRACE_BYTES and len(data) > self.limits.max_ratio * max(compressed, 1):
            self.result.flag("limit:ratio")
            data = data[: self.limits.max_ratio * max(compressed, 1)]
        self.result.expanded_bytes += len(data)
        return data

    def _decompress(self, factory: Callable[[], _Decompressor], data: bytes) -> bytes:
        """A gzip/bzip2/xz stream, bounded by the limits while it expands."""
        out = bytearray()
        cap = min(self._room(), self.limits.max_ratio * max(len(data), 1) + RATIO_GRACE_BYTES)
        decompressor = factory()
        try:
            out += decompressor.decompress(data, cap + 1)
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
            self.result.flag("error:stream")
        if len(out) > cap:
            out = out[:cap]
            self.result.flag("limit:ratio" if cap < self._room() else "limit:size")
        self.result.expanded_bytes += len(out)
        return bytes(out)

    # -- walking ----------------------------------------------------------------------------------

    def walk(self, data: bytes, path: str, depth: int) -> None:
        self._check_time()
        kind = detect_type(data)
        is_tar = data[257:262] == b"ustar"
        if (kind == "zip" or kind in STREAM_KINDS or is_tar) and depth >= self.limits.max_depth:
            self.result.flag("limit:depth")  # an archive this deep is not opened
            return
        if kind in MEDIA_KINDS:
            return
        if kind in ("tls", "pgp") or is_encrypted(data, kind):
            self.result.flag("encrypted")
            return
        if kind == "zip" or kind in OFFICE_KINDS:
            self._zip(data, kind, path, depth)
        elif kind in STREAM_KINDS:
            self._stream(data, kind, path, depth)
        elif kind == "pdf":
            self._pdf(data, path)
        elif kind == "ole":
            self._ole(data, path)
        elif kind in UNSUPPORTED_KINDS:
            self.result.flag(f"unsupported:{kind}")
        elif is_tar:
            self._tar(data, path, depth)
        else:
            self._text(data, kind, path)

    def _text(self, data: bytes, kind: str, path: str) -> None:
        text, encoding = to_utf8(data)
        if kind in ("html", "xml"):
            text = markup_text(text, html=kind == "html")
        elif kind == "json":
            text = json_text(text) or text
        if text:
            self.result.parts.append(TextPart(path, kind or "text", encoding, text))

    def _ole(self, data: bytes, path: str) -> None:
        """Legacy Office: an Excel workbook becomes one CSV part per sheet, a Word or PowerPoint
        document one text part (``sensor.content.ole``); other OLE files (.msg, Visio, MSI) are
        not read and are flagged ``unsupported:ole``, a container too damaged to open
        ``error:doc``/``error:ppt`` when it still names their stream, else ``error:ole``."""
        kind, container = ole_kind(data)
        if container is None:  # olefile cannot read the container: named by a stream if it can
            self.result.flag(f"error:{damaged_kind(data) or 'ole'}")
            self._text(data, "binary", path)  # as a damaged archive: stored text may remain
            return
        if container is not None and kind in ("doc", "ppt"):
            with container:
                document = (read_doc if kind == "doc" else read_ppt)(container, self._room())
            for name in document.flags:
                self.result.flag(name)
            if document.text:
                self.result.expanded_bytes += len(document.text)
                self.result.parts.append(TextPart(path, kind, "utf-8", document.text))
            elif "error:doc" in document.flags or "error:ppt" in document.flags:
                self._text(data, "binary", path)  # as a damaged archive: stored text may remain
            return
        container.close()
        if kind != "xls":  # no workbook stream either: an .msg, Visio drawing, MSI ...
            self.result.flag("unsupported:ole")
            return
        try:
            sheets = xls_sheets(data, max_bytes=self._room())
        except NotAWorkbook:
            self.result.flag("unsupported:ole")
            return
        except DamagedWorkbook:
            self.result.flag("error:xls")
            self._text(data, "binary", path)  # as a damaged archive: stored text may remain
            return
        if sheets.truncated:
            self.result.flag("limit:size")
        if sheets.damaged:
            self.result.flag("error:xls")
        for name, text in sheets.parts:
            self.result.expanded_bytes += len(text)
            self.result.parts.append(TextPart(_join(path, name), "xls-sheet", "utf-8", text))

    def _zip(self, data: bytes, kind: str, path: str, depth: int) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError):
            self._local_zip(data, kind, path, depth)
            return
        with archive:
            if kind in OFFICE_KINDS:
                self._office(kind, archive.namelist(), self._member_reader(archive), path)
                return
            for info in archive.infolist():
                if info.is_dir():
                    continue
                self._count_member()
                if info.flag_bits & 0x1:
                    self.result.flag("encrypted")
                    continue
                member = self._read_member(archive, info)
                if member is not None:
                    self.walk(member, _join(path, info.filename), depth + 1)

    def _office(
        self, kind: str, names: list[str], read: Callable[[str], bytes | None], path: str
    ) -> None:
        sub_kind = f"{kind}-sheet" if kind in ("xlsx", "ods") else kind
        try:
            for name, text in office_parts(kind, names, read):
                self.result.parts.append(TextPart(_join(path, name), sub_kind, "utf-8", text))
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
            self.result.flag(f"error:{kind}")

    def _local_zip(self, data: bytes, kind: str, path: str, depth: int) -> None:
        """An archive without a usable central directory (cut by the object limit or a capture
        hole, or still being written): its members from their local headers (ziplocal.py)."""
        members = [m for m in local_members(data) if not m.name.endswith("/")]
        if not members:
            self.result.flag("error:zip")
            self._text(data, "binary", path)  # a damaged archive may still hold stored text
            return
        self.result.flag("zip:local-headers")
        if any(m.truncated for m in members):
            self.result.flag("zip:truncated")
        if any(m.resynced for m in members):
            self.result.flag("zip:resynced")
        if kind in OFFICE_KINDS:
            by_name = {m.name: m for m in members}

            def read(name: str) -> bytes | None:
                member = by_name.get(name)
                if member is None:
                    return None
                self._count_member()
                return self._local_member(member)

            self._office(kind, list(by_name), read, path)
            return
        for member in members:
            self._count_member()
            inner = self._local_member(member)
            if inner is not None:
                self.walk(inner, _join(path, member.name), depth + 1)

    def _local_member(self, member: LocalMember) -> bytes | None:
        """A member's bytes within the limits (what is there of a truncated one)."""
        self._check_time()
        if member.encrypted:
            self.result.flag("encrypted")
            return None
        if member.method == STORED:
            return self._expanded(bytes(member.data), len(member.data))
        if member.method == DEFLATED:
            return self._decompress(
                lambda: _ZlibStream(zlib.decompressobj(-zlib.MAX_WBITS)), bytes(member.data)
            )
        self.result.flag("unsupported:zip-method")
        return None

    def _member_reader(self, archive: zipfile.ZipFile) -> Callable[[str], bytes | None]:
        def read(name: str) -> bytes | None:
            try:
                info = archive.getinfo(name)
            except KeyError:
                return None
            self._count_member()
            return self._read_member(archive, info)

        return read

    def _read_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
        self._check_time()
        cap = min(
            self._room(), self.limits.max_ratio * max(info.compress_size, 1) + RATIO_GRACE_BYTES
        )
        try:
            with archive.open(info) as f:
                data = f.read(cap + 1)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError,
                EOFError, zlib.error, lzma.LZMAError):  # fmt: skip
            self.result.flag("error:zip")
            return None
        if len(data) > cap:
            self.result.flag("limit:ratio" if cap < self._room() else "limit:size")
            data = data[:cap]
        self.result.expanded_bytes += len(data)
        return data

    def _stream(self, data: bytes, kind: str, path: str, depth: int) -> None:
        factories: dict[str, Callable[[], _Decompressor]] = {
            "gzip": lambda: _ZlibStream(zlib.decompressobj(16 + zlib.MAX_WBITS)),
            "bzip2": bz2.BZ2Decompressor,
            "xz": lzma.LZMADecompressor,
        }
        inner = self._decompress(factories[kind], data)
        if inner:
            self._count_member()
            self.walk(inner, _join(path, f"[{kind}]"), depth + 1)

    def _tar(self, data: bytes, path: str, depth: int) -> None:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
                for info in archive:
                    if not info.isfile():
                        continue
                    self._count_member()
                    handle = archive.extractfile(info)
                    if handle is None:
                        continue
                    member = self._expanded(
                        handle.read(min(info.size, self._room() + 1)), info.size
                    )
                    self.walk(member, _join(path, info.name), depth + 1)
        except (tarfile.TarError, OSError, ValueError, EOFError):
            self.result.flag("error:tar")

    def _pdf(self, data: bytes, path: str) -> None:
        from pypdf import PdfReader

        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                self.result.flag("encrypted")
                return
            pages = []
            for number, page in enumerate(reader.pages):
                if number >= self.limits.max_pdf_pages:
                    self.result.flag("limit:pages")
                    break
                self._check_time()
                pages.append(page.extract_text() or "")
        except _Budget:
            raise
        except Exception:  # pypdf raises many types on damaged files; the flag says which object
            self.result.flag("error:pdf")
            return
        text = self._expanded(_PDF_SPACES.sub(" ", "\n".join(pages)).encode("utf-8"), len(data))
        if text:
            self.result.parts.append(
                TextPart(_join(path, "[text]") if path else "", "pdf", "utf-8", text)
            )


class _Decompressor(Protocol):
    """What ``_decompress`` needs of bz2/lzma decompressors (and of the zlib adapter)."""

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _ZlibStream:
    def __init__(self, inner: zlib._Decompress) -> None:
        self._inner = inner

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return self._inner.decompress(data, max(max_length, 0))


def extract(data: bytes, limits: ExtractionLimits | None = None) -> Extraction:
    """The text parts of ``data`` and the flags of whatever could not be read in full."""
    extractor = _Extractor(limits or ExtractionLimits())
    with contextlib.suppress(_Budget):  # a whole-object limit: keep what was found (flagged)
        extractor.walk(data, "", 0)
    result = extractor.result
    result.flags.sort()
    return result
