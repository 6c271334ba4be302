"""Ledger insert rate, size on disk and memory at millions of people: ``python -m
bench.compliance.ledger_bench --people 5000000 --out /tmp/ledger.sqlite``.

Objects of ``--batch`` people each (distinct random 16-byte keys, as HMAC outputs are) go into one
processor and year under ``--scopes`` scopes (total, country, recipient is the audit's usual 3),
one durable transaction per object as the audit does. Then ``--repeat`` people already present
are sent again to time the deduplicating path. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from sensor.compliance.ledger import Ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--scopes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=200_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--progress",
        type=int,
        default=0,
        help="every this many people, print a JSON line to stderr (rate since the last, RSS)",
    )
    args = parser.parse_args(argv)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.out}{suffix}").unlink(missing_ok=True)
    ledger = Ledger(args.out, "bench", True)
    scopes = ["total", "country:US", "recipient:bench.example.com"][: args.scopes]
    scopes += [f"extra:{i}" for i in range(args.scopes - len(scopes))]
    sent: list[str] = []
    started = time.perf_counter()
    last_mark, last_done = started, 0
    for done in range(0, args.people, args.batch):
        if args.progress and done - last_done >= args.progress:
            now = time.perf_counter()
            mark = {
                "people": done,
                "seconds": round(now - started, 1),
                "people_per_second_since_last": round((done - last_done) / (now - last_mark)),
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            print(json.dumps(mark), file=sys.stderr, flush=True)
            last_mark, last_done = now, done
        keys = sorted(os.urandom(16).hex() for _ in range(min(args.batch, args.people - done)))
        if len(sent) < args.repeat:
            sent.extend(keys[: args.repeat - len(sent)])
        ledger.record("bench", 2026, {"personal": keys}, scopes, object_id=f"o{done}")
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(sent), args.batch):
        ledger.record("bench", 2026, {"personal": sent[i : i + args.batch]}, scopes, object_id="r")
    repeat_s = time.perf_counter() - started
    counts = ledger.counts("bench", 2026)
    ledger.close()
    size = sum(
        Path(f"{args.out}{s}").stat().st_size
        for s in ("", "-wal")
        if Path(f"{args.out}{s}").exists()
    )
    result = {
        "people": args.people,
        "scopes": args.scopes,
        "batch": args.batch,
        "counted": counts["personal"],
        "insert_seconds": round(insert_s, 1),
        "people_per_second": round(args.people / insert_s),
        "key_rows_per_second": round(args.people * args.scopes / insert_s),
        "repeat_people_per_second": round(len(sent) / repeat_s) if sent else None,
        "db_bytes": size,
        "bytes_per_person_and_scope": round(size / (args.people * args.scopes), 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    json.dump(result, sys.stdout)
    print()
    return 0 if counts["personal"] == args.people else 1


if __name__ == "__main__":
    sys.exit(main())
