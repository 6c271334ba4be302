"""tcpdump on the loopback interface for tests that capture real clients and servers.

``capture(filter, path)`` is a context manager: tcpdump runs (as root, packet-buffered) while the
body talks over loopback, then is stopped by its PID after a short flush. Tests using it skip
without tcpdump or root.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CAN_CAPTURE = shutil.which("tcpdump") is not None and os.geteuid() == 0
needs_capture = pytest.mark.skipif(not CAN_CAPTURE, reason="needs tcpdump and root on loopback")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def capture(bpf: str, path: Path) -> Iterator[Path]:
    """Record loopback packets matching ``bpf`` into ``path`` while the block runs."""
    command = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-s", "0"]
    proc = subprocess.Popen(
        [*command, "-w", str(path), *bpf.split()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 15
    line = b""
    while time.monotonic() < deadline and b"listening on" not in line:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            pytest.skip("tcpdump could not capture on lo")
    try:
        yield path
    finally:
        time.sleep(0.5)  # let the last packets reach the file
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
