"""The audit progress bar: drawn on a terminal, absent in a pipe and with --quiet."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

from tests.cli import egress_command, run_egress

SAMPLE = Path(__file__).resolve().parents[1] / "sensor" / "data" / "sample-http-upload.pcap"


def _run_in_terminal(*args: str | Path) -> tuple[int, str]:
    """Run egress with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*egress_command(), *map(str, args)], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    code, out = _run_in_terminal("audit", SAMPLE, SAMPLE, "--out", tmp_path / "case")
    assert code == 0, out
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert "auditing sample-http-upload.pcap" in plain
    total = f"{2 * SAMPLE.stat().st_size / 1000:.1f} kB"  # both inputs, by size on disk
    # bytes read / total, throughput ("?" until rich has two samples), time remaining
    bars = re.findall(rf"([0-9.]+)/{re.escape(total)} (\S+) (\S+)", plain)
    assert bars, plain
    assert bars[-1][0] == f"{SAMPLE.stat().st_size / 1000:.1f}"  # first input done, second begun
    assert all(re.fullmatch(r"\?|[0-9.]+ [kMG]?B/s", speed) for _, speed, _ in bars)
    assert all(re.fullmatch(r"-:--:--|\d+:\d\d:\d\d", eta) for _, _, eta in bars)


def test_no_progress_with_quiet_or_without_terminal(tmp_path: Path) -> None:
    code, out = _run_in_terminal("audit", SAMPLE, "--out", tmp_path / "a", "--quiet")
    assert code == 0, out
    assert "auditing" not in out and "B/s" not in out
    piped = run_egress("audit", SAMPLE, "--out", tmp_path / "b")
    assert piped.returncode == 0
    assert "auditing" not in piped.stdout + piped.stderr and "\x1b[" not in piped.stdout
