"""Record sinks without a broker: stdout, rotating JSON-lines files, fan-out, config selection."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from sensor.config import ConfigError, load_config
from sensor.outputs.settings import JsonlSinkConfig, OutputsConfig
from sensor.outputs.sinks import (
    FanOut,
    RecordSink,
    RotatingJsonlSink,
    StdoutSink,
    build_sinks,
    record_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def alert(n: int, processor: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record_type": "alert",
        "alert_id": f"{n:013x}-{n:016x}",
        "observer": {"name": "sensor-a"},
    }
    if processor:
        record["egress"] = {"processor": {"id": processor}}
    return record


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_sink_files_per_record_type(tmp_path: Path) -> None:
    sink = RotatingJsonlSink(JsonlSinkConfig(enabled=True, directory=tmp_path))
    sink.write(alert(1))
    sink.write({"record_type": "flow", "uid": "F00000001"})
    sink.write({"record_type": "threshold_event", "event_id": "e1"})
    sink.write({"record_type": "consistency_event", "event_id": "e2"})
    sink.write({"record_type": "object", "flow": {"id": "F1"}})  # not selected by default
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alerts.jsonl",
        "events.jsonl",
        "flows.jsonl",
    ]
    assert [r["event_id"] for r in read_lines(tmp_path / "events.jsonl")] == ["e1", "e2"]
    assert read_lines(tmp_path / "alerts.jsonl") == [alert(1)]


def test_jsonl_sink_rotates_by_size_and_keeps_n(tmp_path: Path) -> None:
    clock = FakeClock()
    config = JsonlSinkConfig(enabled=True, directory=tmp_path, max_bytes=1024, keep=2)
    sink = RotatingJsonlSink(config, clock=clock)
    line_bytes = len(json.dumps(alert(0), separators=(",", ":"))) + 1
    per_file = 1024 // line_bytes
    for n in range(per_file * 4 + 1):
        clock.now += 1  # distinct rotation names
        sink.write(alert(n))
    sink.close()
    assert sink.rotations == 4
    rotated = sorted(tmp_path.glob("alerts-*.jsonl"))
    assert len(rotated) == 2  # keep=2: the two oldest rotated files were pruned
    for path in [*rotated, tmp_path / "alerts.jsonl"]:
        assert path.stat().st_size <= 1024
    kept = [r["alert_id"] for p in [*rotated, tmp_path / "alerts.jsonl"] for r in read_lines(p)]
    assert kept == [alert(n)["alert_id"] for n in range(per_file * 2, per_file * 4 + 1)]


def test_jsonl_sink_rotates_by_age(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = RotatingJsonlSink(
        JsonlSinkConfig(enabled=True, directory=tmp_path, max_age_s=60, keep=0), clock=clock
    )
    sink.write(alert(1))
    clock.now += 59
    sink.write(alert(2))
    assert sink.rotations == 0
    clock.now += 1
    sink.write(alert(3))
    sink.close()
    assert sink.rotations == 1
    (old,) = tmp_path.glob("alerts-*.jsonl")
    assert [r["alert_id"] for r in read_lines(old)] == [alert(1)["alert_id"], alert(2)["alert_id"]]
    assert read_lines(tmp_path / "alerts.jsonl") == [alert(3)]


def test_stdout_sink_writes_selected_types() -> None:
    stream = io.StringIO()
    sink = StdoutSink(("alert", "threshold_event"), stream=stream)
    sink.write(alert(7))
    sink.write({"record_type": "flow", "uid": "F1"})
    sink.write({"record_type": "threshold_event", "event_id": "t"})
    sink.close()
    kinds = [json.loads(line)["record_type"] for line in stream.getvalue().splitlines()]
    assert kinds == ["alert", "threshold_event"]


class Broken:
    def write(self, record: dict[str, Any]) -> None:
        raise OSError("disk full")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_fan_out_writes_every_sink_even_when_one_fails() -> None:
    first, last = io.StringIO(), io.StringIO()
    fan = FanOut([StdoutSink(stream=first), Broken(), StdoutSink(stream=last)])
    assert all(isinstance(s, RecordSink) for s in fan.sinks)
    with pytest.raises(OSError, match="disk full"):
        fan.write(alert(1))
    assert first.getvalue() == last.getvalue() != ""


def test_record_key_prefers_processor_then_observer() -> None:
    assert record_key(alert(1, "acme-sz")) == "acme-sz"
    assert record_key(alert(1)) == "sensor-a"
    assert record_key({"record_type": "threshold_event", "processor": {"id": "p9"}}) == "p9"
    assert record_key({"record_type": "consistency_event", "processor": "p8"}) == "p8"
    assert record_key({"record_type": "flow"}, default="fallback") == "fallback"
    unassigned = alert(1)
    unassigned["egress"] = {"processor": None}
    assert record_key(unassigned) == "sensor-a"


def test_outputs_config_selects_sinks(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text(
        "outputs:\n"
        "  stdout: {enabled: true}\n"
        f"  jsonl: {{enabled: true, directory: {tmp_path / 'records'}, max_bytes: 4096}}\n"
    )
    config = load_config(path)
    sinks = build_sinks(config.outputs)
    assert [type(s).__name__ for s in sinks] == ["StdoutSink", "RotatingJsonlSink"]
    assert build_sinks(OutputsConfig()) == []
    for sink in sinks:
        sink.close()


def test_outputs_config_rejects_bad_policy(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("outputs:\n  kafka:\n    spool:\n      when_full: drop_everything\n")
    with pytest.raises(ConfigError, match=r"egress.yaml:4: outputs.kafka.spool.when_full"):
        load_config(path)
