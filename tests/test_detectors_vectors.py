"""The sort-based replacements for ``np.unique`` that the engine uses on dense objects must give
exactly what ``np.unique`` gives: values, order, inverse and counts."""

from __future__ import annotations

import random

import numpy as np
import pytest

from detectors.engine import first_codes
from detectors.vectors import unique_int_counts, unique_ints, unique_strings


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


def test_first_codes_are_the_first_distinct_values_in_order() -> None:
    rng = np.random.default_rng(4)
    for n, k in ((0, 3), (5, 3), (1000, 2), (20_000, 4000)):
        inverse = rng.integers(0, k, n)
        _, first = np.unique(inverse, return_index=True)
        expected = inverse[np.sort(first)[:3]].tolist()
        assert first_codes(inverse, 3) == expected
    assert first_codes(np.array([5] * 10_000 + [1, 2]), 3) == [5, 1, 2]
