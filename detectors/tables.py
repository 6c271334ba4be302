"""Reference data the validators check against: code tables from the standards, nothing computed.

Kept apart from the validators so the vectorised kernels and the plain-Python references read the
same table while implementing the rules independently, and so a table update is a one-line diff
with its source beside it.
"""

from __future__ import annotations


# GB/T 2260 province-level divisions (first two digits of a resident ID or region code), plus 71
# Taiwan, 81 Hong Kong, 82 Macao and 83 (residence permits for Hong Kong, Macao and Taiwan
# residents carry 810000, 820000 and 830000).
def _codes(*parts: int | range) -> frozenset[int]:
    out: set[int] = set()
    for part in parts:
        out.update(part if isinstance(part, range) else (part,))
    return frozenset(out)


CN_PROVINCE_CODES = _codes(
    range(11, 16), range(21, 24), range(31, 38), range(41, 47), range(50, 55), range(61, 66),
    71, 81, 82, 83,
)  # fmt: skip
MIN_BIRTH_YEAR = 1900

# GB 11643-1999 (ISO 7064 MOD 11-2): W_i = 2^(17-i) mod 11; check = table[sum mod 11].
GB11643_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
GB11643_CHECK = "10X98765432"

# Mainland mobile number segments (MIIT numbering plan, 2024): the first three digits of an
# 11-digit number allocated to public mobile, virtual-operator or satellite service. 140-144, 146,
# 148 and 172 are 13-digit IoT ranges; 154, 160-161, 163-164, 168-169, 179 and 194 are unallocated.
CN_MOBILE_PREFIXES = _codes(
    range(130, 140), 145, 147, 149, range(150, 154), range(155, 160), 162, range(165, 168),
    170, 171, range(173, 179), range(180, 190), range(190, 194), range(195, 200),
)  # fmt: skip

# Long-distance area codes without the trunk 0 (MIIT 长途区号). Two-digit codes are the big cities
# (subscriber numbers of 8 digits); 26 is unassigned. Three-digit codes per province below.
CN_AREA_CODES_2: frozenset[int] = frozenset((10, 20, 21, 22, 23, 24, 25, 27, 28, 29))
CN_AREA_CODES_3 = _codes(
    range(310, 320), 335,  # Hebei
    range(349, 360),  # Shanxi
    range(370, 380), range(391, 397), 398,  # Henan
    range(410, 420), 421, 427, 429,  # Liaoning
    range(431, 440),  # Jilin
    range(451, 460), 464, 467, 468, 469,  # Heilongjiang
    range(470, 480), 482, 483,  # Inner Mongolia
    range(510, 520), 523, 527,  # Jiangsu
    range(530, 540), 543, 546, range(631, 636),  # Shandong
    range(550, 560), range(561, 565), 566,  # Anhui
    range(570, 581),  # Zhejiang
    range(591, 600),  # Fujian
    660, 662, 663, 668, range(750, 761), 762, 763, 766, 768, 769,  # Guangdong
    691, 692, range(870, 880), 883, 886, 887, 888,  # Yunnan
    range(710, 720), 722, 724, 728,  # Hubei
    730, 731, range(734, 740), range(743, 747),  # Hunan
    range(770, 780),  # Guangxi
    701, range(790, 800),  # Jiangxi
    812, 813, 816, 817, 818, 825, 826, 827, range(830, 840),  # Sichuan
    range(851, 860),  # Guizhou
    range(891, 898),  # Tibet
    898,  # Hainan
    range(911, 918), 919,  # Shaanxi
    range(930, 940), 941, 943,  # Gansu
    range(951, 956),  # Ningxia
    range(970, 978), 979,  # Qinghai
    901, 902, 903, 906, 908, 909, range(990, 1000),  # Xinjiang
)  # fmt: skip

# Payment card issuer ranges (ISO/IEC 7812 IINs as published by the networks): inclusive ranges of
# the first six digits and the card lengths accepted. UnionPay (62) is its own identifier;
# Discover's 622126-622925 co-brand range is UnionPay's and is not repeated here.
#
# Lengths are deliberately narrower than some networks allow: 18 digits is the length of every
# resident ID number and no network here issues it in practice, so it is left out everywhere; Diners
# 36 (Jiangxi IDs start with 36) is 14 digits only, Mir 2200-2204 (Jilin 2201-2208) 16 only.
UNIONPAY_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (620000, 629999, frozenset(range(16, 20))),
)
_DISCOVER = frozenset((16, 19))
_LONG = frozenset((16, 17, 19))
INTERNATIONAL_CARD_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (400000, 499999, frozenset((13, 16, 19))),  # Visa
    (510000, 559999, frozenset((16,))),  # Mastercard
    (222100, 272099, frozenset((16,))),  # Mastercard 2-series
    (340000, 349999, frozenset((15,))),  # American Express
    (370000, 379999, frozenset((15,))),  # American Express
    (352800, 358999, _LONG),  # JCB
    (601100, 601199, _DISCOVER),  # Discover
    (644000, 659999, _DISCOVER),  # Discover
    (360000, 369999, frozenset((14,))),  # Diners Club International
    (300000, 305999, _LONG),  # Diners Club
    (380000, 399999, _LONG),  # Diners Club
    (220000, 220499, frozenset((16,))),  # Mir
    (501800, 501899, _LONG),  # Maestro
    (502000, 502099, _LONG),  # Maestro
    (503800, 503899, _LONG),  # Maestro
    (589300, 589399, _LONG),  # Maestro
    (630400, 630499, _LONG),  # Maestro
    (675900, 675999, _LONG),  # Maestro
    (676100, 676399, _LONG),  # Maestro
)

# IBAN length per country (SWIFT IBAN Registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# GB 32100-2015 unified social credit code: 31 characters (no I, O, Z, S, V), weights 3^i mod 31.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS: tuple[int, ...] = tuple(pow(3, i, 31) for i in range(17))
USCC_AUTHORITIES = "123456789ANY"  # registration authority codes, GB 32100 table 1

# ISO 3779 / GB 16735 VIN check digit: transliteration and position weights.
VIN_VALUES: dict[str, int] = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
VIN_WEIGHTS: tuple[int, ...] = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # position 10: no I, O, Q, U, Z or 0

# Vehicle plates (GA 36-2018): one-character province abbreviations.
CN_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# E-mail look-alikes: "icon@2x.png" is an image, not a mailbox. None of these is a delegated TLD
# that mail is realistically sent to.
FILE_EXTENSION_TLDS: frozenset[str] = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "bmp",
        "ico",
        "tif",
        "tiff",
        "js",
        "mjs",
        "css",
        "map",
        "json",
        "txt",
        "xml",
        "html",
        "htm",
        "php",
        "asp",
        "aspx",
        "jsp",
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "woff",
        "woff2",
        "ttf",
        "eot",
        "otf",
        "mp3",
        "mp4",
        "wav",
        "avi",
    ]
)


# ICD-10 (WHO 2019, as adopted in GB/T 14396-2016): the last two-digit category of each chapter
# letter. U is left out: WHO reserves it for provisional and emergency codes.
ICD10_LAST_CATEGORY = {
    "A": 99, "B": 99, "C": 97, "D": 89, "E": 90, "F": 99, "G": 99, "H": 95, "I": 99,
    "J": 99, "K": 93, "L": 99, "M": 99, "N": 99, "O": 99, "P": 96, "Q": 99, "R": 99,
    "S": 99, "T": 98, "V": 99, "W": 99, "X": 99, "Y": 98, "Z": 99,
}  # fmt: skip
