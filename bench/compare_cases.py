"""Compare two case folders: ``python -m bench.compare_cases BEFORE AFTER``.

A speed change to the output path must not change a result. Every file of the case folder is
compared byte for byte, except ``report.html`` (it carries the time it was written), the GeoIP
database's install path and the timing fields in summary.json, the ledger's
SQLite file (with no identity key configured its person keys are keyed by a key drawn for
each run, so only its tables' row counts can be compared).
Exit status 0 when the folders agree, 1 with the differences listed otherwise.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

SKIPPED = {"report.html", "ledger.sqlite"}
TIMING_KEYS = {"seconds", "elapsed_seconds", "started", "finished"}


def _files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in SKIPPED and not p.name.endswith(("-wal", "-shm"))
    }


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _comparable(summary: Any) -> Any:
    """summary.json without timings and without where the GeoIP file is installed."""
    summary = _without_timings(summary)
    if isinstance(summary, dict) and isinstance(summary.get("geoip"), dict):
        summary["geoip"] = {k: v for k, v in summary["geoip"].items() if k != "path"}
    return summary


def _ledger_rows(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        db.close()


def differences(before: Path, after: Path) -> list[str]:
    """Human-readable differences between two case folders; empty when they agree."""
    found = []
    a, b = _files(before), _files(after)
    for name in sorted(a.keys() - b.keys()):
        found.append(f"only in {before}: {name}")
    for name in sorted(b.keys() - a.keys()):
        found.append(f"only in {after}: {name}")
    for name in sorted(a.keys() & b.keys()):
        if name == "summary.json":
            left = _comparable(json.loads(a[name].read_text(encoding="utf-8")))
            right = _comparable(json.loads(b[name].read_text(encoding="utf-8")))
            if left != right:
                found.append(f"differs: {name}")
        elif a[name].read_bytes() != b[name].read_bytes():
            found.append(f"differs: {name}")
    if _ledger_rows(before / "ledger.sqlite") != _ledger_rows(after / "ledger.sqlite"):
        found.append("differs: ledger.sqlite row counts")
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.compare_cases BEFORE AFTER", file=sys.stderr)
        return 2
    found = differences(Path(args[0]), Path(args[1]))
    for line in found:
        print(line)
    print(f"{len(found)} difference(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
