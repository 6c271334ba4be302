"""The hash-chained audit log: intact logs verify; an edited, deleted, reordered, inserted or
truncated entry, a removed tail and an entry appended after the seal are each caught, by the
library and by ``egress verify-log`` (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sensor.outputs.auditlog import AuditLog, verify_log
from tests.cli import run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


def _log(path: Path, n: int = 5, seal: bool = True) -> list[bytes]:
    log = AuditLog(path)
    for i in range(n):
        log.append({"alert_id": f"a{i}", "individuals": {"distinct": i}})
    if seal:
        log.seal()
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def test_intact_log_verifies(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    verdict = verify_log(tmp_path / "log.jsonl")
    assert verdict.ok and verdict.sealed and verdict.entries == len(lines) == 6
    assert verdict.alerts == 5
    assert (tmp_path / "log.jsonl").stat().st_mode & 0o777 == 0o600
    assert verify_log(tmp_path / "log.jsonl", expect_head=verdict.head).ok
    assert not verify_log(tmp_path / "log.jsonl", expect_head="0" * 64).ok


def test_edited_entry(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    lines[2] = lines[2].replace(b'"distinct":2', b'"distinct":0')
    verdict = verify_log(_write(tmp_path / "log.jsonl", lines))
    assert not verdict.ok
    assert verdict.problem.startswith("line 4: hash chain broken: entry 2 (line 3) was altered")
    assert verdict.entries == 3


def test_edited_last_alert_caught_by_seal(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    lines[4] = lines[4].replace(b'"a4"', b'"zz"')
    assert "entry 4 (line 5) was altered" in verify_log(_write(tmp_path / "x", lines)).problem


def test_deleted_entry(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    del lines[1]
    verdict = verify_log(_write(tmp_path / "log.jsonl", lines))
    assert not verdict.ok and verdict.problem == "line 2: entry 1 is missing (found entry 2 here)"


def test_reordered_entries(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    lines[1], lines[3] = lines[3], lines[1]
    verdict = verify_log(_write(tmp_path / "log.jsonl", lines))
    assert not verdict.ok
    assert verdict.problem == "line 2: reordered: entry 1 is on line 4, found 3 here"


def test_inserted_entry_with_renumbering_breaks_chain(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    forged = json.loads(lines[2])
    forged["record"]["alert_id"] = "forged"
    renumbered = [lines[0], lines[1], json.dumps(forged).encode() + b"\n"]
    for line in lines[2:]:
        entry = json.loads(line)
        entry["seq"] += 1
        renumbered.append(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
    verdict = verify_log(_write(tmp_path / "log.jsonl", renumbered))
    assert not verdict.ok and "hash chain broken" in verdict.problem


@pytest.mark.parametrize("keep", [3, 6])
def test_truncated_entry(tmp_path: Path, keep: int) -> None:
    lines = _log(tmp_path / "log.jsonl")
    cut = [*lines[: keep - 1], lines[keep - 1][:20]]
    verdict = verify_log(_write(tmp_path / "log.jsonl", cut))
    assert not verdict.ok
    assert verdict.problem == f"line {keep}: not a complete log entry (the file is cut short)"


def test_removed_tail(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    verdict = verify_log(_write(tmp_path / "log.jsonl", lines[:3]))
    assert not verdict.ok and verdict.problem.startswith("not sealed")
    assert verify_log(tmp_path / "log.jsonl", allow_open=True).ok


def test_appended_after_seal(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    verdict = verify_log(_write(tmp_path / "log.jsonl", [*lines, lines[1]]))
    assert not verdict.ok and "after the seal" in verdict.problem


def test_forged_seal_count(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log.jsonl")
    lines[-1] = lines[-1].replace(b'"alerts":5', b'"alerts":4')
    verdict = verify_log(_write(tmp_path / "log.jsonl", lines))
    assert not verdict.ok and "the seal counts" in verdict.problem


def test_open_log_being_written(tmp_path: Path) -> None:
    _log(tmp_path / "log.jsonl", seal=False)
    assert verify_log(tmp_path / "log.jsonl", allow_open=True).ok
    assert not verify_log(tmp_path / "log.jsonl").ok


def test_audit_writes_a_log_verify_log_checks(tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert run_egress("audit", SAMPLE, "--out", case, "--quiet").returncode == 0
    log = case / "audit-log.jsonl"
    alerts = (case / "alerts.jsonl").read_text().splitlines()
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert [e["record"] for e in entries[:-1]] == [json.loads(a) for a in alerts]
    summary = json.loads((case / "summary.json").read_text())
    ok = run_egress("verify-log", log, "--expect-head", summary["audit_log"]["head_sha256"])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(
        f"OK {log}: {len(alerts) + 1} entries, {len(alerts)} alerts, sealed"
    )
    lines = log.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"severity":"high"', b'"severity":"info"')
    log.write_bytes(b"".join(lines))
    bad = run_egress("verify-log", log)
    assert bad.returncode == 1
    assert "FAILED" in bad.stderr and "entry 0 (line 1) was altered" in bad.stderr


def test_events_chain_too_but_only_alerts_are_counted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "log.jsonl")
    log.append({"alert_id": "a0"})
    log.append({"record_type": "threshold_event", "event_id": "e0"}, kind="event")
    log.append({"alert_id": "a1"})
    log.seal()
    verdict = verify_log(tmp_path / "log.jsonl")
    assert verdict.ok and (verdict.entries, verdict.alerts) == (4, 2)
    with pytest.raises(ValueError):
        log.append({}, kind="seal")  # only the log itself seals
    lines = (tmp_path / "log.jsonl").read_bytes().splitlines(keepends=True)
    relabelled = [lines[0], lines[1].replace(b'"kind":"event"', b'"kind":"alert"'), *lines[2:]]
    assert "entry 1 (line 2) was altered" in verify_log(_write(tmp_path / "x", relabelled)).problem
    unknown = [lines[0], lines[1].replace(b'"kind":"event"', b'"kind":"note"'), *lines[2:]]
    assert (
        verify_log(_write(tmp_path / "y", unknown)).problem == "line 2: unknown entry kind 'note'"
    )
