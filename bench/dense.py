"""Dense personal data: a CSV with a person every ~80 bytes, through the detection engine.

The worst case for detection cost: every row is a name, a resident ID, a mobile number, an e-mail
and a city. The answer is known (every ID, mobile and e-mail is valid and distinct), so the suite
reports both speed and the detection rate: found / present, per identifier, and distinct
individuals counted / people written.

The issue asks for the ratio to a pure-Python ``re`` implementation in the same run, and for a
second figure on ordinary text with sparse personal data: ``run_peer`` runs the ``re`` baseline
(``detectors.baseline.ReScanner``: per identifier one ``re`` pattern with look-around boundaries and
the plain-Python reference validator on every match, no context, exclusions or people) over the same
bytes, and ``sparse_text`` is the baseline module's prose with one identifier per ~4 KB.
"""

from __future__ import annotations

import time
from typing import Any

from bench.traffic.people import SyntheticPeople
from detectors.baseline import ReScanner
from detectors.baseline import sparse_text as baseline_sparse_text
from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine

CITIES = ("上海市浦东新区", "苏州市工业园区", "南京市鼓楼区", "杭州市西湖区")


def dense_csv(people: int, seed: int = 5) -> bytes:
    gen = SyntheticPeople(seed)
    rows = ["姓名,身份证号,手机号,邮箱,城市"]
    for i, p in enumerate(gen.people(people)):
        rows.append(f"{p.name},{p.resident_id},{p.mobile},{p.email},{CITIES[i % len(CITIES)]}")
    return ("\n".join(rows) + "\n").encode("utf-8")


def run_dense(data: bytes, people: int, engine: DetectionEngine | None = None) -> dict[str, Any]:
    """One detection pass over ``data``; seconds and what was found against what is there."""
    engine = engine or DetectionEngine(load_catalogue((), frozenset()))
    start = time.perf_counter()
    findings = engine.inspect(data)
    seconds = time.perf_counter() - start
    found = {f.identifier: f.count for f in findings.findings}
    return {
        "seconds": seconds,
        "bytes": len(data),
        "people": people,
        "bytes_per_person": round(len(data) / max(people, 1), 1),
        "found": found,
        "detection_rate": {name: round(count / people, 4) for name, count in found.items()},
        "distinct_individuals": findings.distinct_individuals,
        "individual_rate": round(findings.distinct_individuals / max(people, 1), 4),
    }


def sparse_text(size: int, seed: int = 7) -> bytes:
    """Ordinary text (Chinese and English prose) with one identifier per ~4 KB."""
    return baseline_sparse_text(size, seed)


def run_engine(data: bytes, engine: DetectionEngine) -> dict[str, Any]:
    """One ``inspect`` over ``data``: what it found (for the sparse figure)."""
    findings = engine.inspect(data)
    return {"found": {f.identifier: f.count for f in findings.findings if f.count}}


def run_peer(data: bytes, scanner: ReScanner | None = None) -> dict[str, Any]:
    """The pure-Python ``re`` baseline over ``data``: valid values found per identifier."""
    scanner = scanner or ReScanner(load_catalogue((), frozenset()))
    found = scanner.detect(data)
    return {"found": {k: len(v) for k, v in found.items()}}
