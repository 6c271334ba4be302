"""The ``egress audit`` progress bar: bytes of input read, throughput and time left.

Shown only on a terminal and without ``--quiet`` (a log file or a pipe gets no control codes).
The total is the inputs' size on disk. A compressed input is counted by its decompressed bytes
while it is read, capped at its size on disk, and by its size on disk once finished, so the bar
never runs past the end; its throughput then reads high while that file is being read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sensor.capture.source import STDIN


def _size(path: Path) -> int:
    try:
        return 0 if path == STDIN else path.stat().st_size
    except OSError:
        return 0


class AuditProgress:
    """Context manager; pass ``update`` to ``Audit(on_progress=...)``."""

    def __init__(self, console: Console, inputs: Sequence[Path], enabled: bool) -> None:
        self.enabled = enabled and console.is_terminal
        self._total = sum(_size(path) for path in inputs)
        self._finished = 0  # bytes of the inputs already done
        self._current: tuple[Path, int, int] | None = None  # path, size, bytes read
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> AuditProgress:
        if self.enabled:
            self._progress.start()
            total = self._total or None
            self._task = self._progress.add_task("auditing", total=total)
        return self

    def update(self, path: Path, bytes_read: int) -> None:
        if self._task is None:
            return
        current = self._current
        if current is None or current[0] != path or bytes_read < current[2]:
            if current is not None:  # the previous input is finished
                self._finished += self._done(current)
            current = (path, _size(path), 0)
        self._current = current = (current[0], current[1], bytes_read)
        self._progress.update(
            self._task,
            completed=self._finished + self._done(current),
            description=f"auditing {path.name}",
        )

    @staticmethod
    def _done(current: tuple[Path, int, int]) -> int:
        _, size, bytes_read = current
        return min(bytes_read, size) if size else bytes_read

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._progress.stop()
