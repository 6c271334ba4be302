"""Kafka producer options built from the configuration: fixed delivery settings, TLS and SASL
passed through to kafka-python under its own names, secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from sensor.config import load_config
from sensor.outputs.kafka import decode_envelope, encode_envelope, producer_options
from sensor.outputs.settings import KafkaSinkConfig


def test_delivery_settings_are_fixed() -> None:
    options = producer_options(KafkaSinkConfig())
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is False
    assert options["max_in_flight_requests_per_connection"] == 1
    assert options["compression_type"] == "zstd"
    # the sink gives up on a window (ack_timeout_s) before the client could expire a batch
    assert options["delivery_timeout_ms"] > KafkaSinkConfig().ack_timeout_s * 1000
    assert set(options) <= set(KafkaProducer.DEFAULT_CONFIG)


def test_tls_and_sasl_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_TEST_SASL", "s3cret")
    monkeypatch.setenv("EGRESS_TEST_KEYPASS", "k3y")
    path = tmp_path / "egress.yaml"
    path.write_text(
        "outputs:\n"
        "  kafka:\n"
        "    bootstrap_servers: [kafka1:9093]\n"
        "    compression: lz4\n"
        "    security_protocol: SASL_SSL\n"
        "    ssl_cafile: /etc/egress/ca.pem\n"
        "    ssl_password_env: EGRESS_TEST_KEYPASS\n"
        "    sasl_mechanism: SCRAM-SHA-512\n"
        "    sasl_username: sensor\n"
        "    sasl_password_env: EGRESS_TEST_SASL\n"
        "    producer_options: {metadata_max_age_ms: 60000}\n"
    )
    options = producer_options(load_config(path).outputs.kafka)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_cafile"] == "/etc/egress/ca.pem"
    assert options["ssl_password"] == "k3y"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "sensor"
    assert options["sasl_plain_password"] == "s3cret"
    assert options["compression_type"] == "lz4"
    assert options["metadata_max_age_ms"] == 60000
    assert set(options) <= set(KafkaProducer.DEFAULT_CONFIG)
    assert "s3cret" not in path.read_text()


def test_envelope_round_trip() -> None:
    payload = encode_envelope("egress.alerts", "处理者-1".encode(), b'{"a":1}')
    assert decode_envelope(payload) == ("egress.alerts", "处理者-1".encode(), b'{"a":1}')
