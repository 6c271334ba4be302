"""Seeded generator of SYNTHETIC Chinese people and of decoys that look like resident ID numbers.

Everything here is made up: names come from short built-in lists, resident ID numbers are built
from a handful of real county-level region codes, a random birth date and sequence number, and a
computed check character. The same seed always gives the same people, so captures built from them
are reproducible byte for byte.

This module is also the test-side *oracle* for GB 11643-1999 resident identity numbers. It is
deliberately written independently of the product's validator (``detectors.validators``) and as the
direct formula from the standard, so a mistake in one is not silently copied into the other.
"""

from __future__ import annotations

import datetime
import random
import re
from dataclasses import dataclass

# Real county-level division codes (GB/T 2260): Beijing Dongcheng and Chaoyang, Shanghai Huangpu
# and Pudong, Nanjing Xuanwu, Suzhou Gusu, Hangzhou Xihu, Guangzhou Haizhu, Shenzhen Nanshan,
# Chengdu Wuhou.
REGION_CODES: tuple[str, ...] = (
    "110101",
    "110105",
    "310101",
    "310115",
    "320102",
    "320506",
    "330106",
    "440106",
    "440305",
    "510107",
)

# (character, pinyin) so that e-mail addresses can be derived from the name.
SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("罗", "luo"),
    ("高", "gao"),
)
GIVEN_NAME_CHARS: tuple[tuple[str, str], ...] = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂", "gui"),
    ("英", "ying"),
    ("华", "hua"),
    ("建", "jian"),
    ("国", "guo"),
    ("文", "wen"),
    ("玲", "ling"),
    ("晨", "chen"),
    ("宇", "yu"),
    ("欣", "xin"),
)
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org")

# Mainland mobile segments allocated to public mobile, virtual-operator or satellite service (MIIT
# numbering plan, 2024): the first three digits of an 11-digit number. Written out here, apart from
# the product's table (detectors/tables.py), so the generator stays an oracle; the test suite checks
# that the two lists agree. Not here: 140-144, 146, 148, 172 (13-digit IoT) and the unallocated 154,
# 160, 161, 163, 164, 168, 169, 179, 194.
ALLOCATED_MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "145", "147", "149",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "162", "165", "166", "167",
    "170", "171", "173", "174", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "190", "191", "192", "193", "195", "196", "197", "198", "199",
)  # fmt: skip
_ALLOCATED = frozenset(ALLOCATED_MOBILE_PREFIXES)

BIRTH_FIRST = datetime.date(1950, 1, 1)
BIRTH_LAST = datetime.date(2010, 12, 31)

# W_i = 2^(17-i) mod 11 for the 17 body positions i = 0..16 (left to right).
WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))

IMPOSSIBLE_DATE_KINDS: tuple[str, ...] = ("month13", "day32", "feb30")

# A resident-ID-shaped run that is not glued to other digits (or to a trailing X).
_CANDIDATE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")


def check_character(body17: str) -> str:
    """The GB 11643 ISO 7064 MOD 11-2 check character for the first 17 digits.

    check = (12 - (sum(d_i * W_i) mod 11)) mod 11, written '0'..'9' or 'X' for 10.
    """
    if len(body17) != 17 or not body17.isascii() or not body17.isdigit():
        raise ValueError(f"need exactly 17 ASCII digits, got {body17!r}")
    total = sum(int(d) * w for d, w in zip(body17, WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


def birth_date_of(resident_id: str) -> datetime.date | None:
    """The birth date encoded in positions 7-14, or None when it is not a calendar date."""
    try:
        return datetime.date(
            int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14])
        )
    except ValueError:
        return None


def is_valid_resident_id(value: str) -> bool:
    """True for 18 characters: 17 digits with a real calendar birth date and the right check char.

    The region code is not looked up: every generated ID and decoy uses a real one, so the decoys
    differ from valid IDs only in the property they are meant to exercise.
    """
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    if birth_date_of(value) is None:
        return False
    return value[17].upper() == check_character(value[:17])


def find_resident_ids(text: str) -> list[str]:
    """Valid resident IDs in ``text`` in order (with repeats), ignoring runs inside longer digit runs.

    The truth files are computed with this so they describe the bytes actually written.
    """
    return [m.group(0) for m in _CANDIDATE.finditer(text) if is_valid_resident_id(m.group(0))]


def mask_resident_id(resident_id: str) -> str:
    """First 6 + 8 asterisks + last 4: the masked-sample form the sensor reports."""
    return resident_id[:6] + "*" * 8 + resident_id[-4:]


@dataclass(frozen=True)
class Person:
    """One synthetic person; fields are what ends up in uploaded spreadsheets and JSON."""

    name: str
    resident_id: str
    mobile: str
    email: str

    @property
    def birth_date(self) -> datetime.date:
        born = birth_date_of(self.resident_id)
        assert born is not None
        return born


@dataclass(frozen=True)
class Decoy:
    """A resident-ID-looking string that must NOT be counted, and why."""

    value: str
    kind: str  # "wrong_check", "month13", "day32", "feb30" or "long_run"


class SyntheticPeople:
    """All randomness flows from one ``random.Random(seed)``: same seed, same call order, same output.

    Resident IDs handed out by one generator are unique, so "distinct individuals" in a test is
    exactly the number of people drawn.
    """

    def __init__(self, seed: int, *, allocated_mobiles: bool = True) -> None:
        self.rng = random.Random(seed)
        self._issued: set[str] = set()
        # False: the original draw, any 1[3-9] prefix (a quarter of them unallocated, which a
        # validating detector rightly rejects); kept for the bundled sample capture, whose bytes and
        # truth file the end-to-end tests pin.
        self.allocated_mobiles = allocated_mobiles

    def name(self) -> tuple[str, str]:
        """(Chinese name, ascii handle) — surname plus a one- or two-character given name."""
        surname, surname_py = self.rng.choice(SURNAMES)
        given = [self.rng.choice(GIVEN_NAME_CHARS) for _ in range(self.rng.choice((1, 2, 2)))]
        chars = surname + "".join(c for c, _ in given)
        handle = "".join(p for _, p in given) + "." + surname_py
        return chars, handle

    def birth_date(self) -> datetime.date:
        span = (BIRTH_LAST - BIRTH_FIRST).days
        return BIRTH_FIRST + datetime.timedelta(days=self.rng.randint(0, span))

    def _body17(self, born: datetime.date | None = None) -> str:
        born = born or self.birth_date()
        region = self.rng.choice(REGION_CODES)
        return f"{region}{born:%Y%m%d}{self.rng.randint(1, 999):03d}"

    def resident_id(self, *, digit_check: bool = False) -> str:
        """A new valid ID, unique within this generator; ``digit_check`` avoids an 'X' at the end."""
        while True:
            body = self._body17()
            value = body + check_character(body)
            if value in self._issued or (digit_check and value.endswith("X")):
                continue
            self._issued.add(value)
            return value

    def mobile(self) -> str:
        """An 11-digit mainland mobile number in an allocated segment (``ALLOCATED_MOBILE_PREFIXES``).

        Draws exactly what the original ``1[3-9]`` + nine digits draw did, and replaces an
        unallocated three-digit prefix by an allocated one chosen from the drawn digits: the random
        stream, and so every other field of every later person, is the same either way.
        """
        second, rest = self.rng.randint(3, 9), self.rng.randint(0, 999_999_999)
        number = f"1{second}{rest:09d}"
        if self.allocated_mobiles and number[:3] not in _ALLOCATED:
            number = ALLOCATED_MOBILE_PREFIXES[rest % len(ALLOCATED_MOBILE_PREFIXES)] + number[3:]
        return number

    def person(self) -> Person:
        name, handle = self.name()
        resident_id = self.resident_id()
        mobile = self.mobile()
        email = f"{handle}{self.rng.randint(1, 99)}@{self.rng.choice(EMAIL_DOMAINS)}"
        return Person(name=name, resident_id=resident_id, mobile=mobile, email=email)

    def people(self, count: int) -> list[Person]:
        return [self.person() for _ in range(count)]

    # --- decoys: shaped like resident IDs, and a naive regex takes them ---------------------------

    def decoy_wrong_check(self) -> Decoy:
        """Valid region and date, but a check character that is not the computed one."""
        body = self._body17()
        right = check_character(body)
        wrong = self.rng.choice([c for c in "0123456789X" if c != right])
        return Decoy(body + wrong, "wrong_check")

    def decoy_impossible_date(self, kind: str | None = None) -> Decoy:
        """Month 13, day 32 or 30 February, with a *correct* check character so only the date fails."""
        kind = kind or self.rng.choice(IMPOSSIBLE_DATE_KINDS)
        year = self.rng.randint(BIRTH_FIRST.year, BIRTH_LAST.year)
        if kind == "month13":
            date = f"{year}13{self.rng.randint(1, 28):02d}"
        elif kind == "day32":
            date = f"{year}{self.rng.randint(1, 12):02d}32"
        elif kind == "feb30":
            date = f"{year}0230"
        else:
            raise ValueError(
                f"unknown impossible-date kind {kind!r}; one of {IMPOSSIBLE_DATE_KINDS}"
            )
        body = f"{self.rng.choice(REGION_CODES)}{date}{self.rng.randint(1, 999):03d}"
        return Decoy(body + check_character(body), kind)

    def decoy_long_run(self, length: int = 22) -> Decoy:
        """An order number of ``length`` (>= 20) digits with a fully valid ID buried inside it.

        Only a detector that respects digit boundaries rejects it. The buried ID is not registered
        as issued and never appears on its own.
        """
        if length < 20:
            raise ValueError("a long run needs at least 20 digits to hide 18 inside it")
        while True:
            body = self._body17()
            buried = body + check_character(body)
            if not buried.endswith("X"):
                break
        before = self.rng.randint(1, length - 19)
        after = length - 18 - before
        head = str(self.rng.randint(1, 9)) + "".join(
            str(self.rng.randint(0, 9)) for _ in range(before - 1)
        )
        tail = "".join(str(self.rng.randint(0, 9)) for _ in range(after))
        return Decoy(head + buried + tail, "long_run")

    def decoys(
        self, count: int, kinds: tuple[str, ...] = ("wrong_check", *IMPOSSIBLE_DATE_KINDS)
    ) -> list[Decoy]:
        """``count`` decoys cycling through ``kinds`` in order (so the mix is predictable)."""
        out: list[Decoy] = []
        for i in range(count):
            kind = kinds[i % len(kinds)]
            if kind == "wrong_check":
                out.append(self.decoy_wrong_check())
            elif kind == "long_run":
                out.append(self.decoy_long_run(self.rng.randint(20, 26)))
            else:
                out.append(self.decoy_impossible_date(kind))
        return out


def generate_people(seed: int, count: int) -> list[Person]:
    """Shortcut: ``count`` people from a fresh generator seeded with ``seed``."""
    return SyntheticPeople(seed).people(count)
