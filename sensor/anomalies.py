"""Counted anomalies, in the spirit of Zeek's weird.log.

Bad or unexpected input is never an exception that stops an audit: the stage that meets it counts it
under a stable name and carries on. The counts end up in the audit summary, so nothing is dropped
silently. Names are ``stage.reason`` (for example ``capture.truncated_record``).
"""

from collections import Counter


class AnomalyCounter:
    """Counts anomalies by name and keeps the first few examples of each for the summary."""

    MAX_EXAMPLES_PER_NAME = 3  # enough to explain a count without letting a flood grow memory

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._examples: dict[str, list[str]] = {}

    def count(self, name: str, detail: str = "", n: int = 1) -> None:
        """Record ``n`` occurrences of anomaly ``name``; ``detail`` is kept for the first few."""
        self._counts[name] += n
        if detail:
            examples = self._examples.setdefault(name, [])
            if len(examples) < self.MAX_EXAMPLES_PER_NAME:
                examples.append(detail)

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def total(self) -> int:
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, dict[str, object]]:
        """Counts and examples, sorted by name, for JSON output."""
        return {
            name: {"count": count, "examples": list(self._examples.get(name, []))}
            for name, count in sorted(self._counts.items())
        }
