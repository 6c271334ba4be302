"""Plain-Python definitions of every validator: text in, normalised value (or None) out.

These are the readable statement of each rule, written straight from the standard one value at a
time. The vectorised kernels in ``validators*.py`` must agree with them on every string that
matches the identifier's pattern; the hypothesis tests check exactly that. They also back the
``re``-based baseline scanner (``detectors.baseline``) and normalise operators' allowlisted values.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from detectors.tables import (
    CN_AREA_CODES_2,
    CN_AREA_CODES_3,
    CN_MOBILE_PREFIXES,
    CN_PLATE_PROVINCES,
    CN_PROVINCE_CODES,
    FILE_EXTENSION_TLDS,
    GB11643_CHECK,
    GB11643_WEIGHTS,
    IBAN_LENGTHS,
    ICD10_LAST_CATEGORY,
    INTERNATIONAL_CARD_RANGES,
    MIN_BIRTH_YEAR,
    UNIONPAY_RANGES,
    USCC_AUTHORITIES,
    USCC_CHARSET,
    USCC_WEIGHTS,
    VIN_VALUES,
    VIN_WEIGHTS,
    VIN_YEAR_CODES,
)

Reference = Callable[[str], str | None]


def _date_ok(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return MIN_BIRTH_YEAR <= year <= datetime.date.today().year


def gb11643_check(body17: str) -> str:
    return GB11643_CHECK[sum(int(c) * w for c, w in zip(body17, GB11643_WEIGHTS, strict=True)) % 11]


def cn_resident_id(text: str) -> str | None:
    """18 characters: region (province known), birth date, sequence, ISO 7064 MOD 11-2 check."""
    value = text.upper()
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return None
    if value[17] != gb11643_check(value[:17]) or int(value[:2]) not in CN_PROVINCE_CODES:
        return None
    return value if _date_ok(int(value[6:10]), int(value[10:12]), int(value[12:14])) else None


def cn_resident_id_15(text: str) -> str | None:
    """Legacy 15-digit number (before 1999): no check digit, two-digit year in the 1900s.

    Normalised to the 18-digit number the same person holds today, so both forms count once.
    """
    if len(text) != 15 or not text.isascii() or not text.isdigit():
        return None
    if int(text[:2]) not in CN_PROVINCE_CODES:
        return None
    if not _date_ok(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12])):
        return None
    body = text[:6] + "19" + text[6:]
    return body + gb11643_check(body)


def _digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def cn_mobile(text: str) -> str | None:
    """11 digits in an allocated segment, after dropping a +86 / 0086 country code and separators."""
    d = _digits(text)
    if len(d) == 15 and d.startswith("0086"):
        d = d[4:]
    elif len(d) == 13 and d.startswith("86"):
        d = d[2:]
    return d if len(d) == 11 and int(d[:3]) in CN_MOBILE_PREFIXES else None


def cn_landline(text: str) -> str | None:
    """Trunk 0, a known area code, and a subscriber number starting 2-8 of the right length."""
    d = _digits(text)
    if d.startswith("0086"):
        d = "0" + d[4:]
    elif d.startswith("86"):
        d = "0" + d[2:]
    if len(d) < 10 or d[0] != "0":
        return None
    lengths: tuple[int, ...]
    if int(d[1:3]) in CN_AREA_CODES_2:
        subscriber, lengths = d[3:], (8,)
    elif int(d[1:4]) in CN_AREA_CODES_3:
        subscriber, lengths = d[4:], (7, 8)
    else:
        return None
    if len(subscriber) not in lengths or subscriber[0] not in "2345678":
        return None
    return d


_EMAIL_LOCAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def email(text: str) -> str | None:
    """local@domain: local part 1-64 characters without leading, trailing or doubled dots; domain
    labels of letters, digits and inner hyphens; a letters-only TLD that is not a file extension."""
    if text.count("@") != 1 or len(text) > 254:
        return None
    local, domain = text.split("@")
    if not 1 <= len(local) <= 64 or not set(local) <= _EMAIL_LOCAL:
        return None
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    if not set(domain) <= _EMAIL_DOMAIN:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or any(
        not 1 <= len(label) <= 63 or label.startswith("-") or label.endswith("-")
        for label in labels
    ):
        return None
    tld = labels[-1]
    if not 2 <= len(tld) <= 24 or not tld.isalpha() or tld.lower() in FILE_EXTENSION_TLDS:
        return None
    return text.lower()


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card(text: str, ranges: tuple[tuple[int, int, frozenset[int]], ...]) -> str | None:
    d = _digits(text)
    if not 13 <= len(d) <= 19 or not _luhn(d):
        return None
    prefix = int(d[:6])
    if any(lo <= prefix <= hi and len(d) in lengths for lo, hi, lengths in ranges):
        return d
    return None


def unionpay_card(text: str) -> str | None:
    """UnionPay (62): 16-19 digits, Luhn."""
    return _card(text, UNIONPAY_RANGES)


def payment_card(text: str) -> str | None:
    """Visa, Mastercard, Amex, JCB, Discover, Diners, Mir, Maestro: issuer range, length, Luhn."""
    return _card(text, INTERNATIONAL_CARD_RANGES)


def iban(text: str) -> str | None:
    """Country code, known length for that country, and ISO 7064 mod 97-10 == 1."""
    s = text.replace(" ", "").upper()
    if len(s) < 5 or not (s[:2].isalpha() and s[2:4].isdigit()) or not s.isalnum():
        return None
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return None
    rearranged = s[4:] + s[:4]
    return s if int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1 else None


def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def cn_passport(text: str) -> str | None:
    """E + 8 digits, E + letter (not I/O) + 7 digits, G + 8 digits, or P/S/D (+E) + 7 digits."""
    v = text.upper()
    if len(v) == 9 and v[0] in "EG" and _ascii_digits(v[1:]):
        serial = v[1:]
    elif len(v) == 9 and v[0] == "E" and "A" <= v[1] <= "Z" and v[1] not in "IO":
        serial = v[2:]
    elif len(v) == 8 and v[0] in "PSD":
        serial = v[1:]
    elif len(v) == 9 and v[0] in "PSD" and v[1] == "E":
        serial = v[2:]
    else:
        return None
    return v if _ascii_digits(serial) and int(serial[-7:]) != 0 else None


def cn_hkmo_permit(text: str) -> str | None:
    """H (Hong Kong) or M (Macao) + 8 digits, optionally + 2 renewal digits (dropped)."""
    v = text.upper()
    if v[:1] not in ("H", "M") or len(v) not in (9, 11) or not v[1:].isdigit():
        return None
    return v[:9] if int(v[1:9]) != 0 else None


def cn_tw_permit(text: str) -> str | None:
    """8 digits (card permits since 2015), not zero and not a YYYYMMDD date."""
    if len(text) != 8 or not text.isascii() or not text.isdigit() or int(text) == 0:
        return None
    try:
        datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return None if 1900 <= int(text[:4]) <= 2099 else text
    except ValueError:
        return text


def hk_identity_card(text: str) -> str | None:
    """One or two letters, six digits, check digit (0-9 or A) in optional parentheses."""
    v = text.replace("(", "").replace(")", "").upper()
    letters = len(v) - 7
    if letters not in (1, 2) or not v[:letters].isalpha() or not v[letters:-1].isdigit():
        return None
    values = ([36] if letters == 1 else []) + [ord(c) - 55 for c in v[:letters]]
    values += [int(c) for c in v[letters:-1]]
    total = sum(w * x for w, x in zip(range(9, 1, -1), values, strict=True))
    check = (11 - total % 11) % 11
    return v if v[-1] == ("A" if check == 10 else str(check)) else None


def cn_uscc(text: str) -> str | None:
    """GB 32100: authority, type, region (known province), subject code, mod-31 check character."""
    v = text.upper()
    if len(v) != 18 or any(c not in USCC_CHARSET for c in v):
        return None
    if v[0] not in USCC_AUTHORITIES or v[1] not in "123456789" or not v[2:8].isdigit():
        return None
    if int(v[2:4]) not in CN_PROVINCE_CODES:
        return None
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(v[:17], USCC_WEIGHTS, strict=True))
    return v if v[17] == USCC_CHARSET[(31 - total % 31) % 31] else None


def us_ssn(text: str) -> str | None:
    """AAA-GG-SSSS: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    d = _digits(text)
    if len(d) != 9:
        return None
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    ok = 0 < area < 900 and area != 666 and group != 0 and serial != 0
    return d if ok else None


def vin(text: str) -> str | None:
    """ISO 3779 VIN with the GB 16735 / North American check digit in position 9."""
    v = text.upper()
    if len(v) != 17 or any(c not in VIN_VALUES for c in v):
        return None
    if v[9] not in VIN_YEAR_CODES or not any(c.isalpha() for c in v[:3]):
        return None
    total = sum(VIN_VALUES[c] * w for c, w in zip(v, VIN_WEIGHTS, strict=True)) % 11
    return v if v[8] == ("X" if total == 10 else str(total)) else None


_PLATE_SEPARATORS = (" ", "·", "•")
_PLATE_SUFFIXES = "挂学警港澳领使"


def cn_vehicle_plate(text: str) -> str | None:
    """Province + issuing-office letter + serial; at most two letters in the serial."""
    if len(text) < 7 or text[0] not in CN_PLATE_PROVINCES:
        return None
    rest = text[2:]
    if rest[:1] in _PLATE_SEPARATORS:
        rest = rest[1:]
    value = text[:2] + rest
    serial = rest[:-1] if rest[-1:] in _PLATE_SUFFIXES else rest
    if not text[1].isascii() or not text[1].isupper() or text[1] in "IO":
        return None
    if not serial.isascii() or not serial.isalnum() or len(serial) not in (4, 5, 6):
        return None
    if (len(serial) == 4) != (rest[-1:] in _PLATE_SUFFIXES):
        return None
    if sum(c.isalpha() for c in serial) > 2 or any(c in "IO" for c in serial):
        return None
    return value


def gps_coordinates(text: str) -> str | None:
    """A latitude and longitude pair (either order) with at least five decimals each."""
    for sep in (",", " "):
        if sep in text:
            first, _, second = text.partition(sep)
            break
    else:
        return None
    first, second = first.strip(), second.strip()
    try:
        a, b = float(first), float(second)
    except ValueError:
        return None
    if any(len(x.partition(".")[2]) < 5 for x in (first, second)):
        return None
    if int(abs(a)) == 0 and int(abs(b)) == 0:
        return None
    if not ((abs(a) <= 90 and abs(b) <= 180) or (abs(a) <= 180 and abs(b) <= 90)):
        return None
    return f"{first},{second}"


def accept_all(text: str) -> str | None:
    return text


def icd10(text: str) -> str | None:
    """Letter + two digits naming an existing category, optionally ``.`` + 1-4 digits/letters."""
    v = text.upper()
    if len(v) < 3 or not _ascii_digits(v[1:3]) or v[0] not in ICD10_LAST_CATEGORY:
        return None
    if int(v[1:3]) > ICD10_LAST_CATEGORY[v[0]]:
        return None
    if len(v) == 3:
        return v
    tail = v[4:]
    if v[3] != "." or not 1 <= len(tail) <= 4 or not all(c.isascii() and c.isalnum() for c in tail):
        return None
    return v


def cn_person_name(text: str) -> str | None:
    """Two to four CJK unified ideographs (the pattern supplies the surname)."""
    return text if 2 <= len(text) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in text) else None


def cn_address(text: str) -> str | None:
    """Any address the pattern matched (the surroundings are checked by the kernel)."""
    return text


REFERENCES: dict[str, Reference] = {
    "gb11643": cn_resident_id,
    "gb11643_15": cn_resident_id_15,
    "cn_mobile": cn_mobile,
    "cn_landline": cn_landline,
    "email": email,
    "unionpay_card": unionpay_card,
    "payment_card": payment_card,
    "iban": iban,
    "cn_passport": cn_passport,
    "cn_hkmo_permit": cn_hkmo_permit,
    "cn_tw_permit": cn_tw_permit,
    "hk_identity_card": hk_identity_card,
    "cn_uscc": cn_uscc,
    "us_ssn": us_ssn,
    "vin": vin,
    "cn_vehicle_plate": cn_vehicle_plate,
    "gps_coordinates": gps_coordinates,
    "icd10": icd10,
    "cn_person_name": cn_person_name,
    "cn_address": cn_address,
    "none": accept_all,
}
