"""``egress alerts tail``: read alerts back from Kafka for an analyst.

Two ways to read: as a member of a consumer group (``--group``: several analysts' tools share the
partitions, and a restarted tool resumes after the last record it showed, because offsets are
committed after each batch is printed), or by explicit partition assignment (``--partition``, or
every partition when neither is given: no group, nothing committed). Records are shown as a
table or as JSON lines; delivery is at least once, so repeated ``alert_id``s are hidden unless
``--show-duplicates``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from sensor.config import EgressConfig
from sensor.errors import EgressError
from sensor.outputs.settings import DEFAULT_TOPICS, KafkaSinkConfig

#: Tansu (and any broker) answers a JoinGroup within the session timeout; 10 s keeps a group
#: join at about 5 s against the test broker (docs/testing-kafka.md) and is safe for Kafka.
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
#: How long a group member may wait for its partitions before tail gives up.
JOIN_TIMEOUT_S = 60.0
#: Alert ids remembered for hiding duplicates (a bounded window, oldest forgotten first).
DEDUPE_WINDOW = 100_000


def _client_options(config: KafkaSinkConfig, bootstrap: str | None) -> dict[str, Any]:
    """Connection, TLS and SASL options shared with the producer configuration."""
    from sensor.outputs.kafka import producer_options, quiet_kafka_logging

    quiet_kafka_logging()
    producer = producer_options(config)
    keep = {"client_id", "security_protocol", "bootstrap_timeout_ms", "reconnect_backoff_max_ms"}
    options = {k: v for k, v in producer.items() if k in keep or k.startswith(("ssl_", "sasl_"))}
    servers = bootstrap.split(",") if bootstrap else list(config.bootstrap_servers)
    options["bootstrap_servers"] = [s.strip() for s in servers if s.strip()]
    options["client_id"] = f"{config.client_id}-tail"
    return options


def _row(value: dict[str, Any]) -> list[str]:
    src = value.get("source") or {}
    dst = value.get("destination") or {}
    processor = ((value.get("egress") or {}).get("processor") or {}).get("id")
    who = processor or (value.get("observer") or {}).get("name") or ""
    dst_geo = (dst.get("geo") or {}).get("country_iso_code") or (
        "internal" if dst.get("internal") else "?"
    )
    findings = ", ".join(
        f"{f.get('identifier')}x{f.get('count')}" for f in value.get("findings") or []
    )
    individuals = (value.get("individuals") or {}).get("distinct", "")
    return [
        str(value.get("@timestamp", ""))[:19],
        str(value.get("severity", "")),
        str(who),
        f"{src.get('ip', '')} -> {dst.get('ip', '')} ({dst_geo})",
        str(dst.get("domain") or ""),
        str(individuals),
        findings,
        str(value.get("alert_id", value.get("event_id", ""))),
    ]


_COLUMNS = ("time", "severity", "processor", "flow", "recipient", "people", "findings", "alert_id")
_WIDTHS = (19, 8, 12, 40, 28, 6, 30, 30)


def _line(cells: list[str]) -> str:
    return "  ".join(
        escape(c if len(c) <= w else c[: w - 1] + "…").ljust(w)
        for c, w in zip(cells, _WIDTHS, strict=True)
    ).rstrip()


class _Printer:
    def __init__(self, console: Console, as_json: bool, show_duplicates: bool) -> None:
        self.console = console
        self.as_json = as_json
        self.show_duplicates = show_duplicates
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.shown = 0
        self.duplicates = 0
        self.undecodable = 0
        self._header = False

    def show(self, raw: bytes, partition: int, offset: int) -> None:
        try:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not an object")
        except ValueError:
            self.undecodable += 1
            self.console.print(f"[dim]partition {partition} offset {offset}: not a JSON record[/]")
            return
        rid = str(value.get("alert_id") or value.get("event_id") or value.get("uid") or "")
        if rid and rid in self.seen:
            self.duplicates += 1
            if not self.show_duplicates:
                return
        elif rid:
            self.seen[rid] = None
            if len(self.seen) > DEDUPE_WINDOW:
                self.seen.popitem(last=False)
        self.shown += 1
        if self.as_json:
            click.echo(json.dumps(value, ensure_ascii=False))
            return
        if not self._header:
            self.console.print(f"[bold]{_line(list(_COLUMNS))}[/]", soft_wrap=True)
            self._header = True
        colour = {"high": "red", "medium": "yellow"}.get(str(value.get("severity")), "")
        text = _line(_row(value))
        self.console.print(f"[{colour}]{text}[/]" if colour else text, soft_wrap=True)


def root_config() -> EgressConfig:
    """The configuration loaded by the ``egress`` group (defaults when run standalone)."""
    obj = click.get_current_context().find_root().obj
    config = getattr(obj, "config", None)
    return config if isinstance(config, EgressConfig) else EgressConfig()


@click.command("tail")
@click.option("--bootstrap", help="host:port[,host:port]; default outputs.kafka.bootstrap_servers")
@click.option("--topic", help="topic to read; default outputs.kafka.topics.alert (egress.alerts)")
@click.option("--group", "group_id", help="read as a member of this consumer group (resumes)")
@click.option(
    "--partition",
    "partitions",
    type=int,
    multiple=True,
    help="read these partitions by assignment (repeatable); default: all, without a group",
)
@click.option("--from-beginning", is_flag=True, help="start at the oldest record (a new group)")
@click.option(
    "--max-records", type=int, default=0, help="stop after this many records (0: no limit)"
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="stop after this many seconds without a record (0: never); group join time excluded",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON record per line")
@click.option("--show-duplicates", is_flag=True, help="also show repeated alert ids")
def tail_command(
    bootstrap: str | None,
    topic: str | None,
    group_id: str | None,
    partitions: tuple[int, ...],
    from_beginning: bool,
    max_records: int,
    timeout: float,
    as_json: bool,
    show_duplicates: bool,
) -> None:
    """Show alerts from Kafka as a table (or JSON), in a consumer group or by partition."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    if group_id and partitions:
        raise EgressError("use either --group or --partition, not both")
    kafka_config = root_config().outputs.kafka
    topic = topic or kafka_config.topics.get("alert", DEFAULT_TOPICS["alert"])
    options = _client_options(kafka_config, bootstrap)
    servers = ",".join(options["bootstrap_servers"])
    try:
        consumer = KafkaConsumer(
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            **options,
        )
    except KafkaError as exc:
        raise EgressError(f"cannot reach Kafka at {servers}: {exc}") from None
    printer = _Printer(Console(soft_wrap=True), as_json, show_duplicates)
    try:
        if group_id:
            consumer.subscribe([topic])
        else:
            available = consumer.partitions_for_topic(topic)
            if not available:
                raise EgressError(f"topic {topic!r} does not exist on {servers}")
            wanted = sorted(partitions) if partitions else sorted(available)
            missing = set(wanted) - set(available)
            if missing:
                raise EgressError(
                    f"topic {topic!r} has partitions {sorted(available)}, not {sorted(missing)}"
                )
            assigned = [TopicPartition(topic, p) for p in wanted]
            consumer.assign(assigned)
            if from_beginning:
                consumer.seek_to_beginning(*assigned)
            else:
                consumer.seek_to_end(*assigned)
        _consume(consumer, printer, group_id is not None, max_records, timeout)
    except KafkaError as exc:
        raise EgressError(f"reading {topic!r} from {servers} failed: {exc}") from None
    finally:
        consumer.close()
    if not as_json:
        Console(stderr=True).print(
            f"[dim]{printer.shown} shown, {printer.duplicates} duplicates"
            f"{' hidden' if not show_duplicates else ''}, {printer.undecodable} not JSON[/]"
        )


def _consume(
    consumer: Any, printer: _Printer, in_group: bool, max_records: int, timeout: float
) -> None:
    started = time.monotonic()
    last = None  # idle clock starts once partitions are assigned (a group join takes seconds)
    received = 0
    while not max_records or received < max_records:
        if last is None and consumer.assignment():
            last = time.monotonic()
        if last is None and time.monotonic() - started > max(JOIN_TIMEOUT_S, timeout):
            raise EgressError("no partitions assigned: the consumer group did not settle")
        if last is not None and timeout and time.monotonic() - last > timeout:
            break
        limit = max_records - received if max_records else 500
        batches = consumer.poll(timeout_ms=200, max_records=limit)
        count = 0
        for tp in sorted(batches, key=lambda t: t.partition):
            for message in batches[tp]:
                printer.show(message.value, tp.partition, message.offset)
                count += 1
        if count:
            received += count
            last = time.monotonic()
            if in_group:
                consumer.commit()  # after printing: a restart resumes after these
