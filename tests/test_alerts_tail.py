"""`egress audit --kafka` streams the sample's alerts and flows; `egress alerts tail` reads them
back by partition assignment and as a consumer group that resumes where it stopped."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from sensor.outputs.schemas import schema_errors
from tests.cli import run_egress
from tests.kafka_broker import TansuBroker
from tests.test_kafka_output import read_topic

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


def config_file(tmp_path: Path, topics: dict[str, str]) -> Path:
    path = tmp_path / "egress.yaml"
    lines = [
        "sensor_id: tail-test",
        "outputs:",
        "  kafka:",
        "    close_timeout_s: 20",
        "    topics:",
        *[f"      {kind}: {name}" for kind, name in topics.items()],
        "    spool:",
        f"      directory: {tmp_path / 'spool'}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_audit_streams_alerts_and_flows(kafka_broker: TansuBroker, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    alerts_topic, flows_topic = f"alerts-{suffix}", f"flows-{suffix}"
    kafka_broker.create_topic(alerts_topic, partitions=2)
    kafka_broker.create_topic(flows_topic, partitions=2)
    config = config_file(tmp_path, {"alert": alerts_topic, "flow": flows_topic})
    out = tmp_path / "case"
    result = run_egress(
        "--config",
        config,
        "audit",
        SAMPLE,
        "--out",
        out,
        "--quiet",
        "--kafka",
        kafka_broker.bootstrap,
    )
    assert result.returncode == 0, result.stderr
    assert "0 waiting in the spool" in result.stdout
    for topic, name in ((alerts_topic, "alerts.jsonl"), (flows_topic, "flows.jsonl")):
        written = [json.loads(line) for line in (out / name).read_text().splitlines()]
        messages = read_topic(kafka_broker.bootstrap, topic, 2)
        streamed = [json.loads(m.value) for m in messages]
        assert written and streamed
        assert sorted(map(json.dumps, streamed)) == sorted(map(json.dumps, written))
        for message, record in zip(messages, streamed, strict=True):
            assert message.key == b"tail-test"  # no processor configured: the sensor id
            assert schema_errors(record) == []


def produce_alerts(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    records = []
    for n in range(count):
        record = {
            "schema_version": "0.1",
            "record_type": "alert",
            "alert_id": f"{1_700_000_000_000 + n:013x}-{n:016x}",
            "@timestamp": "2023-11-14T22:13:20.003000+00:00",
            "severity": "high",
            "observer": {"name": "tail-test"},
            "egress": {"processor": {"id": f"proc-{n % 2}"}},
            "source": {"ip": "10.20.30.40"},
            "destination": {
                "ip": "63.10.20.30",
                "domain": "crm.example-us.com",
                "geo": {"country_iso_code": "US"},
            },
            "findings": [{"identifier": "cn_resident_id", "count": n + 1}],
            "individuals": {"distinct": n + 1},
        }
        records.append(record)
        producer.send(topic, key=f"proc-{n % 2}".encode(), value=json.dumps(record).encode())
    producer.send(topic, key=b"proc-0", value=json.dumps(records[0]).encode())  # a duplicate
    producer.flush(10)
    producer.close()
    return records


def test_tail_by_partition_assignment(kafka_broker: TansuBroker) -> None:
    topic = f"tail-assign-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    records = produce_alerts(kafka_broker.bootstrap, topic, 6)
    ids = [r["alert_id"] for r in records]
    common = ("--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--timeout", "1")
    result = run_egress("alerts", "tail", *common, "--from-beginning", "--json")
    assert result.returncode == 0, result.stderr
    shown = [json.loads(line)["alert_id"] for line in result.stdout.splitlines()]
    assert sorted(shown) == sorted(ids)  # the duplicate of record 0 is hidden
    for key in ("proc-0", "proc-1"):  # order within a key (one partition) is kept
        assert [i for i in shown if i in ids[int(key[-1]) :: 2]] == ids[int(key[-1]) :: 2]

    partition = read_topic(kafka_broker.bootstrap, topic, 2)[0].partition
    one = run_egress(
        "alerts", "tail", *common, "--from-beginning", "--json", "--partition", str(partition)
    )
    in_partition = {
        json.loads(m.value)["alert_id"]
        for m in read_topic(kafka_broker.bootstrap, topic, 2)
        if m.partition == partition
    }
    assert {json.loads(line)["alert_id"] for line in one.stdout.splitlines()} == in_partition

    table = run_egress("alerts", "tail", *common, "--from-beginning", "--show-duplicates")
    assert table.returncode == 0, table.stderr
    assert "alert_id" in table.stdout and "severity" in table.stdout
    assert all(i in table.stdout for i in ids)
    assert table.stdout.count(ids[0]) == 2  # shown twice with --show-duplicates
    assert "7 shown, 1 duplicates" in table.stderr

    missing = run_egress("alerts", "tail", *common, "--partition", "7")
    assert missing.returncode == 2
    assert "has partitions [0, 1], not [7]" in missing.stderr


def test_tail_in_a_consumer_group_resumes(kafka_broker: TansuBroker) -> None:
    topic = f"tail-group-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    records = produce_alerts(kafka_broker.bootstrap, topic, 5)
    ids = [r["alert_id"] for r in records]
    group = f"analysts-{uuid.uuid4().hex[:8]}"
    common = ("--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--group", group, "--json")
    first = run_egress("alerts", "tail", *common, "--from-beginning", "--max-records", "3")
    assert first.returncode == 0, first.stderr
    assert [json.loads(line)["alert_id"] for line in first.stdout.splitlines()] == ids[:3]
    # The same group again: it resumes after the three records it committed.
    second = run_egress("alerts", "tail", *common, "--from-beginning", "--timeout", "1")
    assert second.returncode == 0, second.stderr
    # records 3 and 4, then the duplicate of record 0 (a new process has not seen it: shown)
    assert [json.loads(line)["alert_id"] for line in second.stdout.splitlines()] == [
        ids[3],
        ids[4],
        ids[0],
    ]
