"""Synthetic identifier values for the labelled accuracy corpus: valid ones and decoys.

Valid values are built forwards from each standard (compute the check character for a random body),
not by filtering random strings through the product's validators, so a validator bug shows up as a
missed value instead of being copied into the truth. Only the code tables (``detectors.tables``)
are shared. Decoys are strings a naive regular expression takes: wrong check characters, impossible
dates, unallocated prefixes, values glued into longer tokens, file names that look like mailboxes.
Every value is made up; the same seed gives the same values.
"""

from __future__ import annotations

import datetime
import random
import string

from detectors.tables import (
    CN_AREA_CODES_2,
    CN_AREA_CODES_3,
    CN_MOBILE_PREFIXES,
    CN_PLATE_PROVINCES,
    USCC_CHARSET,
)

# Real county-level codes across provinces, including prefixes that collide with card networks
# (Gansu 62, Xinjiang 65, Jiangxi 36, Jilin 22), and the residence-permit codes 81/82/83.
REGIONS = [
    "110101",
    "110105",
    "120101",
    "130102",
    "140105",
    "150102",
    "210102",
    "220102",
    "230102",
    "310101",
    "310115",
    "320102",
    "320506",
    "330106",
    "340102",
    "350102",
    "360102",
    "370102",
    "410102",
    "420102",
    "430102",
    "440106",
    "440305",
    "450102",
    "460105",
    "500101",
    "510107",
    "520102",
    "530102",
    "540102",
    "610102",
    "620102",
    "630102",
    "640104",
    "650102",
    "810000",
    "820000",
    "830000",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国文玲晨宇欣"
PINYIN = [
    "wang",
    "li",
    "zhang",
    "liu",
    "chen",
    "yang",
    "huang",
    "zhao",
    "wu",
    "zhou",
    "xu",
    "sun",
    "ma",
    "zhu",
    "hu",
    "guo",
    "he",
    "lin",
    "luo",
    "gao",
]
EMAIL_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "gmail.com",
    "outlook.com",
    "example.com",
    "example.com.cn",
    "mail.example.org",
    "corp.example.cn",
]
UNIONPAY_BINS = ("622202", "621700", "622848", "621660", "622588", "625800", "623668", "628288")
IBAN_BBAN = {  # country: (length, BBAN shape: d digit, a upper letter, c alphanumeric)
    "DE": "d" * 18,
    "GB": "aaaa" + "d" * 14,
    "FR": "d" * 10 + "c" * 11 + "dd",
    "NL": "aaaa" + "d" * 10,
    "CH": "d" * 5 + "c" * 12,
    "ES": "d" * 20,
    "IT": "a" + "d" * 10 + "c" * 12,
    "BE": "d" * 12,
}
VIN_WMI = ("LSV", "LFV", "LVS", "LGB", "LSG", "1HG", "WBA", "JHM", "5YJ")
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
VIN_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def _weights_gb11643() -> list[int]:
    return [
        2 ** (18 - i) % 11 for i in range(1, 18)
    ]  # W_i = 2^(18-i) mod 11, i = 1..17 from the left


def gb11643_check(body: str) -> str:
    total = sum(int(d) * w for d, w in zip(body, _weights_gb11643(), strict=True))
    return "10X98765432"[total % 11]


def luhn_check_digit(body: str) -> str:
    """The digit that makes body + digit pass Luhn."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


# Common diagnosis categories and condition names, written independently of the signatures.
ICD10_SAMPLE = ("E11", "I10", "J45", "C34", "F32", "K21", "N18", "B18", "M05", "A15", "Z34", "O80")
DIAGNOSES = (
    "高血压",
    "糖尿病",
    "冠心病",
    "哮喘",
    "抑郁症",
    "肺结核",
    "乙型肝炎",
    "痛风",
    "乳腺癌",
    "白血病",
)

PLACES = (
    ("北京市", "", "朝阳区"), ("上海市", "", "浦东新区"), ("广东省", "深圳市", "南山区"),
    ("浙江省", "杭州市", "西湖区"), ("江苏省", "南京市", "鼓楼区"), ("四川省", "成都市", "武侯区"),
    ("湖北省", "武汉市", "洪山区"), ("广西壮族自治区", "南宁市", "青秀区"),
)  # fmt: skip
ROADS = ("建国路", "中山路", "人民大道", "科技园路", "解放街", "文二路", "长安街", "学院路")


class ValueMaker:
    """Valid values and decoys, all drawn from one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mobile_prefixes = sorted(CN_MOBILE_PREFIXES)
        self.area2 = sorted(CN_AREA_CODES_2)
        self.area3 = sorted(CN_AREA_CODES_3)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    def name(self) -> tuple[str, str]:
        k = self.rng.randrange(len(SURNAMES))
        given = "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))
        return SURNAMES[k] + given, PINYIN[k]

    def birth(self, first: int = 1940, last: int = 2010) -> datetime.date:
        start = datetime.date(first, 1, 1)
        return start + datetime.timedelta(
            days=self.rng.randrange((datetime.date(last, 12, 31) - start).days)
        )

    # --- identity documents -------------------------------------------------------------------

    def resident_id(self) -> str:
        body = f"{self.rng.choice(REGIONS)}{self.birth():%Y%m%d}{self.digits(3)}"
        return body + gb11643_check(body)

    def resident_id_15(self) -> str:
        return f"{self.rng.choice(REGIONS[:-3])}{self.birth(1940, 1999):%y%m%d}{self.digits(3)}"

    def passport(self) -> str:
        if self.rng.random() < 0.7:
            return "E" + str(self.rng.randint(1, 9)) + self.digits(7)
        return (
            "E"
            + self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
            + str(self.rng.randint(1, 9))
            + self.digits(6)
        )

    def hkmo_permit(self) -> str:
        return self.rng.choice("HM") + str(self.rng.randint(1, 9)) + self.digits(7)

    def tw_permit(self) -> str:
        return self.rng.choice("03456789") + self.digits(7)  # no 19xx/20xx: those read as dates

    def hkid(self) -> str:
        letters = "".join(
            self.rng.choice(string.ascii_uppercase) for _ in range(self.rng.choice((1, 1, 2)))
        )
        body = self.digits(6)
        values = (
            ([36] if len(letters) == 1 else [])
            + [ord(c) - 55 for c in letters]
            + [int(d) for d in body]
        )
        check = (11 - sum(w * v for w, v in zip(range(9, 1, -1), values, strict=True)) % 11) % 11
        return f"{letters}{body}({'A' if check == 10 else check})"

    def ssn(self) -> str:
        area = self.rng.choice([a for a in range(1, 900) if a != 666])
        return f"{area:03d}-{self.rng.randint(1, 99):02d}-{self.rng.randint(1, 9999):04d}"

    # --- contact ------------------------------------------------------------------------------

    def mobile(self) -> str:
        return str(self.rng.choice(self.mobile_prefixes)) + self.digits(8)

    def mobile_written(self, number: str) -> str:
        a, b, c = number[:3], number[3:7], number[7:]
        return self.rng.choice(
            (
                number,
                number,
                number,
                f"{a} {b} {c}",
                f"{a}-{b}-{c}",
                f"+86 {number}",
                f"+86-{a}-{b}-{c}",
                f"0086{number}",
                f"+86{number}",
            )
        )

    def landline(self) -> str:
        if self.rng.random() < 0.4:
            area, sub = (
                f"0{self.rng.choice(self.area2)}",
                str(self.rng.randint(2, 8)) + self.digits(7),
            )
        else:
            area, sub = (
                f"0{self.rng.choice(self.area3)}",
                str(self.rng.randint(2, 8)) + self.digits(self.rng.choice((6, 7))),
            )
        return self.rng.choice(
            (f"{area}-{sub}", f"({area}){sub}", f"+86 {area[1:]} {sub}", f"{area} {sub}")
        )

    def email(self, handle: str | None = None) -> str:
        handle = handle or self.rng.choice(PINYIN)
        local = self.rng.choice(
            (
                handle,
                f"{handle}.{self.rng.choice(PINYIN)}",
                f"{handle}{self.rng.randint(1, 9999)}",
                f"{handle}_{self.rng.randint(1, 99)}",
                f"{handle}+news",
            )
        )
        return f"{local}@{self.rng.choice(EMAIL_DOMAINS)}"

    # --- financial ----------------------------------------------------------------------------

    def unionpay(self) -> str:
        body = self.rng.choice(UNIONPAY_BINS) + self.digits(self.rng.choice((9, 12)))
        return body + luhn_check_digit(body)

    def payment_card(self) -> str:
        prefix, length = self.rng.choice(
            (
                ("4", 16),
                ("51", 16),
                ("55", 16),
                ("2221", 16),
                ("2720", 16),
                ("34", 15),
                ("37", 15),
                ("3530", 16),
                ("6011", 16),
                ("36", 14),
                ("4", 13),
            )
        )
        body = prefix + self.digits(length - len(prefix) - 1)
        return body + luhn_check_digit(body)

    def card_written(self, number: str) -> str:
        if number.startswith(("34", "37")) and len(number) == 15 and self.rng.random() < 0.5:
            return f"{number[:4]} {number[4:10]} {number[10:]}"
        if len(number) in (16, 19) and self.rng.random() < 0.4:
            sep = self.rng.choice(" -")
            return sep.join(number[i : i + 4] for i in range(0, len(number), 4))
        return number

    def iban(self) -> str:
        country = self.rng.choice(sorted(IBAN_BBAN))
        shape = IBAN_BBAN[country]
        bban = "".join(
            self.rng.choice(
                string.digits
                if c == "d"
                else string.ascii_uppercase
                if c == "a"
                else string.digits + string.ascii_uppercase
            )
            for c in shape
        )
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    # --- organisations, vehicles, places -------------------------------------------------------

    def uscc(self) -> str:
        body = (
            "91"
            + self.rng.choice(REGIONS[:-3])
            + "".join(self.rng.choice(USCC_CHARSET) for _ in range(9))
        )
        total = sum(USCC_CHARSET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
        return body + USCC_CHARSET[(31 - total % 31) % 31]

    def vin(self) -> str:
        values = {
            c: v
            for c, v in zip(
                "ABCDEFGHJKLMNPRSTUVWXYZ",
                [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9],
                strict=True,
            )
        }
        values.update({str(d): d for d in range(10)})
        weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
        chars = list(
            self.rng.choice(VIN_WMI) + "".join(self.rng.choice(VIN_CHARS) for _ in range(5)) + "0"
        )
        chars += [self.rng.choice(VIN_YEARS), self.rng.choice(VIN_CHARS), *self.digits(6)]
        total = sum(values[c] * w for c, w in zip(chars, weights, strict=True)) % 11
        chars[8] = "X" if total == 10 else str(total)
        return "".join(chars)

    def plate(self) -> str:
        head = self.rng.choice(CN_PLATE_PROVINCES) + self.rng.choice("ABCDEFGHJKLMN")
        kind = self.rng.random()
        if kind < 0.2:
            return (
                head
                + self.rng.choice("DF")
                + self.rng.choice(PLATE_LETTERS + "0123456789")
                + self.digits(4)
            )
        serial = list(self.digits(5))
        for i in self.rng.sample(range(5), self.rng.choice((0, 1, 2))):
            serial[i] = self.rng.choice(PLATE_LETTERS)
        return head + self.rng.choice(("", "", "·")) + "".join(serial)

    def gps(self) -> str:
        lat = f"{self.rng.uniform(18, 53):.6f}"
        lon = f"{self.rng.uniform(73, 135):.6f}"
        return self.rng.choice((f"{lat},{lon}", f"{lon},{lat}", f"{lat}, {lon}"))

    # --- decoys -------------------------------------------------------------------------------

    def icd10(self) -> str:
        """A real ICD-10 category, half the time with a subdivision."""
        code = self.rng.choice(ICD10_SAMPLE)
        return code if self.rng.random() < 0.5 else f"{code}.{self.rng.randint(0, 9)}"

    def address(self) -> str:
        province, city, district = self.rng.choice(PLACES)
        road = self.rng.choice(ROADS)
        return f"{province}{city}{district}{road}{self.rng.randint(1, 2999)}号"

    def diagnosis(self) -> str:
        return self.rng.choice(DIAGNOSES)

    def decoy_resident_id(self) -> str:
        good = self.resident_id()
        kind = self.rng.random()
        if kind < 0.5:
            return good[:17] + self.rng.choice([c for c in "0123456789X" if c != good[17]])
        body = f"{self.rng.choice(REGIONS)}{self.rng.randint(1950, 2000)}13{self.rng.randint(10, 28)}{self.digits(3)}"
        return body + gb11643_check(body)  # month 13, right check character

    def decoy_card(self) -> str:
        good = self.rng.choice((self.unionpay, self.payment_card))()
        last = int(good[-1])
        return good[:-1] + str((last + self.rng.randint(1, 9)) % 10)

    def order_number(self) -> str:
        return self.rng.choice(("62", "4", "5", "3", "2")) + self.digits(
            self.rng.choice((13, 15, 17))
        )

    def hex_token(self) -> str:
        return "".join(
            self.rng.choice("0123456789abcdef") for _ in range(self.rng.choice((32, 40, 64)))
        )

    def uuid(self) -> str:
        h = self.hex_token()[:32]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def bad_mobile(self) -> str:
        return self.rng.choice(
            ("140", "141", "154", "160", "169", "179", "194", "120", "110")
        ) + self.digits(8)

    def file_name(self) -> str:
        return f"{self.rng.choice(('icon', 'logo', 'banner', 'avatar'))}@{self.rng.choice(('2x', '3x'))}.{self.rng.choice(('png', 'jpg', 'webp', 'svg'))}"

    def decoy_iban(self) -> str:
        value = self.iban().replace(" ", "")
        check = (int(value[2:4]) + self.rng.randint(1, 90)) % 97
        return value[:2] + f"{max(check, 2):02d}" + value[4:]

    def decoy_hkid(self) -> str:
        good = self.hkid()
        right = good[-2]
        return good[:-2] + self.rng.choice([c for c in "0123456789A" if c != right]) + ")"

    def decoy_vin(self) -> str:
        good = self.vin()
        return good[:8] + self.rng.choice([c for c in "0123456789X" if c != good[8]]) + good[9:]

    def decoy_uscc(self) -> str:
        good = self.uscc()
        return good[:17] + self.rng.choice([c for c in USCC_CHARSET if c != good[17]])

    def decoy_ssn(self) -> str:
        return (
            self.rng.choice(("000", "666", "900", "987"))
            + f"-{self.rng.randint(1, 99):02d}-{self.rng.randint(1, 9999):04d}"
        )
