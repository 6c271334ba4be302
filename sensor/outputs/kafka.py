"""Kafka sink: records to one topic per record type, keyed by processor, without loss.

``write`` never talks to the broker: it appends the record (with its topic and key) to the
durable spool (``sensor.outputs.spool``) and returns. One sender thread sends the spool's oldest
records as a *window* (at most ``window_records``) through a kafka-python producer with
``acks=all``, waits up to ``ack_timeout_s`` for every acknowledgement, and removes from the spool
the records acknowledged in order from the start of the window. If anything in the window failed
or did not answer, the producer is closed at once (nothing more of the window can reach the
broker behind a failed record), the sender backs off and sends the window again from the first
unacknowledged record. So:

* nothing is lost while the spool has room (the full-spool policy is counted);
* records of one key reach their partition in the order they were written (the spool is one
  FIFO, and ``max_in_flight_requests_per_connection=1`` keeps a retried batch ahead of later
  ones); new records queue behind spooled ones;
* delivery is at least once: a record re-sent after a failed attempt (``resent``) may already
  have been written by the broker, and so may records that followed it in that window. The first
  copy of every record still appears in order per key, so a consumer that keeps the first copy
  of each ``alert_id``/``event_id``/``uid`` sees every record once, in order.

``enable_idempotence=False``: kafka-python 3.0.12 can wedge an idempotent producer for good after
a broker hang (docs/testing-kafka.md, item 7), and idempotence could not remove the duplicates of
a re-sent window anyway.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError

from sensor.outputs.settings import DEFAULT_TOPICS, KafkaSinkConfig, SpoolConfig
from sensor.outputs.sinks import record_key, record_type
from sensor.outputs.spool import Spool, SpoolEntry

log = logging.getLogger(__name__)

#: How often the sender logs the spool backlog while records wait (outage visibility).
STATS_LOG_INTERVAL_S = 60.0

_TOPIC_LEN = struct.Struct(">H")
_KEY_LEN = struct.Struct(">I")


def encode_envelope(topic: str, key: bytes, value: bytes) -> bytes:
    """Spool payload: the topic and key are fixed when the record is written."""
    raw_topic = topic.encode()
    return _TOPIC_LEN.pack(len(raw_topic)) + raw_topic + _KEY_LEN.pack(len(key)) + key + value


def decode_envelope(payload: bytes) -> tuple[str, bytes, bytes]:
    (topic_len,) = _TOPIC_LEN.unpack_from(payload, 0)
    at = _TOPIC_LEN.size
    topic = payload[at : at + topic_len].decode()
    at += topic_len
    (key_len,) = _KEY_LEN.unpack_from(payload, at)
    at += _KEY_LEN.size
    return topic, payload[at : at + key_len], payload[at + key_len :]


def quiet_kafka_logging() -> None:
    """kafka-python logs every refused connection at ERROR; the sink reports outages itself.
    Left alone when the user configured the ``kafka`` logger (or runs at DEBUG)."""
    kafka_log = logging.getLogger("kafka")
    if kafka_log.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        kafka_log.setLevel(logging.CRITICAL)


def default_spool_directory() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "egress" / "kafka-spool"


def open_spool(config: SpoolConfig) -> Spool:
    return Spool(
        config.directory or default_spool_directory(),
        max_bytes=config.max_bytes,
        segment_bytes=config.segment_bytes,
        when_full=config.when_full,
        block_timeout_s=config.block_timeout_s,
        fsync=config.fsync,
        fsync_interval_s=config.fsync_interval_s,
    )


def _secret(variable: str | None) -> str | None:
    return os.environ.get(variable) if variable else None


def producer_options(config: KafkaSinkConfig) -> dict[str, Any]:
    """KafkaProducer keyword arguments for ``config`` (TLS and SASL passed through)."""
    ack_ms = int(config.ack_timeout_s * 1000)
    options: dict[str, Any] = {
        "bootstrap_servers": list(config.bootstrap_servers),
        "client_id": config.client_id,
        "acks": "all",
        "enable_idempotence": False,
        "retries": config.retries,
        "max_in_flight_requests_per_connection": 1,  # a retried batch stays ahead of later ones
        "compression_type": None if config.compression == "none" else config.compression,
        "linger_ms": config.linger_ms,
        "batch_size": config.batch_size,
        "max_request_size": config.max_request_size,
        "request_timeout_ms": config.request_timeout_ms,
        # The sink gives up on a window after ack_timeout_s and closes the producer; the client
        # must not expire a batch first, or a later batch of the partition could overtake it.
        "delivery_timeout_ms": 2 * ack_ms + config.linger_ms + config.request_timeout_ms,
        "max_block_ms": ack_ms,
        "bootstrap_timeout_ms": int(config.connect_timeout_s * 1000),
        "reconnect_backoff_max_ms": 1000,
        "security_protocol": config.security_protocol,
    }
    if config.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = config.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(config, name)
            if value is not None:
                options[name] = str(value)
        if (password := _secret(config.ssl_password_env)) is not None:
            options["ssl_password"] = password
    if config.sasl_mechanism is not None:
        options["sasl_mechanism"] = config.sasl_mechanism
        if config.sasl_username is not None:
            options["sasl_plain_username"] = config.sasl_username
        if (password := _secret(config.sasl_password_env)) is not None:
            options["sasl_plain_password"] = password
    options.update(config.producer_options)
    return options


def _stop_sending(producer: KafkaProducer) -> None:
    """Make the producer's I/O thread stop after its current step, sending nothing more.

    kafka-python has no public way to abandon pending records: ``close(0)`` raises while records
    are pending and leaves the producer running (docs/testing-kafka.md, items 7 and 9). Its
    sender's ``force_close`` only sets flags, so it is safe from a callback on that thread.
    """
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()


def _abort(producer: KafkaProducer, timeout: float = 5.0) -> None:
    """Stop the producer's I/O thread and wait until it failed every pending record."""
    _stop_sending(producer)
    sender = getattr(producer, "_sender", None)
    if sender is not None and sender is not threading.current_thread():
        sender.join(timeout)


class KafkaSink:
    """RecordSink to Kafka through the spool; see the module docstring for the guarantees."""

    def __init__(
        self, config: KafkaSinkConfig, *, default_key: str = "egress", spool: Spool | None = None
    ) -> None:
        quiet_kafka_logging()
        self.config = config
        self.default_key = default_key
        self.record_types = frozenset(config.record_types)
        self.topics = {**DEFAULT_TOPICS, **config.topics}
        self.spool = spool if spool is not None else open_spool(config.spool)
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._abandon = threading.Event()
        self._closed = False
        self._max_sent_seq = -1
        self.delivered = 0
        self.resent = 0
        self.rejected = 0
        self.failed_attempts = 0
        self.connected = False
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="egress-kafka-sender", daemon=True)
        self._thread.start()

    # -- RecordSink ------------------------------------------------------------------------

    def write(self, record: dict[str, Any]) -> None:
        kind = record_type(record)
        if kind not in self.record_types:
            return
        topic = self.topics.get(kind, f"egress.{kind}")
        key = record_key(record, self.default_key).encode()
        value = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        self.spool.append(encode_envelope(topic, key, value))

    def flush(self) -> None:
        """Wait up to ``close_timeout_s`` for the spool to drain (records stay spooled if not)."""
        self.drain(self.config.close_timeout_s)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every record is acknowledged; True if so."""
        return self.spool.wait_empty(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drain for up to ``timeout`` (default ``close_timeout_s``), stop, keep the rest spooled."""
        if self._closed:
            return
        self._closed = True
        drained = self.drain(self.config.close_timeout_s if timeout is None else timeout)
        self._abandon.set()
        self._discard_producer()
        self._thread.join(self.config.ack_timeout_s + self.config.connect_timeout_s + 5)
        left = len(self.spool)
        if not drained and left:
            log.warning(
                "Kafka: %d records not acknowledged stay in the spool %s; the next run sends "
                "them, or now: egress alerts spool --drain",
                left,
                self.spool.directory,
            )
        self.spool.close()

    def stats(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "resent": self.resent,
            "rejected": self.rejected,
            "failed_attempts": self.failed_attempts,
            "connected": self.connected,
            "last_error": self.last_error,
            "spool": self.spool.stats().as_dict(),
        }

    # -- sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.config.retry_backoff_s
        next_report = time.monotonic() + STATS_LOG_INTERVAL_S
        while not self._abandon.is_set():
            self.spool.sync_if_due()
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + STATS_LOG_INTERVAL_S
                self._log_backlog()
            if not self.spool.wait(0.2):
                continue
            if self._send_window(self.spool.peek(self.config.window_records)):
                backoff = self.config.retry_backoff_s
            else:
                self._abandon.wait(backoff)
                backoff = min(backoff * 2, self.config.retry_backoff_max_s)

    def _log_backlog(self) -> None:
        """While records wait, say how many and how old, so an outage is visible in the logs."""
        stats = self.spool.stats()
        if stats.records or stats.dropped:
            log.warning(
                "Kafka spool %s: %d records (%d bytes) waiting, oldest %.0f s; %d dropped by "
                "the full-spool policy; connected: %s",
                self.spool.directory,
                stats.records,
                stats.bytes,
                stats.oldest_age_s,
                stats.dropped,
                self.connected,
            )

    def _connect(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = KafkaProducer(**producer_options(self.config))
            return self._producer

    def _discard_producer(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            _abort(producer)
            try:
                producer.close(timeout=0)
            except KafkaError as exc:  # pragma: no cover - nothing is pending after _abort
                log.debug("closing the Kafka producer: %s", exc)

    def _send_window(self, window: list[SpoolEntry]) -> bool:
        """Send ``window``; acknowledge its delivered prefix; False if the attempt failed."""
        if not window or self._abandon.is_set():
            return True
        sent: list[tuple[SpoolEntry, Any]] = []
        too_large: SpoolEntry | None = None
        error: BaseException | None = None
        failed = threading.Event()
        try:
            producer = self._connect()

            def stop(_exc: BaseException, producer: KafkaProducer = producer) -> None:
                # The first failure stops the producer before it sends anything more, so no
                # later record of the window can be written ahead of the failed one.
                failed.set()
                _stop_sending(producer)

            for entry in window:
                if failed.is_set():
                    break
                topic, key, value = decode_envelope(entry.payload)
                if entry.seq <= self._max_sent_seq:
                    self.resent += 1
                self._max_sent_seq = max(self._max_sent_seq, entry.seq)
                try:
                    future = producer.send(topic, key=key, value=value)
                except MessageSizeTooLargeError:
                    too_large = entry
                    break
                future.add_errback(stop)
                sent.append((entry, future))
            if not failed.is_set():
                producer.flush(timeout=self.config.ack_timeout_s)
        except KafkaError as exc:
            error = exc
        except Exception as exc:  # never let the sender thread die: the spool would only grow
            log.exception("Kafka: unexpected error while sending")
            error = exc
        acked: SpoolEntry | None = None
        for entry, future in sent:
            if future.is_done and future.succeeded():
                acked = entry
                continue
            if future.is_done and isinstance(future.exception, MessageSizeTooLargeError):
                too_large = acked = entry  # the broker refuses it for good: do not retry it
            elif error is None:
                error = future.exception or KafkaError("not acknowledged")
            break
        else:
            if error is None and too_large is not None:
                acked = too_large
        if too_large is not None and acked is too_large:
            self.rejected += 1
            log.error(
                "Kafka: a record of %d bytes is too large for the producer or broker "
                "(max_request_size %d); dropped",
                len(too_large.payload),
                self.config.max_request_size,
            )
        if acked is not None:
            removed = self.spool.acknowledge(acked.seq)
            self.delivered += max(0, removed - (too_large is not None and acked is too_large))
        if failed.is_set():
            self._discard_producer()  # stopped by the failure callback; the next window reconnects
        if error is None:
            if not self.connected:
                level = logging.WARNING if self.failed_attempts else logging.INFO
                log.log(level, "Kafka: delivering to %s", ",".join(self.config.bootstrap_servers))
            self.connected = True
            return True
        self.failed_attempts += 1
        self.last_error = f"{type(error).__name__}: {error}"
        if self.connected or self.failed_attempts == 1:
            log.warning(
                "Kafka unavailable (%s); records wait in the spool %s",
                self.last_error,
                self.spool.directory,
            )
        self.connected = False
        if not failed.is_set():
            self._discard_producer()
        return False
