"""The ``outputs`` configuration section: which sinks get which record types, and how.

Declared once here (type, default, meaning) and mounted in ``sensor.config.EgressConfig`` as
``outputs``; docs/outputs.md explains the choices. Secrets are never in the file: SASL and TLS
key passwords are read from the environment variables named here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", frozen=True)

RecordType = Literal["alert", "flow", "object", "threshold_event", "consistency_event"]
ALL_RECORD_TYPES: tuple[RecordType, ...] = ("alert", "flow", "threshold_event", "consistency_event")

#: Default Kafka topic per record type (INTERFACES.md); events share one topic.
DEFAULT_TOPICS: dict[str, str] = {
    "alert": "egress.alerts",
    "flow": "egress.flows",
    "object": "egress.objects",
    "threshold_event": "egress.events",
    "consistency_event": "egress.events",
}


class StdoutSinkConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(False, description="write records as JSON lines to standard output")
    record_types: tuple[RecordType, ...] = Field(("alert",), description="record types written")


class JsonlSinkConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(False, description="write rotating JSON-lines files")
    directory: Path = Field(Path("egress-records"), description="where the files are written")
    record_types: tuple[RecordType, ...] = ALL_RECORD_TYPES
    max_bytes: int = Field(64 << 20, ge=1024, description="rotate a file at this size")
    max_age_s: float = Field(3600.0, ge=0, description="rotate a file this old (0: never)")
    keep: int = Field(24, ge=0, description="rotated files kept per record file (0: all)")


class SpoolConfig(BaseModel):
    model_config = _STRICT
    directory: Path | None = Field(
        None,
        description="spool directory; empty means $XDG_STATE_HOME/egress/kafka-spool "
        "(~/.local/state/egress/kafka-spool)",
    )
    max_bytes: int = Field(256 << 20, ge=4096, description="unacknowledged bytes held at most")
    segment_bytes: int = Field(8 << 20, ge=1024, description="size of one segment file")
    when_full: Literal["drop_oldest", "drop_newest", "block"] = Field(
        "drop_oldest", description="what a full spool does with records (counted)"
    )
    block_timeout_s: float = Field(
        30.0, ge=0, description="with when_full=block: wait this long, then drop the new record"
    )
    fsync: Literal["always", "interval", "never"] = "interval"
    fsync_interval_s: float = Field(1.0, gt=0, description="with fsync=interval")


class KafkaSinkConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(False, description="stream records to Kafka (or --kafka on audit)")
    bootstrap_servers: tuple[str, ...] = Field(("127.0.0.1:9092",), min_length=1)
    client_id: str = "egress"
    record_types: tuple[RecordType, ...] = ALL_RECORD_TYPES
    topics: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TOPICS), description="topic per record type"
    )
    compression: Literal["zstd", "lz4", "gzip", "none"] = Field(
        "zstd", description="producer compression codec (zstd and lz4 tested against Tansu)"
    )
    linger_ms: int = Field(20, ge=0, description="wait this long to fill a batch")
    batch_size: int = Field(64 << 10, ge=1024, description="bytes per partition batch")
    max_request_size: int = Field(1 << 20, ge=1024, description="larger records are rejected")
    retries: int = Field(
        0,
        ge=0,
        description="kafka-python retries inside one attempt; the sink itself re-sends failed "
        "windows for ever, and client retries add duplicates it cannot count",
    )
    request_timeout_ms: int = Field(10_000, ge=100)
    ack_timeout_s: float = Field(
        15.0, gt=0, description="a window not acknowledged within this is a failed attempt"
    )
    window_records: int = Field(500, ge=1, description="records sent per delivery attempt")
    retry_backoff_s: float = Field(0.5, gt=0, description="first wait after a failed attempt")
    retry_backoff_max_s: float = Field(10.0, gt=0, description="longest wait between attempts")
    connect_timeout_s: float = Field(5.0, gt=0, description="bootstrap wait of a new producer")
    close_timeout_s: float = Field(
        30.0, ge=0, description="on close, wait this long for the spool to drain"
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password_env: str | None = Field(None, description="env variable with the key password")
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = Field(None, description="env variable with the SASL password")
    producer_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="further kafka-python KafkaProducer options, as is"
    )
    spool: SpoolConfig = Field(default_factory=SpoolConfig)


class OutputsConfig(BaseModel):
    """Record sinks, any combination at once. The case folder of ``egress audit`` is separate."""

    model_config = _STRICT
    stdout: StdoutSinkConfig = Field(default_factory=StdoutSinkConfig)
    jsonl: JsonlSinkConfig = Field(default_factory=JsonlSinkConfig)
    kafka: KafkaSinkConfig = Field(default_factory=KafkaSinkConfig)
