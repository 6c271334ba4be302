"""Record sinks: where alerts, flows and events go besides the case folder.

A sink takes whole records (dicts with a ``record_type``) and decides by that type where each
goes: a file per type, a Kafka topic per type. ``FanOut`` writes every record to several sinks,
so stdout, rotating JSON-lines files and Kafka work in any combination; ``build_sinks`` makes
them from the ``outputs`` configuration. The Kafka sink lives in ``sensor.outputs.kafka``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from sensor.outputs.settings import JsonlSinkConfig, OutputsConfig

log = logging.getLogger(__name__)

#: File stem per record type (INTERFACES.md); both event types share ``events``.
FILE_STEMS: dict[str, str] = {
    "alert": "alerts",
    "flow": "flows",
    "object": "objects",
    "threshold_event": "events",
    "consistency_event": "events",
}


@runtime_checkable
class RecordSink(Protocol):
    """Anything that takes records; ``record_type`` selects the file or topic."""

    def write(self, record: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def record_type(record: dict[str, Any]) -> str:
    value = record.get("record_type")
    return value if isinstance(value, str) and value else "unknown"


def record_key(record: dict[str, Any], default: str = "") -> str:
    """Ordering key: the processor id (egress.processor.id, or a top-level processor), else the
    observer (sensor) name. One processor's records then stay ordered in one Kafka partition."""
    egress = record.get("egress")
    if isinstance(egress, dict):
        processor = egress.get("processor")
        if isinstance(processor, dict) and processor.get("id"):
            return str(processor["id"])
    processor = record.get("processor")
    if isinstance(processor, dict) and processor.get("id"):
        return str(processor["id"])
    if isinstance(processor, str) and processor:
        return processor
    observer = record.get("observer")
    if isinstance(observer, dict) and observer.get("name"):
        return str(observer["name"])
    return default


def to_json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class FanOut:
    """Writes each record to every sink; a sink that fails does not starve the others."""

    def __init__(self, sinks: Iterable[RecordSink] = ()) -> None:
        self.sinks: list[RecordSink] = list(sinks)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def write(self, record: dict[str, Any]) -> None:
        self._each(lambda sink: sink.write(record))

    def flush(self) -> None:
        self._each(lambda sink: sink.flush())

    def close(self) -> None:
        self._each(lambda sink: sink.close())

    def _each(self, action: Callable[[RecordSink], None]) -> None:
        first: BaseException | None = None
        for sink in self.sinks:
            try:
                action(sink)
            except Exception as exc:  # the other sinks still get the record
                log.error("output %s failed: %s", type(sink).__name__, exc)
                first = first or exc
        if first is not None:
            raise first


class StdoutSink:
    """One JSON line per record on standard output (or ``stream``), flushed each time."""

    def __init__(self, record_types: Sequence[str] = ("alert",), stream: IO[str] | None = None):
        self.record_types = frozenset(record_types)
        self._stream = stream

    def write(self, record: dict[str, Any]) -> None:
        if record_type(record) not in self.record_types:
            return
        stream = self._stream or sys.stdout
        stream.write(to_json_line(record))
        stream.flush()

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()

    def close(self) -> None:
        self.flush()


class _RotatingFile:
    """``<dir>/<stem>.jsonl``, renamed to ``<stem>-<UTC time>.jsonl`` when too big or too old."""

    def __init__(
        self, directory: Path, stem: str, config: JsonlSinkConfig, clock: Callable[[], float]
    ):
        self.path = directory / f"{stem}.jsonl"
        self.stem = stem
        self.directory = directory
        self.config = config
        self._clock = clock
        self._file: IO[str] = self.path.open("a", encoding="utf-8")
        self._size = self.path.stat().st_size
        self._opened = clock()
        self.rotations = 0

    def write(self, line: str) -> None:
        size = len(line.encode())
        if self._size and (
            self._size + size > self.config.max_bytes
            or (self.config.max_age_s and self._clock() - self._opened >= self.config.max_age_s)
        ):
            self.rotate()
        self._file.write(line)
        self._file.flush()  # alerts must not wait in a buffer; rotation happens on whole lines
        self._size += size

    def rotate(self) -> None:
        self._file.close()
        stamp = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        base = f"{self.stem}-{stamp:%Y%m%dT%H%M%S}"
        target = self.directory / f"{base}.jsonl"
        n = 1
        while target.exists():
            target = self.directory / f"{base}.{n}.jsonl"
            n += 1
        os.replace(self.path, target)
        self.rotations += 1
        self._prune()
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0
        self._opened = self._clock()

    def _prune(self) -> None:
        if not self.config.keep:
            return
        rotated = sorted(
            (p for p in self.directory.glob(f"{self.stem}-*.jsonl")),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        for old in rotated[: max(0, len(rotated) - self.config.keep)]:
            old.unlink(missing_ok=True)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class RotatingJsonlSink:
    """JSON-lines files per record type (alerts, flows, events), rotated by size and age."""

    def __init__(self, config: JsonlSinkConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.record_types = frozenset(config.record_types)
        self._clock = clock
        self._files: dict[str, _RotatingFile] = {}
        config.directory.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        kind = record_type(record)
        if kind not in self.record_types:
            return
        stem = FILE_STEMS.get(kind, kind)
        target = self._files.get(stem)
        if target is None:
            target = self._files[stem] = _RotatingFile(
                self.config.directory, stem, self.config, self._clock
            )
        target.write(to_json_line(record))

    @property
    def rotations(self) -> int:
        return sum(f.rotations for f in self._files.values())

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def build_sinks(
    config: OutputsConfig, *, kafka_bootstrap: str | None = None, observer: str = "egress"
) -> list[RecordSink]:
    """The sinks the configuration enables; ``kafka_bootstrap`` (``--kafka``) enables Kafka."""
    sinks: list[RecordSink] = []
    if config.stdout.enabled:
        sinks.append(StdoutSink(config.stdout.record_types))
    if config.jsonl.enabled:
        sinks.append(RotatingJsonlSink(config.jsonl))
    kafka = config.kafka
    if kafka_bootstrap:
        servers = tuple(s.strip() for s in kafka_bootstrap.split(",") if s.strip())
        kafka = kafka.model_copy(update={"enabled": True, "bootstrap_servers": servers})
    if kafka.enabled:
        from sensor.outputs.kafka import KafkaSink  # kafka-python is imported only when used

        sinks.append(KafkaSink(kafka, default_key=observer))
    return sinks


def close_sinks(sinks: Sequence[RecordSink], report: Callable[[str], object]) -> None:
    """Close every sink (Kafka drains its spool first) and report delivery figures."""
    for sink in sinks:
        spool = getattr(sink, "spool", None)
        if spool is not None and len(spool):
            report(f"Kafka: waiting for the broker to acknowledge {len(spool)} records ...")
        sink.close()
        stats = getattr(sink, "stats", None)
        if callable(stats):
            figures = stats()
            spool = figures["spool"]
            report(
                f"Kafka: {figures['delivered']} records delivered, {figures['resent']} re-sent, "
                f"{spool['records']} waiting in the spool (oldest {spool['oldest_age_s']:.0f} s), "
                f"{spool['dropped_oldest'] + spool['dropped_newest'] + spool['dropped_block_timeout'] + spool['dropped_too_large']} dropped "
                f"by the full-spool policy, {figures['rejected']} rejected as too large"
            )
