"""Run the installed ``egress`` command as a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def egress_command() -> list[str]:
    script = Path(sys.executable).with_name("egress")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sensor.cli"]


def run_egress(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*egress_command(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )
