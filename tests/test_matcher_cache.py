"""Compiled hyperscan databases are kept in the per-user cache (detectors.matcher._native_database):
a second start loads instead of compiling, finds exactly the same matches, and a damaged or
foreign cache file is replaced by a fresh compile rather than trusted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectors import matcher as matcher_module
from detectors.baseline import dense_csv
from detectors.catalogue import load_catalogue
from detectors.matcher import Matcher

SPECS = load_catalogue((), frozenset())
SAMPLE = dense_csv(20_000)  # bytes: about 250 people

pytestmark = pytest.mark.skipif(
    matcher_module._native_module() is None, reason="the C match collector is not built"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory and an empty in-process memo."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(matcher_module, "_SERIALIZED", {})
    return tmp_path / "egress" / "hyperscan"


def _forbid_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    native = matcher_module._native_module()
    assert native is not None

    def refuse(*_args: object) -> None:
        raise AssertionError("compiled although a cached database was there")

    monkeypatch.setattr(native, "compile", refuse)


def test_a_second_start_loads_the_cached_database(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Matcher(SPECS)
    files = list(cache.glob("*.hsdb"))
    # one file per compiled database: the main one, the unanchored one and one per run group
    assert first._unanchored is not None
    assert len(files) == 2 + len(first._runs) == 4
    assert max(f.stat().st_size for f in files) > 1000
    monkeypatch.setattr(matcher_module, "_SERIALIZED", {})  # a new process: only the file is left
    _forbid_compiling(monkeypatch)
    second = Matcher(SPECS)
    assert np.array_equal(first.matches(SAMPLE), second.matches(SAMPLE))
    assert len(first.matches(SAMPLE)) > 600  # a person every row: the scan found them


def test_other_signatures_get_their_own_cache_file(cache: Path) -> None:
    Matcher(SPECS)
    before = len(list(cache.glob("*.hsdb")))
    Matcher(SPECS[:3])
    assert len(list(cache.glob("*.hsdb"))) > before


def test_a_damaged_cache_file_is_replaced(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = Matcher(SPECS).matches(SAMPLE)
    path = max(cache.glob("*.hsdb"), key=lambda f: f.stat().st_size)  # the main database
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # as after a full disk
    monkeypatch.setattr(matcher_module, "_SERIALIZED", {})
    assert np.array_equal(Matcher(SPECS).matches(SAMPLE), reference)
    assert path.read_bytes() == good


def test_the_file_cache_can_be_turned_off(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_HS_CACHE", "0")
    Matcher(SPECS)
    assert not cache.exists()


def test_an_unwritable_cache_directory_still_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(matcher_module, "_SERIALIZED", {})
    assert len(Matcher(SPECS).matches(SAMPLE)) > 600
