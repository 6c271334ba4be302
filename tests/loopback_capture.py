"""tcpdump on the loopback interface for tests that capture real clients and servers.

``capture(filter, path)`` is a context manager: tcpdump runs (as root, packet-buffered, with a
large kernel buffer since loopback frames are up to 64 KiB) while the block talks over loopback,
then is stopped by its PID after a short flush. The yielded ``Capture`` tells how many packets the
kernel dropped (from tcpdump's own report), so a test can refuse to compare a lossy capture. Tests
using it skip without tcpdump or root.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CAN_CAPTURE = shutil.which("tcpdump") is not None and os.geteuid() == 0
needs_capture = pytest.mark.skipif(not CAN_CAPTURE, reason="needs tcpdump and root on loopback")
BUFFER_KIB = 65536  # loopback bursts of 64 KiB frames overflow tcpdump's default 2 MiB buffer


@dataclass
class Capture:
    path: Path
    dropped: int = -1  # packets the kernel dropped, from tcpdump's report; -1 if not reported


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def capture(bpf: str, path: Path) -> Iterator[Capture]:
    """Record loopback packets matching ``bpf`` into ``path`` while the block runs."""
    command = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-Z", "root", "-s", "0"]
    proc = subprocess.Popen(
        [*command, "-B", str(BUFFER_KIB), "-w", str(path), *bpf.split()],
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
    result = Capture(path)
    try:
        yield result
    finally:
        time.sleep(0.5)  # let the last packets reach the file
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=10)
        match = re.search(rb"(\d+) packets? dropped by kernel", err)
        if match:
            result.dropped = int(match.group(1))
