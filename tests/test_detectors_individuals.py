"""Distinct individuals per object and the keyed person hashes."""

from __future__ import annotations

import hmac
import json
import random

import pytest

from bench.traffic.people import SyntheticPeople
from detectors.catalogue import load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import DetectionEngine
from detectors.individuals import KeyedHasher, person_key

KEY = b"deployment-secret-0123456789"
ENGINE = DetectionEngine(load_catalogue(), identity_key=KEY)


def _people(n: int, seed: int = 1) -> list[tuple[str, str, str, str]]:
    maker = ValueMaker(random.Random(seed))
    out = []
    for _ in range(n):
        name, handle = maker.name()
        out.append((name, maker.resident_id(), maker.mobile(), maker.email(handle)))
    return out


def test_csv_rows_are_people_keyed_by_their_strongest_identifier() -> None:
    people = _people(30)
    rows = [",".join(p) for p in people]
    rows += [",".join(p) for p in people[:5]]  # five people twice
    rows += [f"{p[0]},,{p[2]}," for p in people[5:10]]  # five again, by mobile only
    rows += [f"{p[0]},,,{p[3]}" for p in people[10:12]]  # two again, by e-mail only
    data = ("姓名,身份证号,手机号,邮箱\n" + "\n".join(rows) + "\n").encode()
    result = ENGINE.inspect(data)
    assert result.layout == "rows"
    assert result.distinct_individuals == 30
    assert len(set(result.individual_keys)) == 30
    expected = sorted(person_key(KEY, "cn_resident_id", p[1].encode()) for p in people)
    assert list(result.individual_keys) == expected


def test_a_shared_mailbox_does_not_merge_two_people() -> None:
    a, b = _people(2, seed=2)
    shared = "family@example.com"
    rows = [f"{a[0]},{a[1]},{a[2]},{shared}", f"{b[0]},{b[1]},{b[2]},{shared}", f"x,,,{shared}"]
    data = ("name,id,mobile,email\n" + "\n".join(rows) + "\n").encode()
    assert (
        ENGINE.inspect(data).distinct_individuals == 3
    )  # the third row is its own (unknown) person


def test_rows_without_a_strong_identifier_count_by_the_weaker_one() -> None:
    people = _people(10, seed=3)
    data = ("name,mobile\n" + "\n".join(f"{p[0]},{p[2]}" for p in people) + "\n").encode()
    result = ENGINE.inspect(data)
    assert result.distinct_individuals == 10
    assert result.individual_keys == tuple(
        sorted(person_key(KEY, "cn_mobile", p[2].encode()) for p in people)
    )


def test_free_text_counts_the_kind_with_most_distinct_values() -> None:
    people = _people(8, seed=4)
    payload = json.dumps({"staff": [{"id": p[1], "m": p[2], "e": p[3]} for p in people]})
    assert ENGINE.inspect(payload.encode()).distinct_individuals == 8
    mails = " ".join(p[3] for p in people) + " 身份证 " + people[0][1]
    assert ENGINE.inspect(mails.encode()).distinct_individuals == 8  # not 1 for the single ID


def test_legacy_and_current_id_of_one_person_are_one_person() -> None:
    text = "身份证号 110105491231002\n身份证号 11010519491231002X\n"
    result = ENGINE.inspect(text.encode())
    assert result.distinct_individuals == 1


def test_keys_depend_on_the_secret_and_never_show_the_identifier() -> None:
    people = _people(3, seed=5)
    data = ("\n".join(",".join(p) for p in people) + "\n").encode()
    one = ENGINE.inspect(data)
    other = DetectionEngine(ENGINE.specs, identity_key=b"another-secret-0123456789").inspect(data)
    random_key = DetectionEngine(ENGINE.specs).inspect(data)
    assert one.individual_keys != other.individual_keys != random_key.individual_keys
    assert one.key_id != other.key_id
    assert (
        DetectionEngine(ENGINE.specs, identity_key=KEY).inspect(data).individual_keys
        == one.individual_keys
    )
    text = repr(one)
    for person in people:
        for value in person[1:]:
            assert value not in text


def test_keyed_hasher_is_hmac_sha256() -> None:
    for key in (b"k", b"x" * 64, b"y" * 100):
        hasher = KeyedHasher(key)
        for message in (b"", b"cn_mobile:13812345678", bytes(range(200))):
            assert hasher(message) == hmac.digest(key, message, "sha256")[:16].hex()


def test_native_and_hashlib_keys_agree_with_hmac() -> None:
    """The C loop (detectors._keyhash) against the hashlib path and hmac.digest, key lengths on
    both sides of the 64-byte block, prefixes and values of every length up to two blocks."""
    pytest.importorskip("detectors._keyhash")
    rng = random.Random(5)
    values = [b""] + [bytes(rng.randrange(256) for _ in range(n)) for n in range(1, 140)]
    values += ["王芳".encode(), b"13812345678", b"\x00tail\x00"]
    for key in (b"", b"k", b"x" * 63, b"x" * 64, b"y" * 65, bytes(range(256))):
        hasher = KeyedHasher(key)
        assert hasher.native
        for prefix in (b"", b"cn_resident_id:", b"p" * 70):
            expected = [hmac.digest(key, prefix + v, "sha256")[:16].hex() for v in values]
            assert hasher.many(prefix, values) == expected
            assert hasher.many_python(prefix, values) == expected


def test_raw_digests_are_the_keys_of_many(monkeypatch: pytest.MonkeyPatch) -> None:
    """``digests`` over a fixed-width numpy array (values end before their trailing NULs, as
    numpy reads them) gives the bytes of ``many``'s hex keys, in C and in hashlib."""
    import numpy as np

    rng = random.Random(6)
    values = [
        b"",
        b"a",
        "王芳".encode(),
        b"\x00mid\x00dle",
        *(rng.randbytes(30) for _ in range(50)),
    ]
    array = np.array(values, dtype="S30")
    for native in ("1", "0"):
        monkeypatch.setenv("EGRESS_NATIVE_HASH", native)
        hasher = KeyedHasher(b"digests")
        for prefix in (b"", b"email:"):
            expected = "".join(hasher.many(prefix, array.tolist()))
            assert hasher.digests(prefix, array).hex() == expected
            assert hasher.digests(prefix, array[::3]).hex() == "".join(
                hasher.many(prefix, array[::3].tolist())
            )
        assert hasher.digests(b"x", array[:0]) == b""


def test_engine_keys_do_not_depend_on_the_hash_path(monkeypatch: pytest.MonkeyPatch) -> None:
    people = _people(40, seed=8)
    data = "\n".join(["姓名,身份证号,手机号,邮箱", *(",".join(p) for p in people)]).encode()
    native = DetectionEngine(load_catalogue(), identity_key=KEY).inspect(data)
    monkeypatch.setenv("EGRESS_NATIVE_HASH", "0")
    engine = DetectionEngine(load_catalogue(), identity_key=KEY)
    assert not engine._hasher.native
    assert engine.inspect(data) == native
    assert len(native.individual_keys) == 40


def test_a_first_line_holding_data_is_not_taken_for_column_names() -> None:
    """Column names come from the first line only when it has no run of 5+ digits: a
    headerless export or a report with one comma per line ("lat, lon") has a record there."""
    import numpy as np

    from detectors.layout import detect_layout

    def header(text: str) -> tuple[str, ...]:
        layout = detect_layout(np.frombuffer(text.encode(), np.uint8))
        assert layout.rows
        return layout.header

    assert header("姓名,手机\n张三,13800138000\n李四,13900139000\n") == ("姓名", "手机")
    assert header("year2024,x\n1,2\n3,4\n") == ("year2024", "x")
    assert header("张三,13800138000\n李四,13900139000\n王五,13700137000\n") == ()
    report = "".join(
        f"姓名：张{i}，证件：H{60_000_000 + i}，位置：31.2{i}, 121.4{i}\n" for i in range(4)
    )
    assert header(report) == ()


def test_a_tab_separated_export_with_commas_in_cells_is_read_by_tabs() -> None:
    """Both delimiters are consistent on every line; the one giving the most fields wins (the
    comma won before, being tried first, and every column after the coordinates moved)."""
    import numpy as np

    from detectors.layout import detect_layout

    gen = SyntheticPeople(17)
    lines = ["姓名\t位置\t身份证号\t手机"]
    crowd = list(gen.people(30))
    lines += [
        f"{p.name}\t31.2{i},121.4{i}\t{p.resident_id}\t{p.mobile}" for i, p in enumerate(crowd)
    ]
    data = ("\n".join(lines) + "\n").encode()
    layout = detect_layout(np.frombuffer(data, np.uint8))
    assert layout.delimiter == ord("\t")
    assert layout.header == ("姓名", "位置", "身份证号", "手机")
    engine = DetectionEngine(load_catalogue(), identity_key=KEY)
    assert engine.inspect(data).distinct_individuals == len(crowd)
    csv = ("姓名,身份证号\n" + "".join(f"{p.name},{p.resident_id}\n" for p in crowd)).encode()
    assert detect_layout(np.frombuffer(csv, np.uint8)).delimiter == ord(",")
