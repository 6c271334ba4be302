"""The C match collector (detectors/_hsscan.c) finds exactly what the python-hyperscan callback
path finds, on the labelled corpus and on dense and sparse samples."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.baseline import dense_csv, sparse_text
from detectors.catalogue import load_catalogue
from detectors.corpus import CorpusGenerator
from detectors.engine import DetectionEngine
from detectors.matcher import Matcher, ScanResult

SPECS = load_catalogue((), frozenset())


def _matchers(monkeypatch: pytest.MonkeyPatch) -> tuple[Matcher, Matcher]:
    keywords = DetectionEngine(SPECS).matcher.keywords
    native = Matcher(SPECS, keywords)
    monkeypatch.setenv("EGRESS_NATIVE_SCAN", "0")
    python = Matcher(SPECS, keywords)
    return native, python


def _same(a: ScanResult, b: ScanResult) -> None:
    assert a.matches == b.matches
    assert sorted(a.candidates) == sorted(b.candidates)
    for ident, cands in a.candidates.items():
        other = b.candidates[ident]
        assert np.array_equal(cands.starts, other.starts)
        assert np.array_equal(cands.ends, other.ends)
        assert np.array_equal(cands.confidence, other.confidence)
    assert sorted(a.keyword_starts) == sorted(b.keyword_starts)
    for k, starts in a.keyword_starts.items():
        assert np.array_equal(np.sort(starts), np.sort(b.keyword_starts[k]))


def test_the_native_collector_is_built() -> None:
    """deploy/install.sh installs gcc and libhyperscan-dev, so the extension must be there."""
    assert DetectionEngine(SPECS).matcher.native


def test_native_and_callback_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    native, python = _matchers(monkeypatch)
    assert native.native and not python.native
    samples = [doc.data for doc in CorpusGenerator().documents(60)]
    samples += [dense_csv(200_000), sparse_text(200_000), b"", b"x"]
    for data in samples:
        _same(native.scan(data), python.scan(data))
