"""The sort-based replacements for ``np.unique`` that the engine uses on dense objects must give
exactly what ``np.unique`` gives: values, order, inverse and counts; the hash-based
``distinct_strings`` the same values numbered by first appearance."""

from __future__ import annotations

import random

import numpy as np
import pytest

from detectors.vectors import (
    distinct_strings,
    distinct_strings_python,
    distinct_strings_sorted,
    fixed_matrix,
    span_matrix,
    unique_int_counts,
    unique_ints,
    unique_strings,
    windows,
)


def _strings(rng: random.Random, n: int, width: int, alphabet: bytes) -> list[bytes]:
    pool = [
        bytes(rng.choice(alphabet) for _ in range(rng.randint(0, width))) for _ in range(n // 3)
    ]
    return [rng.choice(pool) if pool and rng.random() < 0.5 else
            bytes(rng.choice(alphabet) for _ in range(rng.randint(0, width))) for _ in range(n)]  # fmt: skip


@pytest.mark.parametrize("width", [1, 2, 7, 11, 18, 30, 65])
@pytest.mark.parametrize("alphabet", [b"0123456789X", bytes(range(256)), "王李张@.".encode()])
def test_unique_strings_is_np_unique(width: int, alphabet: bytes) -> None:
    rng = random.Random(width * 7 + len(alphabet))
    for n in (0, 1, 2, 50, 3000):
        values = np.array(_strings(rng, n, width, alphabet), dtype=f"S{width}")
        expected_values, expected_inverse = np.unique(values, return_inverse=True)
        got_values, got_inverse = unique_strings(values)
        assert got_values.dtype == values.dtype
        assert got_values.tolist() == expected_values.tolist()
        assert got_inverse.tolist() == expected_inverse.ravel().tolist()


def test_unique_ints_are_np_unique() -> None:
    rng = np.random.default_rng(3)
    for n, high in ((0, 5), (1, 5), (1000, 7), (100_000, 10**12)):
        a = rng.integers(-high, high, n)
        assert np.array_equal(unique_ints(a), np.unique(a))
        values, counts = unique_int_counts(a)
        expected_values, expected_counts = np.unique(a, return_counts=True)
        assert np.array_equal(values, expected_values)
        assert np.array_equal(counts, expected_counts)


@pytest.mark.parametrize("width", [1, 2, 7, 11, 18, 30, 65])
@pytest.mark.parametrize("alphabet", [b"0123456789X", bytes(range(256)), "王李张@.".encode()])
def test_distinct_strings_are_np_unique_in_order_of_first_appearance(
    width: int, alphabet: bytes
) -> None:
    """The hash kernel and the dict reference agree, and both are ``np.unique``'s values
    renumbered by where each first appears (NUL bytes inside values included)."""
    rng = random.Random(width * 5 + len(alphabet))
    for n in (0, 1, 2, 50, 3000):
        values = np.array(_strings(rng, n, width, alphabet), dtype=f"S{width}")
        for sample in (values, values[::3]):  # contiguous and strided
            got_values, got_inverse = distinct_strings(sample)
            ref_values, ref_inverse = distinct_strings_python(sample)
            # the sort that takes over from a flooded hash table gives the same numbering
            for other_values, other_inverse in (
                distinct_strings(sample, max_probes=0),
                distinct_strings_sorted(sample),
            ):
                assert other_values.tolist() == ref_values.tolist()
                assert other_inverse.tolist() == ref_inverse.tolist()
            uniq, first, inverse = np.unique(sample, return_index=True, return_inverse=True)
            by_appearance = np.argsort(first)
            assert got_values.dtype == sample.dtype
            assert got_values.tolist() == ref_values.tolist() == uniq[by_appearance].tolist()
            renumber = np.argsort(by_appearance)
            expected = renumber[inverse.ravel()].tolist() if n else []
            assert got_inverse.tolist() == ref_inverse.tolist() == expected


def test_windows_and_span_matrices_match_plain_slicing() -> None:
    """The window-view fast paths and the clipped index paths give the bytes slicing gives,
    zero outside the buffer and after each span."""
    rng = random.Random(9)
    for size in (1, 5, 40, 300):
        data = bytes(rng.randrange(1, 256) for _ in range(size))
        buf = np.frombuffer(data, dtype=np.uint8)
        for _ in range(30):
            n = rng.randint(1, 20)
            starts = np.sort(np.array([rng.randrange(size) for _ in range(n)], dtype=np.int64))
            ends = np.minimum(starts + np.array([rng.randint(1, 12) for _ in range(n)]), size)
            before, after = rng.randint(0, 12), rng.randint(0, 12)
            left, right = windows(buf, starts, ends, before, after)
            mat, inside = span_matrix(buf, starts, ends)
            for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                want_left = bytes(max(before - s, 0)) + data[max(s - before, 0) : s]
                want_right = data[e : e + after] + bytes(max(e + after - size, 0))
                assert bytes(left[i]) == want_left
                assert bytes(right[i]) == want_right
                assert bytes(mat[i]) == data[s:e].ljust(mat.shape[1], b"\0")
                assert inside[i].sum() == e - s
            fixed = [s for s in starts.tolist() if s + 4 <= size]
            if fixed:
                got = fixed_matrix(buf, np.array(fixed, dtype=np.int64), 4)
                assert [bytes(r) for r in got] == [data[s : s + 4] for s in fixed]


def test_span_matrix_with_a_width_wider_than_the_buffer() -> None:
    buf = np.frombuffer(b"abc", dtype=np.uint8)
    none = np.zeros(0, dtype=np.int64)
    assert span_matrix(buf, none, none, width=12)[0].shape == (0, 12)
    mat, inside = span_matrix(buf, np.array([1]), np.array([3]), width=12)
    assert bytes(mat[0]) == b"bc" + bytes(10) and int(inside.sum()) == 2
