"""Per-class distinct individuals: all personal, sensitive, and account-or-medical person keys.

The rules are in detectors/individuals.py: in tables the record is the row; in free text one named
person takes every class found, several people are counted by the largest ranked kind of a class.
"""

from __future__ import annotations

import random

from detectors.catalogue import load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import DetectionEngine, is_account_or_medical, is_sensitive
from detectors.individuals import person_key

KEY = b"class-test-secret-0123456789"
ENGINE = DetectionEngine(load_catalogue(), identity_key=KEY)
MAKER = ValueMaker(random.Random(61))


def _people(n: int) -> list[dict[str, str]]:
    out = []
    for _ in range(n):
        name, handle = MAKER.name()
        out.append(
            {
                "name": name,
                "id": MAKER.resident_id(),
                "mobile": MAKER.mobile(),
                "email": MAKER.email(handle),
                "card": MAKER.unionpay(),
            }
        )
    return out


def _key(namespace: str, value: str) -> str:
    return person_key(KEY, namespace, value.encode())


def test_catalogue_classes_follow_the_signatures() -> None:
    by_id = {s.id: s for s in load_catalogue()}
    assert is_sensitive(by_id["cn_resident_id"]) and not is_account_or_medical(
        by_id["cn_resident_id"]
    )
    assert is_account_or_medical(by_id["unionpay_card"]) and is_account_or_medical(by_id["iban"])
    assert not is_sensitive(by_id["cn_mobile"]) and not is_sensitive(by_id["email"])
    assert is_sensitive(by_id["gps_coordinates"])  # unranked but sensitive (行踪轨迹)


def test_rows_mark_each_person_by_what_their_row_holds() -> None:
    people = _people(12)
    rows = []
    for i, p in enumerate(people):
        if i < 4:  # 0-3: mobile and e-mail only (personal, not sensitive)
            rows.append(f"{p['name']},,{p['mobile']},{p['email']},")
        elif i < 9:  # 4-8: resident ID too (sensitive)
            rows.append(f"{p['name']},{p['id']},{p['mobile']},{p['email']},")
        else:  # 9-11: resident ID and bank card (account)
            rows.append(f"{p['name']},{p['id']},{p['mobile']},{p['email']},{p['card']}")
    rows.append(f"{people[0]['name']},,{people[0]['mobile']},,")  # a duplicate, still personal
    data = ("姓名,身份证号,手机号,邮箱,银行卡号\n" + "\n".join(rows) + "\n").encode()
    result = ENGINE.inspect(data)
    assert result.layout == "rows"
    assert result.individuals_by_class == {"personal": 12, "sensitive": 8, "account_or_medical": 3}
    assert set(result.sensitive_keys) <= set(result.individual_keys)
    assert set(result.account_or_medical_keys) == {
        _key("cn_resident_id", p["id"]) for p in people[9:]
    }
    assert set(result.sensitive_keys) == {_key("cn_resident_id", p["id"]) for p in people[4:]}


def test_a_later_row_of_the_same_person_makes_them_sensitive() -> None:
    p = _people(2)
    rows = [
        f"{p[0]['name']},,{p[0]['mobile']},",  # first seen without anything sensitive
        f"{p[1]['name']},,{p[1]['mobile']},",
        f"{p[0]['name']},{p[0]['id']},{p[0]['mobile']},",  # then with the resident ID
    ]
    data = ("姓名,身份证号,手机号,x\n" + "\n".join(rows) + "\n").encode()
    result = ENGINE.inspect(data)
    assert result.individuals_by_class == {"personal": 2, "sensitive": 1, "account_or_medical": 0}
    assert result.sensitive_keys == (_key("cn_resident_id", p[0]["id"]),)


def test_free_text_of_one_person_gives_them_every_class_found() -> None:
    p = _people(1)[0]
    text = f"客户 {p['name']} 手机 {p['mobile']} 银行卡号 {p['card']} 联系我们".encode()
    result = ENGINE.inspect(text)
    assert result.layout == "text"
    assert result.individuals_by_class == {"personal": 1, "sensitive": 1, "account_or_medical": 1}


def test_free_text_counts_sensitive_people_by_the_largest_sensitive_kind() -> None:
    people = _people(6)
    mails = " ".join(p["email"] for p in people)
    ids = " ".join(f"身份证 {p['id']}" for p in people[:2])
    result = ENGINE.inspect(f"邮件 {mails} 备注 {ids} 结束".encode())
    assert result.individuals_by_class == {"personal": 6, "sensitive": 2, "account_or_medical": 0}
    assert set(result.sensitive_keys) == {_key("cn_resident_id", p["id"]) for p in people[:2]}


def test_free_text_without_sensitive_values_marks_nobody() -> None:
    people = _people(5)
    result = ENGINE.inspect(("联系 " + " ".join(p["mobile"] for p in people)).encode())
    assert result.individuals_by_class == {"personal": 5, "sensitive": 0, "account_or_medical": 0}
