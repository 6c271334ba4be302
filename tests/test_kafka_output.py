"""The Kafka sink against a real Kafka-protocol broker (Tansu, tests/kafka_broker.py).

The broker is stopped in the middle of a stream and started again: every record must arrive, in
order per key, with duplicates only from re-sent windows (counted as ``resent``); the spool
survives a crash of the writing process; full-spool policies are counted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from sensor.outputs.kafka import KafkaSink, encode_envelope
from sensor.outputs.settings import KafkaSinkConfig, SpoolConfig
from sensor.outputs.spool import HEADER_BYTES, Spool
from tests.cli import run_egress
from tests.kafka_broker import TansuBroker, free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("acme-sz", "acme-sh", "beta-bj", "beta-gz")  # same length: same record sizes


def sink_config(bootstrap: str, spool_dir: Path, **overrides: Any) -> KafkaSinkConfig:
    """Short timeouts so an outage is noticed in about a second."""
    spool = overrides.pop("spool", None) or SpoolConfig(directory=spool_dir)
    settings: dict[str, Any] = {
        "enabled": True,
        "bootstrap_servers": (bootstrap,),
        "topics": {"alert": "alerts-t", "flow": "flows-t"},
        "ack_timeout_s": 1.0,
        "request_timeout_ms": 1000,
        "connect_timeout_s": 1.0,
        "retry_backoff_s": 0.1,
        "retry_backoff_max_s": 0.5,
        "window_records": 25,
        "linger_ms": 5,
        "close_timeout_s": 20.0,
        "spool": spool,
    }
    settings.update(overrides)
    return KafkaSinkConfig(**settings)


def alert(n: int) -> dict[str, Any]:
    key = KEYS[n % len(KEYS)]
    return {
        "schema_version": "0.1",
        "record_type": "alert",
        "alert_id": f"{1_700_000_000_000 + n:013x}-{n:016x}",
        "observer": {"name": "sensor-t"},
        "egress": {"processor": {"id": key}},
        "seq": n,
    }


def read_topic(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of ``topic``, read by assignment up to each partition's high watermark
    (Tansu's ListOffsets(LATEST) is off after multi-record batches; the fetch watermark is not)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    messages: list[Any] = []
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.5:
            batches = consumer.poll(timeout_ms=200)
            for tp in assigned:
                messages.extend(batches.get(tp, []))
            if batches:
                idle_since = time.monotonic()
            marks = [consumer.highwater(tp) for tp in assigned]
            if all(
                m is not None and consumer.position(tp) >= m
                for tp, m in zip(assigned, marks, strict=True)
            ):
                break
        return messages
    finally:
        consumer.close()


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def check_delivery(messages: list[Any], expected: list[int]) -> int:
    """Every expected record arrived, first copies in order per key; returns the duplicates."""
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    duplicates = 0
    for message in messages:
        record = json.loads(message.value)
        assert message.key.decode() == record["egress"]["processor"]["id"]
        if record["alert_id"] in seen:
            duplicates += 1
            continue
        seen.add(record["alert_id"])
        first_seen[message.key.decode()].append(record["seq"])
    assert sorted(n for seqs in first_seen.values() for n in seqs) == sorted(expected)
    for key, seqs in first_seen.items():
        wanted = [n for n in expected if KEYS[n % len(KEYS)] == key]
        assert seqs == wanted, f"order of key {key} broken"
    return duplicates


def test_broker_outage_loses_nothing_and_keeps_order_per_key(tmp_path: Path) -> None:
    with TansuBroker(tmp_path / "broker", storage="s3") as broker:
        broker.create_topic("alerts-t", partitions=2)
        sink = KafkaSink(sink_config(broker.bootstrap, tmp_path / "spool"))
        try:
            for n in range(150):
                sink.write(alert(n))
            broker.kill()  # a crash while windows are in flight
            for n in range(150, 300):
                sink.write(alert(n))
            assert wait_for(lambda: sink.failed_attempts >= 2, 20)
            during = sink.stats()
            assert during["connected"] is False
            assert during["spool"]["records"] > 150  # everything since the crash waits on disk
            assert during["spool"]["oldest_age_s"] > 0
            for n in range(300, 400):  # queue behind the spooled ones
                sink.write(alert(n))
            broker.start()
            assert sink.drain(30), sink.stats()
        finally:
            sink.close()
        stats = sink.stats()
        assert stats["spool"]["records"] == 0
        assert stats["spool"]["dropped_oldest"] == stats["spool"]["dropped_newest"] == 0
        assert stats["delivered"] == 400
        messages = read_topic(broker.bootstrap, "alerts-t", 2)
    duplicates = check_delivery(messages, list(range(400)))
    assert duplicates <= stats["resent"]


def test_hung_broker_then_resumed(tmp_path: Path) -> None:
    with TansuBroker(tmp_path / "broker") as broker:
        broker.create_topic("alerts-t", partitions=2)
        sink = KafkaSink(sink_config(broker.bootstrap, tmp_path / "spool"))
        try:
            for n in range(50):
                sink.write(alert(n))
            assert sink.drain(10)
            broker.pause()  # requests sit in the socket buffer unanswered
            for n in range(50, 120):
                sink.write(alert(n))
            assert wait_for(lambda: sink.failed_attempts >= 1, 20)
            assert len(sink.spool) > 0
            broker.resume()
            assert sink.drain(30), sink.stats()
        finally:
            sink.close()
        messages = read_topic(broker.bootstrap, "alerts-t", 2)
    duplicates = check_delivery(messages, list(range(120)))
    # A request the client gave up on may still be written when the broker goes on (duplicates
    # from re-sent windows only).
    assert duplicates <= sink.resent


WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from sensor.outputs.kafka import KafkaSink, encode_envelope
    from sensor.outputs.settings import KafkaSinkConfig, SpoolConfig
    from tests.test_kafka_output import alert, sink_config
    config = sink_config({bootstrap!r}, Path({spool!r}))
    sink = KafkaSink(config)
    for n in range({count}):
        sink.write(alert(n))
    print(len(sink.spool), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # a crash: no close, no flush
    """
)


def test_spool_survives_a_crash_and_is_replayed(tmp_path: Path) -> None:
    port = free_loopback_port()  # nothing listens yet: every record stays in the spool
    spool_dir = tmp_path / "spool"
    script = WRITER.format(
        root=str(ROOT), bootstrap=f"127.0.0.1:{port}", spool=str(spool_dir), count=60
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == -9, result.stderr
    assert result.stdout.strip() == "60"
    status = run_egress("alerts", "spool", "--directory", spool_dir, "--json")
    assert status.returncode == 0, status.stderr
    figures = json.loads(status.stdout)
    assert (figures["records"], figures["recovered"]) == (60, 60)
    assert figures["oldest_age_s"] > 0
    with TansuBroker(tmp_path / "broker", port=port) as broker:
        broker.create_topic("alerts-t", partitions=2)
        sink = KafkaSink(sink_config(broker.bootstrap, spool_dir))
        try:
            assert sink.stats()["spool"]["recovered"] == 60
            sink.write(alert(60))  # new records queue behind the recovered ones
            assert sink.drain(20), sink.stats()
        finally:
            sink.close()
        messages = read_topic(broker.bootstrap, "alerts-t", 2)
    assert check_delivery(messages, list(range(61))) == 0  # nothing was ever sent twice


@pytest.mark.parametrize(
    ("policy", "kept", "counter"),
    [
        ("drop_newest", range(10, 20), "dropped_newest"),
        ("drop_oldest", range(40, 50), "dropped_oldest"),
    ],
)
def test_full_spool_policy_is_counted_and_what_is_kept_arrives(
    tmp_path: Path, policy: str, kept: range, counter: str
) -> None:
    port = free_loopback_port()
    spool_dir = tmp_path / "spool"
    numbers = range(10, 50)  # two-digit sequence numbers: every record has the same size
    frame = HEADER_BYTES + len(
        encode_envelope(
            "alerts-t", b"acme-sz", json.dumps(alert(10), separators=(",", ":")).encode()
        )
    )
    spool = Spool(spool_dir, max_bytes=10 * frame + 5, when_full=policy)  # type: ignore[arg-type]
    sink = KafkaSink(sink_config(f"127.0.0.1:{port}", spool_dir), spool=spool)
    for n in numbers:
        sink.write(alert(n))
    stats = sink.stats()["spool"]
    assert stats["records"] == 10
    assert stats[counter] == 30
    sink.close(timeout=0)
    with TansuBroker(tmp_path / "broker", port=port) as broker:
        broker.create_topic("alerts-t", partitions=2)
        drained = run_egress(
            "alerts",
            "spool",
            "--directory",
            spool_dir,
            "--drain",
            "--bootstrap",
            broker.bootstrap,
            "--json",
        )
        assert drained.returncode == 0, drained.stderr
        figures = json.loads(drained.stdout)
        assert (figures["delivered"], figures["records"]) == (10, 0)
        messages = read_topic(broker.bootstrap, "alerts-t", 2)
    assert check_delivery(messages, list(kept)) == 0


def test_record_too_large_is_rejected_and_the_rest_delivered(
    kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    kafka_broker.create_topic("alerts-big", partitions=1)
    config = sink_config(
        kafka_broker.bootstrap,
        tmp_path / "spool",
        topics={"alert": "alerts-big"},
        max_request_size=2048,
    )
    sink = KafkaSink(config)
    try:
        for n in range(10):
            record = alert(n)
            if n == 4:
                record["padding"] = "x" * 4000  # larger than max_request_size: never sendable
            sink.write(record)
        assert sink.drain(20), sink.stats()
    finally:
        sink.close()
    assert (sink.rejected, sink.delivered) == (1, 9)
    messages = read_topic(kafka_broker.bootstrap, "alerts-big", 1)
    assert [json.loads(m.value)["seq"] for m in messages] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
