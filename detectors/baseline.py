"""A pure-Python ``re`` scanner over the same catalogue, and the throughput comparison.

The baseline is what one would write without hyperscan and numpy: per identifier, one compiled
``re`` pattern with real look-behind/look-ahead for the boundaries, ``finditer`` over the object,
and the plain-Python reference validator (``detectors.reference``) called on every match. It skips
what the engine adds on top (context keywords, exclusions, people), so the comparison flatters it.
It is also a second opinion on the matcher's boundary trimming: on the same input both must find the
same valid values (tests/test_detectors_engine.py).

``measure`` times both on two synthetic samples: sparse text (one identifier per ~4 KB of prose) and
a dense CSV export (one person every ~80 bytes: name, resident ID, mobile, e-mail, city).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from detectors.catalogue import IdentifierSpec, load_catalogue
from detectors.corpus_values import ValueMaker
from detectors.engine import DetectionEngine
from detectors.reference import REFERENCES

_PROSE = (
    "数据处理者向境外提供数据前，应当评估出境数据的规模、范围、种类和敏感程度，以及数据出境可能对国家安全、"
    "公共利益、个人或者组织合法权益带来的风险。The exporter keeps records of each transfer, the recipient, "
    "the purpose and the retention period, and reviews them every year. 重要数据的识别应当结合行业领域的"
    "分类分级规则，综合考虑数据的精度、规模、覆盖度和深度。"
)
CITIES = ("北京", "上海", "广州", "深圳", "南京", "苏州", "杭州", "成都", "武汉", "西安")


class ReScanner:
    """Per identifier, one ``re`` alternation of its patterns with look-around boundaries."""

    def __init__(self, specs: tuple[IdentifierSpec, ...]) -> None:
        self.rules: list[tuple[str, re.Pattern[bytes], Callable[[str], str | None]]] = []
        for spec in specs:
            left, right = spec.boundary.left, spec.boundary.right
            parts = []
            for pattern in spec.patterns:
                if pattern.extend_left:  # the walk-back: the longest run of the class before it
                    head = pattern.extend_left
                    parts.append(f"(?<!{head}){head}*?(?:{pattern.regex})")
                else:
                    parts.append(f"(?<!{left})(?:{pattern.regex})")
            expression = f"(?:{'|'.join(parts)})(?!{right})"
            self.rules.append(
                (spec.id, re.compile(expression.encode()), REFERENCES[spec.validator])
            )

    def detect(self, data: bytes) -> dict[str, list[tuple[int, int, str]]]:
        """Valid values per identifier as (start, end, normalised value)."""
        found: dict[str, list[tuple[int, int, str]]] = {}
        for ident, pattern, reference in self.rules:
            for match in pattern.finditer(data):
                value = reference(match.group().decode("utf-8", "replace"))
                if value is not None:
                    found.setdefault(ident, []).append((match.start(), match.end(), value))
        return found


@dataclass(frozen=True, slots=True)
class Throughput:
    name: str
    size: int
    matches: int
    engine_mbps: float
    baseline_mbps: float


def sparse_text(size: int, seed: int = 7) -> bytes:
    """Prose with one identifier (of a few kinds) roughly every 4 KB."""
    rng = random.Random(seed)
    maker = ValueMaker(rng)
    out: list[str] = []
    total = 0
    while total < size:
        for _ in range(rng.randint(4, 12)):
            out.append(_PROSE)
            total += len(_PROSE.encode())
        out.append(
            rng.choice(
                (
                    f"联系人手机 {maker.mobile()}。",
                    f"身份证号 {maker.resident_id()}。",
                    f"邮箱 {maker.email()}。",
                )
            )
        )
    return "".join(out).encode()[:size]


def dense_csv(size: int, seed: int = 7) -> bytes:
    """One person per ~80-byte row: name, resident ID, mobile, e-mail, city."""
    rng = random.Random(seed)
    maker = ValueMaker(rng)
    rows = ["姓名,身份证号,手机号,邮箱,城市"]
    total = 0
    while total < size:
        name, handle = maker.name()
        row = f"{name},{maker.resident_id()},{maker.mobile()},{maker.email(handle)},{rng.choice(CITIES)}"
        rows.append(row)
        total += len(row.encode()) + 1
    return ("\n".join(rows) + "\n").encode()


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def measure(megabytes: float = 4.0, runs: int = 3) -> list[Throughput]:
    """Best-of-``runs`` MB/s of ``DetectionEngine.inspect`` and of ``ReScanner.detect``."""
    specs = load_catalogue()
    engine = DetectionEngine(specs, identity_key=b"bench")
    baseline = ReScanner(specs)
    size = int(megabytes * 1e6)
    results = []
    for name, data in (("sparse text", sparse_text(size)), ("dense CSV", dense_csv(size))):
        engine_time = _best_of(runs, lambda d=data: engine.inspect(d))  # type: ignore[misc]
        base_time = _best_of(1, lambda d=data: baseline.detect(d))  # type: ignore[misc]
        matches = engine.matcher.scan(data).matches
        results.append(
            Throughput(
                name, len(data), matches, len(data) / engine_time / 1e6, len(data) / base_time / 1e6
            )
        )
    return results


if __name__ == "__main__":
    for row in measure():
        print(
            f"{row.name}: {row.size / 1e6:.1f} MB, {row.matches} matches, engine {row.engine_mbps:.1f} MB/s, re {row.baseline_mbps:.2f} MB/s"
        )
