"""The C kernels of ``detectors._kernels`` must compute exactly what the numpy code computes: the
same valid flags and the same normalised values (bytes and width) for every candidate, valid or
not, the same walk-back counts and the same distinct-value order. Compared on the candidates the
real matcher finds in dense and sparse samples and on random spans over adversarial bytes, and
end to end: the engine's findings with and without the kernels."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

import numpy as np
import pytest

from bench.dense import dense_csv
from detectors import engine as engine_module
from detectors import (
    individuals,
    validators,
    validators_contact,
    validators_documents,
    validators_finance,
    validators_text,
)
from detectors.baseline import sparse_text
from detectors.catalogue import load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import DetectionEngine
from detectors.matcher import class_table
from detectors.tables import INTERNATIONAL_CARD_RANGES, UNIONPAY_RANGES
from detectors.vectors import (
    DIGIT,
    ByteArray,
    Checked,
    IntArray,
    lower,
    offsets_of,
    run_before,
    search_sorted,
    unique_strings,
    upper,
)

pytest.importorskip("detectors._kernels")

Kernel = Callable[[ByteArray, IntArray, IntArray], Checked]
PAIRS: dict[str, tuple[Kernel, Kernel]] = {
    "email": (validators_contact.check_email, validators_contact.check_email_numpy),
    "cn_mobile": (validators_contact.check_cn_mobile, validators_contact.check_cn_mobile_numpy),
    "cn_resident_id": (validators.check_gb11643, validators.check_gb11643_numpy),
    "cn_uscc": (validators_documents.check_cn_uscc, validators_documents.check_cn_uscc_numpy),
    "cn_person_name": (
        validators_text.check_cn_person_name,
        validators_text.check_cn_person_name_numpy,
    ),
    "payment_card": (
        validators_finance.check_payment_card,
        lambda buf, s, e: validators_finance._cards_numpy(buf, s, e, INTERNATIONAL_CARD_RANGES),
    ),
    "unionpay_card": (
        validators_finance.check_unionpay_card,
        lambda buf, s, e: validators_finance._cards_numpy(buf, s, e, UNIONPAY_RANGES),
    ),
}
FEW_IN_SAMPLES = {"cn_uscc", "payment_card", "unionpay_card"}  # the dense samples hold none
_MAKER = ValueMaker(random.Random(1))
PIECES = [_MAKER.uscc().encode() for _ in range(3)] + [_MAKER.decoy_uscc().encode()] + [
    _MAKER.card_written(_MAKER.payment_card()).encode() for _ in range(3)] + [
    _MAKER.unionpay().encode(), _MAKER.decoy_card().encode()] + [
    b"a.b@c.png", b"x@y.COM", b"..a@b.cn", b"1@2.jpeg", b"q@w.Json", b"A@B.C", b"@x.cn", b"a@@b.cn",
    b"zhang.wei@example.com.cn", b"x..y@a.org", b"+86 138-1234-5678", b"008613812345678",
    b"8613912345678", b"13812345678", b"1381234567", b"11010519491231002X", b"110105194912310021",
    b"44030419900229123x", b"11010520000229002X", b"91350100M000100Y43", "张三".encode(), "欧阳公主".encode(),
    "一丁".encode(), b"\xe4\xa0\x80", b"\xe9\xbf\xbf", b" ", b",", b"\n", b"a", b"0", b".", b"@",
]  # fmt: skip


def _adversarial(rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return b"".join(rng.choice(PIECES) for _ in range(40))
    return bytes(rng.randrange(256) for _ in range(rng.randint(30, 300)))


def _agree(kernel: Kernel, reference: Kernel, buf: ByteArray, s: IntArray, e: IntArray) -> None:
    got, want = kernel(buf, s, e), reference(buf, s, e)
    assert got.valid.tolist() == want.valid.tolist()
    assert got.values.dtype == want.values.dtype
    assert got.values.tolist() == want.values.tolist()


@pytest.mark.parametrize("identifier", sorted(PAIRS))
def test_kernel_agrees_with_numpy_on_matched_candidates(identifier: str) -> None:
    engine = DetectionEngine(load_catalogue((), frozenset()))
    index = next(i for i, s in enumerate(engine.specs) if s.id == identifier)
    kernel, reference = PAIRS[identifier]
    valid = 0
    for data in (dense_csv(3000, seed=11), sparse_text(400_000, seed=3)):
        scan = engine.matcher.scan(data)
        if index not in scan.candidates:  # no UnionPay-shaped run in these samples
            assert identifier in FEW_IN_SAMPLES
            continue
        cands = scan.candidates[index]
        _agree(kernel, reference, scan.buf, cands.starts, cands.ends)
        valid += int(kernel(scan.buf, cands.starts, cands.ends).valid.sum())
    assert valid > (-1 if identifier in FEW_IN_SAMPLES else 1000)


@pytest.mark.parametrize("identifier", sorted(PAIRS))
def test_kernel_agrees_with_numpy_on_random_spans(identifier: str) -> None:
    rng = random.Random(identifier)
    kernel, reference = PAIRS[identifier]
    valid = 0
    for _ in range(300):
        buf = np.frombuffer(_adversarial(rng), dtype=np.uint8)
        n = rng.randint(1, 40)
        if identifier in ("cn_resident_id", "cn_uscc"):  # fixed width: 18 bytes in the buffer
            if len(buf) < 18:
                continue
            s = np.array(sorted(rng.randrange(len(buf) - 17) for _ in range(n)), dtype=np.int64)
            e = s + 18
        else:
            s = np.array(sorted(rng.randrange(len(buf)) for _ in range(n)), dtype=np.int64)
            e = np.minimum(s + np.array([rng.randint(1, 26) for _ in range(n)]), len(buf))
        _agree(kernel, reference, buf, s, e)
        valid += int(kernel(buf, s, e).valid.sum())
    assert valid > 0


def test_run_before_agrees_with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    tables = [class_table("[A-Za-z0-9._%+@-]"), DIGIT, np.ones(256, dtype=bool)]
    for trial in range(300):
        buf = np.frombuffer(_adversarial(rng), dtype=np.uint8)
        ends = np.array([rng.randint(0, len(buf)) for _ in range(30)], dtype=np.int64)
        table, limit = tables[trial % 3], rng.randint(0, 200)
        got = run_before(buf, ends, table, limit)
        with monkeypatch.context() as m:
            m.setenv("EGRESS_NATIVE_KERNELS", "0")
            want = run_before(buf, ends, table, limit)
        assert got.tolist() == want.tolist()


@pytest.mark.parametrize("width", [1, 2, 11, 18, 30])
def test_sort_strings_gives_np_unique(width: int) -> None:
    rng = random.Random(width)
    for n in (1, 2, 50, 3000):
        pool = [bytes(rng.choice(b"\x000189X@a") for _ in range(width)) for _ in range(n // 2 + 1)]
        values = np.array([rng.choice(pool) for _ in range(n)], dtype=f"S{width}")
        for sample in (values, values[::2]):  # contiguous and strided
            expected, inverse = np.unique(sample, return_inverse=True)
            got, got_inverse = unique_strings(sample)
            assert got.tolist() == expected.tolist()
            assert got_inverse.tolist() == inverse.ravel().tolist()


def test_engine_findings_are_the_same_without_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = DetectionEngine(load_catalogue(), identity_key=b"kernels")
    samples = (dense_csv(2000, seed=2), sparse_text(300_000, seed=9))
    with_kernels = [engine.inspect(data) for data in samples]
    monkeypatch.setenv("EGRESS_NATIVE_KERNELS", "0")
    assert [engine.inspect(data) for data in samples] == with_kernels
    assert with_kernels[0].distinct_individuals == 2000


@pytest.mark.parametrize("side", ["left", "right"])
def test_search_sorted_is_np_searchsorted(side: Literal["left", "right"]) -> None:
    rng = random.Random(side)
    for m, n in ((0, 5), (1, 9), (40, 300), (5000, 2000)):
        haystack = np.array(sorted(rng.randrange(-50, 3 * m + 50) for _ in range(m)), np.int64)
        ascending = sorted(rng.randrange(-60, 3 * m + 60) for _ in range(n))
        shuffled = ascending[:]
        rng.shuffle(shuffled)
        for needles in (ascending, shuffled, ascending[: n // 2] + ascending):
            wanted = np.array(needles, dtype=np.int64)
            got = search_sorted(haystack, wanted, side)
            assert got.tolist() == np.searchsorted(haystack, wanted, side).tolist()


def test_case_folding_by_arithmetic_is_the_table() -> None:
    every = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert upper(every).tolist() == [[ord(chr(b).upper()) if b < 128 else b for b in row]
                                     for row in every.tolist()]  # fmt: skip
    assert lower(every).tolist() == [[ord(chr(b).lower()) if b < 128 else b for b in row]
                                     for row in every.tolist()]  # fmt: skip


def test_offsets_of_is_flatnonzero() -> None:
    rng = random.Random(8)
    for _ in range(100):
        buf = np.frombuffer(_adversarial(rng), dtype=np.uint8)
        for byte in (0, 10, ord(","), ord('"'), 0xE4):
            assert offsets_of(buf, byte).tolist() == np.flatnonzero(buf == byte).tolist()
    assert offsets_of(np.zeros(0, dtype=np.uint8), 10).tolist() == []


def _random_nodes(rng: random.Random, occurrences: int) -> tuple[individuals._Nodes, IntArray]:
    """Person nodes of three namespaces over a few rows, with repeats, shared weak values, rows
    holding two values of one namespace in either order, and values equal across namespaces."""
    pools = [[str(rng.randrange(40)).encode() for _ in range(rng.randint(1, 12))] for _ in range(3)]
    n_rows = rng.randint(1, max(occurrences // 2, 1))
    evidence = []
    for rank, pool in enumerate(pools, start=1):
        n = rng.randint(1, occurrences)
        values = np.array([rng.choice(pool) for _ in range(n)], dtype="S3")
        starts = np.array(sorted(rng.randrange(n_rows) for _ in range(n)), dtype=np.int64)
        evidence.append(individuals.Evidence(rank, f"ns{rank}", starts, values))
    nodes = individuals._nodes(evidence)
    return nodes, nodes.offsets  # the "offsets" are row numbers here


def test_row_kernels_give_the_numpy_persons() -> None:
    rng = random.Random(11)
    for trial in range(400):
        nodes, rows = _random_nodes(rng, 1 + trial % 60)
        n_nodes = int(nodes.first_code[-1]) + len(nodes.values[-1])
        got = individuals._rows(nodes, rows, n_nodes)
        want = individuals._rows_python(nodes, rows, n_nodes)
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()


def test_a_row_is_known_by_its_smallest_value_whatever_the_column_order() -> None:
    """Two mobiles on a row: the person is keyed by the byte-smaller one in either order."""
    engine = DetectionEngine(load_catalogue(), identity_key=b"order")
    head = b"name,mobile,mobile2\n"
    one = engine.inspect(head + b"a,13912345678,13800001111\nb,13700000000,\nc,13600000000,\n")
    two = engine.inspect(head + b"a,13800001111,13912345678\nb,13700000000,\nc,13600000000,\n")
    assert one.distinct_individuals == two.distinct_individuals == 3
    assert one.individual_keys == two.individual_keys
    key = individuals.person_key(b"order", "cn_mobile", b"13800001111")
    assert key in one.individual_keys


def test_longest_valid_kernel_is_the_numpy_one() -> None:
    rng = random.Random(12)
    for trial in range(500):
        n = trial % 40
        spans = sorted((rng.randrange(30), rng.randrange(1, 8)) for _ in range(n))
        starts = np.array([s for s, _ in spans], dtype=np.int64)
        ends = np.array([s + w for s, w in spans], dtype=np.int64)
        valid = np.array([rng.random() < 0.7 for _ in range(n)], dtype=bool)
        got = engine_module._longest_valid(starts, ends, valid)
        assert got.tolist() == engine_module._longest_valid_python(starts, ends, valid).tolist()


def test_merge_spans_kernel_is_the_stable_sort() -> None:
    rng = random.Random(13)
    for trial in range(400):
        sizes = [rng.randrange(0, 12) for _ in range(1 + trial % 6)]
        starts = np.concatenate(
            [
                np.sort(np.array([rng.randrange(60) for _ in range(k)], dtype=np.int64))
                for k in sizes
            ]
        ).astype(np.int64)
        ends = starts + np.array([rng.randrange(1, 9) for _ in range(starts.size)], dtype=np.int64)
        if trial % 3 == 0:  # disjoint spans as often as not
            starts, ends = starts * 10, starts * 10 + 1
        got = engine_module._merge_spans(starts, ends, sizes)
        want = engine_module._merge_spans_python(starts, ends)
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()
        assert got[2] == want[2]
