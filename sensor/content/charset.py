"""Text in the encoding it was sent in, turned into UTF-8 for the detectors.

Signatures and keywords are UTF-8 bytes, so a GBK export (the default of Excel and many Chinese
systems) or a UTF-16 file (Windows "Unicode text") would hide every Chinese keyword and, for
UTF-16, every digit run. ``to_utf8`` decides the encoding in this order:

1. a byte-order mark (UTF-8, UTF-16 LE/BE);
2. valid UTF-8 (ASCII included) is kept as it is, byte for byte;
3. UTF-16 without a mark, recognised by NUL bytes in every other position;
4. GB18030 (a superset of GB2312 and GBK) or Big5, whichever decodes with fewer errors and more of
   the most frequent characters of its script;
5. otherwise the bytes are not text, and are returned unchanged as ``binary``.
"""

from __future__ import annotations

import codecs

SAMPLE_BYTES = 64 * 1024  # enough to tell encodings apart; the decision is made on this prefix
MAX_REPLACEMENT_RATIO = 0.02  # more undecodable characters than this and it is not that encoding
UTF16_NUL_RATIO = 0.3  # ASCII-heavy UTF-16 has a NUL in at least this share of one byte lane

# The 300 most frequent characters of running Chinese, in simplified and in traditional form.
_SIMPLIFIED = frozenset(
    "的一是不了人在有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所然家种事成方"
    "多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军者意无力它与长把机十民第公此已工使情"
    "明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给"
    "世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电数安少报才结反受目太"
    "量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马科司五基眼书非则听白却界达光放强即像难且权思王象"
)
_TRADITIONAL = frozenset(
    "的一是不了人在有我他這個們中來上大為和國地到以說時要就出會可也你對生能而子那得於著下自之年過發後作裡用道行所然家種事成方"
    "多經麼去法學如都同現當沒動面起看定天分還進好小部其些主樣理心她本前開但因只從想實日軍者意無力它與長把機十民第公此已工使情"
    "明性知全三又關點正業外將兩高間由問很最重並物手應戰向頭文體政美相見被利什二等產或新己制身果加西斯月話合回特代內信表化老給"
    "世位次度門任常先海通教兒原東聲提立及比員解水名真論處走義各入幾口認條平系氣題活爾更別打女變四神總何電數安少報才結反受目太"
    "量再感建務做接必場件計管期市直德資命山金指克許統區保至隊形社便空決治展馬科司五基眼書非則聽白卻界達光放強即像難且權思王象"
)


def _bom(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16"
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


def _utf8(data: bytes) -> bool:
    """Valid UTF-8, allowing a character cut by the end of the sample."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True


def _utf16_lane(sample: bytes) -> str | None:
    """UTF-16 without a mark: mostly-ASCII text has a NUL in every other byte."""
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul = even.count(0) / len(even)
    odd_nul = odd.count(0) / len(odd)
    if odd_nul >= UTF16_NUL_RATIO and even_nul < 0.05:
        return "utf-16-le"
    if even_nul >= UTF16_NUL_RATIO and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _score(sample: bytes, encoding: str, common: frozenset[str]) -> float | None:
    """Share of frequent characters among the non-ASCII ones; None if too much does not decode."""
    text = sample.decode(encoding, errors="replace")
    wide = [ch for ch in text if ord(ch) > 127]
    if not wide:
        return None
    bad = sum(1 for ch in wide if ch == "\ufffd")
    if bad > 1 and bad / len(wide) > MAX_REPLACEMENT_RATIO:  # one may be a cut at the end
        return None
    return sum(1 for ch in wide if ch in common) / len(wide)


def detect_charset(data: bytes) -> str:
    """The encoding of ``data``: a Python codec name, or ``binary``."""
    bom = _bom(data)
    if bom:
        return bom
    sample = data[:SAMPLE_BYTES]
    if _utf8(sample):
        return "utf-8"
    lane = _utf16_lane(sample)
    if lane:
        return lane
    if sample.count(0) > len(sample) // 100:
        return "binary"
    gb = _score(sample, "gb18030", _SIMPLIFIED)
    big5 = _score(sample, "big5", _TRADITIONAL)
    if gb is None and big5 is None:
        return "binary"
    if big5 is not None and (gb is None or big5 > gb):
        return "big5"
    return "gb18030"


def to_utf8(data: bytes) -> tuple[bytes, str]:
    """``data`` as UTF-8 and the encoding it was in; UTF-8 and binary input come back unchanged.

    Undecodable bytes in otherwise decodable text become U+FFFD: a stray byte must not hide the
    rest of a file from the detectors.
    """
    encoding = detect_charset(data)
    if encoding in ("utf-8", "binary"):
        return data, encoding
    text = data.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.encode("utf-8"), encoding
