"""A labelled corpus for measuring detector accuracy: synthetic documents with known answers.

Four document shapes cover how personal data leaves in practice: CSV exports (one person per
row, Chinese or English headers, order numbers, amounts, timestamps and hashes in other columns),
JSON API payloads, JSON Lines logs, and free text (notes, e-mails) where keywords sit next to the
values. Every identifier written is labelled with its byte span; decoys (``corpus_values``) are
not, so any detection of them is a false positive. Documents also know how many distinct people
they hold, to check ``distinct_individuals``.

Everything is synthetic and seeded: the same seed writes the same bytes. ``corpus_formats`` writes
the same documents again as GBK CSV, XLSX, DOCX and PDF, for measuring through content extraction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from detectors.corpus_values import ValueMaker

DEFAULT_SEED = 20240601


@dataclass(frozen=True, slots=True)
class Label:
    identifier: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Document:
    name: str
    kind: str  # csv, json, ndjson, text
    data: bytes
    labels: tuple[Label, ...]
    people: int | None  # distinct individuals, where the shape makes that well defined


@dataclass
class Builder:
    """Concatenates text while recording the byte span of every labelled value."""

    parts: list[bytes] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    size: int = 0

    def text(self, value: str) -> None:
        raw = value.encode("utf-8")
        self.parts.append(raw)
        self.size += len(raw)

    def value(self, identifier: str, value: str, inner: tuple[tuple[str, str], ...] = ()) -> None:
        """Write ``value`` labelled as ``identifier``; ``inner`` labels substrings of it too."""
        start = self.size
        self.text(value)
        self.labels.append(Label(identifier, start, self.size))
        for sub_identifier, sub in inner:
            offset = len(value[: value.index(sub)].encode())
            self.labels.append(
                Label(sub_identifier, start + offset, start + offset + len(sub.encode()))
            )

    def document(self, name: str, kind: str, people: int | None) -> Document:
        return Document(name, kind, b"".join(self.parts), tuple(self.labels), people)


# (identifier, CSV/JSON field names, maker) for the optional per-person identifiers.
Field = tuple[str, tuple[str, ...], Callable[[ValueMaker], str]]
OPTIONAL_FIELDS: tuple[Field, ...] = (
    ("unionpay_card", ("银行卡号", "card_no", "银行账号"), lambda v: v.card_written(v.unionpay())),
    (
        "payment_card",
        ("信用卡号", "credit_card", "card number"),
        lambda v: v.card_written(v.payment_card()),
    ),
    ("cn_passport", ("护照号码", "passport_no"), lambda v: v.passport()),
    ("cn_hkmo_travel_permit", ("回乡证号码", "hkmo_permit"), lambda v: v.hkmo_permit()),
    ("cn_tw_travel_permit", ("台胞证号码", "tw_permit"), lambda v: v.tw_permit()),
    ("hk_identity_card", ("香港身份证", "hkid"), lambda v: v.hkid()),
    ("us_ssn", ("SSN", "social_security"), lambda v: v.ssn()),
    ("iban", ("IBAN", "iban"), lambda v: v.iban()),
    ("cn_landline", ("联系电话", "tel"), lambda v: v.landline()),
    ("cn_vehicle_plate", ("车牌号", "plate"), lambda v: v.plate()),
    ("vin", ("车架号", "vin"), lambda v: v.vin()),
    ("gps_coordinates", ("位置", "location"), lambda v: v.gps()),
    ("cn_uscc", ("统一社会信用代码", "credit_code"), lambda v: v.uscc()),
    ("icd10_code", ("诊断编码", "icd10_code"), lambda v: v.icd10()),
    ("medical_diagnosis", ("诊断", "diagnosis"), lambda v: v.diagnosis()),
    ("cn_address", ("地址", "address"), lambda v: v.address()),
)
RANKED = {
    "cn_person_name",
    "cn_resident_id",
    "cn_resident_id_15",
    "cn_mobile",
    "email",
    "unionpay_card",
    "payment_card",
    "cn_passport",
    "cn_hkmo_travel_permit",
    "cn_tw_travel_permit",
    "hk_identity_card",
    "us_ssn",
    "iban",
}


class CorpusGenerator:
    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.rng = random.Random(seed)
        self.v = ValueMaker(self.rng)

    def documents(self, count: int = 120) -> Iterator[Document]:
        makers = (
            self.csv_people,
            self.json_people,
            self.ndjson_log,
            self.text_notes,
            self.text_bare,
        )
        for i in range(count):
            yield makers[i % len(makers)](f"doc{i:04d}")

    def _identity(self) -> tuple[str, str]:
        if self.rng.random() < 0.06:
            return "cn_resident_id_15", self.v.resident_id_15()
        return "cn_resident_id", self.v.resident_id()

    def csv_people(self, name: str) -> Document:
        """A people export: header row, one person per row, noise columns."""
        b = Builder()
        english = self.rng.random() < 0.4
        extras = self.rng.sample(OPTIONAL_FIELDS, self.rng.randint(1, 4))
        header = (
            ["name", "id_number", "mobile", "email"]
            if english
            else ["姓名", "身份证号", "手机号", "邮箱"]
        )
        header += [f[1][1] if english and len(f[1]) > 1 else f[1][0] for f in extras]
        header += (
            ["order_no", "amount", "created", "trace"]
            if english
            else ["订单号", "金额", "创建时间", "备注"]
        )
        b.text(",".join(header) + "\n")
        rows = self.rng.randint(20, 60)
        people = 0
        for _ in range(rows):
            people += 1
            person, handle = self.v.name()
            b.value("cn_person_name", person)
            b.text(",")
            if self.rng.random() < 0.05:  # a typo: the row still names a person by mobile
                b.text(self.v.decoy_resident_id())
            else:
                b.value(*self._identity())
            b.text(",")
            b.value("cn_mobile", self.v.mobile_written(self.v.mobile()))
            b.text(",")
            b.value("email", self.v.email(handle))
            for identifier, _names, make in extras:
                b.text(",")
                if self.rng.random() < 0.9:
                    value = make(self.v)
                    quote = '"' if "," in value else ""  # RFC 4180: a field with a comma is quoted
                    b.text(quote)
                    b.value(identifier, value)
                    b.text(quote)
            b.text(
                f",{self.v.order_number()},{self.rng.randint(1, 99999)}.{self.rng.randint(0, 99):02d}"
            )
            stamp = self.rng.choice(
                (
                    f"2024-03-05 1{self.rng.randint(0, 9)}:{self.rng.randint(10, 59)}:{self.rng.randint(10, 59)}",
                    f"17093{self.v.digits(8)}",
                )
            )
            b.text(f",{stamp},{self.v.hex_token()}\n")
        return b.document(name, "csv", people)

    def json_people(self, name: str) -> Document:
        """An API payload: a list of person objects with English keys."""
        b = Builder()
        extras = self.rng.sample(OPTIONAL_FIELDS, self.rng.randint(1, 4))
        n = self.rng.randint(5, 30)
        b.text('{"request_id":"' + self.v.uuid() + '","customers":[')
        for i in range(n):
            person, handle = self.v.name()
            b.text(("," if i else "") + '{"name":"')
            b.value("cn_person_name", person)
            b.text('","id_no":"')
            b.value(*self._identity())
            b.text('","phone":"')
            b.value("cn_mobile", self.v.mobile_written(self.v.mobile()))
            b.text('","email":"')
            b.value("email", self.v.email(handle))
            b.text('"')
            for identifier, names, make in extras:
                b.text(f',"{names[-1]}":"')
                b.value(identifier, make(self.v))
                b.text('"')
            b.text(f',"order_id":"{self.v.order_number()}","sig":"{self.v.hex_token()}"' + "}")
        b.text("]}")
        return b.document(name, "json", n)

    def ndjson_log(self, name: str) -> Document:
        """Service logs: mostly identifiers that are not personal, a few users in between."""
        b = Builder()
        for _ in range(self.rng.randint(30, 80)):
            b.text(
                '{"ts":"2024-03-05T10:'
                + f'{self.rng.randint(10, 59)}:{self.rng.randint(10, 59)}.{self.v.digits(3)}Z"'
            )
            b.text(
                f',"trace":"{self.v.uuid()}","span":"{self.v.hex_token()[:16]}","ms":{self.rng.randint(1, 900)}'
            )
            roll = self.rng.random()
            if roll < 0.25:
                b.text(',"user_mobile":"')
                b.value("cn_mobile", self.v.mobile())
                b.text('"')
            elif roll < 0.4:
                b.text(',"login":"')
                b.value("email", self.v.email())
                b.text('"')
            elif roll < 0.55:
                b.text(f',"asset":"{self.v.file_name()}","ver":"3.{self.v.mobile()}"')
            elif roll < 0.7:
                b.text(f',"order_no":"{self.v.order_number()}","sku":"SN{self.v.mobile()}"')
            b.text(f',"epoch":{self.rng.randint(1600000000000, 1800000000000)}' + "}\n")
        return b.document(name, "ndjson", None)

    def text_notes(self, name: str) -> Document:
        """Free text with keywords beside values, and decoys beside misleading words."""
        b = Builder()
        for _ in range(self.rng.randint(8, 20)):
            person, handle = self.v.name()
            pick = self.rng.randrange(11)
            if pick == 0:
                b.text(f"客户{person}的身份证号码为")
                b.value(*self._identity())
                b.text("，请核实。\n")
            elif pick == 1:
                b.text(f"{person}的手机是")
                b.value("cn_mobile", self.v.mobile_written(self.v.mobile()))
                b.text("，邮箱 ")
                b.value("email", self.v.email(handle))
                b.text(" 。\n")
            elif pick == 2:
                b.text("Please refund card ")
                b.value("payment_card", self.v.card_written(self.v.payment_card()))
                b.text(" and UnionPay card ")
                b.value("unionpay_card", self.v.card_written(self.v.unionpay()))
                b.text(".\n")
            elif pick == 3:
                b.text(f"{person}护照号 ")
                b.value("cn_passport", self.v.passport())
                b.text("，回乡证 ")
                b.value("cn_hkmo_travel_permit", self.v.hkmo_permit())
                b.text("，台胞证号码：")
                b.value("cn_tw_travel_permit", self.v.tw_permit())
                b.text("。\n")
            elif pick == 4:
                b.text("HKID ")
                b.value("hk_identity_card", self.v.hkid())
                b.text(", SSN ")
                b.value("us_ssn", self.v.ssn())
                b.text(", IBAN ")
                b.value("iban", self.v.iban())
                b.text("\n")
            elif pick == 5:
                b.text("车辆 ")
                b.value("cn_vehicle_plate", self.v.plate())
                b.text(" 车架号 ")
                b.value("vin", self.v.vin())
                b.text(" 最后位置 ")
                b.value("gps_coordinates", self.v.gps())
                b.text("\n")
            elif pick == 6:
                b.text("公司统一社会信用代码 ")
                b.value("cn_uscc", self.v.uscc())
                b.text("，办公电话 ")
                b.value("cn_landline", self.v.landline())
                b.text("。\n")
            elif pick == 7:  # decoys with misleading context
                b.text(f"订单号 {self.v.order_number()}，流水号 {self.v.order_number()}，")
                b.text(
                    f"校验失败的证件 {self.v.decoy_resident_id()}，无效卡 {self.v.decoy_card()}。\n"
                )
            elif pick == 8:
                b.text(
                    f"sha256 {self.v.hex_token()} uuid {self.v.uuid()} 图片 {self.v.file_name()} "
                )
                b.text(
                    f"余额 {self.v.mobile()}.{self.rng.randint(10, 99)} 型号 SN{self.v.mobile()}\n"
                )
            elif pick == 9:
                b.text(
                    f"无效号码 {self.v.bad_mobile()}，错误 IBAN {self.v.decoy_iban()}，HKID {self.v.decoy_hkid()}，"
                )
                b.text(
                    f"VIN {self.v.decoy_vin()}，代码 {self.v.decoy_uscc()}，SSN {self.v.decoy_ssn()}。\n"
                )
            else:
                address = self.v.email("admin" + str(self.rng.randint(1, 9)))
                mobile = self.v.mobile()
                b.text("联系 ")
                b.value("email", f"{mobile}@163.com", (("cn_mobile", mobile),))
                b.text(" 或 ")
                b.value("email", address)
                b.text("\n")
        return b.document(name, "text", None)

    def text_bare(self, name: str) -> Document:
        """Values with no keyword anywhere near, and look-alikes that a naive regex takes.

        Only identifiers whose validation stands on its own are written bare; the ones that need
        context (passports, permits, 15-digit IDs, bare landlines) would rightly be missed here.
        """
        b = Builder()
        for _ in range(self.rng.randint(10, 30)):
            b.text(self.rng.choice(FILLERS) + " ")
            if self.rng.random() < 0.6:
                identifier, make = self.rng.choice(BARE)
                b.value(identifier, make(self.v))
            else:
                b.text(_bare_decoys(self.v))
            b.text(self.rng.choice(("\n", " ", "; ", "\r\n")))
        return b.document(name, "text", None)


BARE: tuple[tuple[str, Callable[[ValueMaker], str]], ...] = (
    ("cn_resident_id", lambda v: v.resident_id()),
    ("cn_mobile", lambda v: v.mobile()),
    ("email", lambda v: v.email()),
    ("unionpay_card", lambda v: v.card_written(v.unionpay())),
    ("payment_card", lambda v: v.card_written(v.payment_card())),
    ("iban", lambda v: v.iban()),
    ("hk_identity_card", lambda v: v.hkid()),
    ("cn_vehicle_plate", lambda v: v.plate()),
    ("vin", lambda v: v.vin()),
    ("gps_coordinates", lambda v: v.gps()),
    ("us_ssn", lambda v: v.ssn()),
)
FILLERS = ("备注", "见附件", "已处理", "ref", "status ok", "转交", "see below", "记录", "->", "：")


def _bare_decoys(v: ValueMaker) -> str:
    """Look-alikes with no keyword help at all, written the way they occur in real payloads."""
    rng = v.rng
    return rng.choice(
        (
            f"https://deploy:{v.hex_token()[:12]}@git.example.com/app.git",
            f"ORD{v.digits(16)}",
            f"tracking {rng.choice(('1Z', 'SF'))}{v.digits(12)}",
            f"serial {''.join(rng.choice('ABCDEFGHJKLMNPRSTUVWXYZ0123456789') for _ in range(17))}",
            f"build 2.{v.digits(11)}",
            f"{v.uuid()}",
            f"price {v.digits(3)}.{v.digits(6)},{v.digits(2)}.{v.digits(6)}",
            f"{v.digits(4)}-{v.digits(2)}-{v.digits(2)}T{v.digits(2)}:{v.digits(2)}:{v.digits(2)}",
        )
    )


def ranked(identifier: str) -> bool:
    """Whether the identifier names one person (mirrors the signatures' individual_rank)."""
    return identifier in RANKED
