"""Live capture end to end: tcpreplay into one end of a veth pair, AF_PACKET on the other.

Each test creates two network namespaces of its own with a veth pair whose ends live only inside
them (no addresses, IPv6 off, so nothing is routed or autoconfigured), replays captures with
``ip netns exec SEND tcpreplay`` and captures with ``ip netns exec CAP python -m ...``; the
namespaces are deleted afterwards. Needs root, ``ip netns``, tcpreplay and tcpdump.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sensor.anomalies import AnomalyCounter
from sensor.audit import Audit, bundled_sample
from sensor.capture import open_capture
from sensor.capture.afpacket import CaptureSetupError
from sensor.config import EgressConfig
from sensor.live.supervisor import preflight

SAMPLE = bundled_sample()
PYTHON = sys.executable


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "live capture tests need root (network namespaces and AF_PACKET)"
    for tool in ("ip", "tcpreplay", "tcpdump"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash deploy/install.sh --test)"
    probe = f"egp-{uuid.uuid4().hex[:8]}"
    if _sh("ip", "netns", "add", probe, check=False).returncode != 0:
        return "ip netns is unavailable here (no permission to create network namespaces)"
    _sh("ip", "netns", "del", probe, check=False)
    return None


_REASON = _why_not()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


@dataclass(frozen=True)
class Veth:
    send_ns: str
    cap_ns: str
    send_if: str
    cap_if: str

    def replay(self, pcap: Path, *options: str) -> None:
        _sh(
            "ip",
            "netns",
            "exec",
            self.send_ns,
            "tcpreplay",
            "-q",
            *options,
            "-i",
            self.send_if,
            str(pcap),
        )

    def in_cap(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.cap_ns, *cmd]


@pytest.fixture
def veth() -> Iterator[Veth]:
    tag = uuid.uuid4().hex[:8]
    pair = Veth(f"egs-{tag}", f"egc-{tag}", f"egs{tag}", f"egc{tag}")
    made: list[str] = []
    try:
        for ns in (pair.send_ns, pair.cap_ns):
            _sh("ip", "netns", "add", ns)
            made.append(ns)
            for key in ("all", "default"):
                _sh(
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    f"net.ipv6.conf.{key}.disable_ipv6=1",
                )
        # created inside the sender namespace with its peer placed straight into the capture one
        _sh("ip", "-n", pair.send_ns, "link", "add", pair.send_if, "type", "veth", "peer", "name", pair.cap_if, "netns", pair.cap_ns)  # fmt: skip
        _sh("ip", "-n", pair.send_ns, "link", "set", pair.send_if, "up")
        _sh("ip", "-n", pair.cap_ns, "link", "set", pair.cap_if, "up")
        _sh("ip", "-n", pair.cap_ns, "link", "set", "lo", "up")  # the metrics endpoint's loopback
        yield pair
    finally:
        for ns in made:
            _sh("ip", "netns", "del", ns, check=False)


# running unprivileged: only these two capabilities, as the systemd unit grants
NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
ONLY_TWO_CAPS = ("--inh-caps=-all,+net_raw,+net_admin", "--ambient-caps=-all,+net_raw,+net_admin")


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder the unprivileged user may write (pytest's tmp_path is private to root)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    path = Path(tempfile.mkdtemp(prefix="egress-live-"))
    shutil.chown(path, "nobody")
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _records(pcap: Path) -> list[bytes]:
    reader = open_capture(pcap, AnomalyCounter())
    try:
        return [r.data for r in reader]
    finally:
        reader.close()


def _probe(veth: Veth, pcap: Path, *args: str, replay: tuple[str, ...] = ()) -> dict[str, Any]:
    cmd = veth.in_cap(PYTHON, "-m", "sensor.live.probe", "-i", veth.cap_if, "--frames", *args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().strip() == "ready", proc.stderr.read()
    veth.replay(pcap, "--topspeed", *replay)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# (a) ------------------------------------------------------------------------------------------


def test_counts_and_bytes_equal_the_replayed_capture(veth: Veth) -> None:
    frames = _records(SAMPLE)
    got = _probe(veth, SAMPLE, "--count", str(len(frames)), "--idle", "2")
    assert got["packets"] == len(frames)
    assert got["bytes"] == sum(len(f) for f in frames)
    assert [f["sha256"] for f in got["frames"]] == [_sha(f) for f in frames]
    assert got["kernel"] == {"packets": len(frames), "drops": 0, "freezes": 0}


def test_several_interfaces_in_one_capture(veth: Veth) -> None:
    second = Veth(veth.send_ns, veth.cap_ns, veth.send_if + "b", veth.cap_if + "b")
    _sh("ip", "-n", second.send_ns, "link", "add", second.send_if, "type", "veth", "peer", "name", second.cap_if, "netns", second.cap_ns)  # fmt: skip
    _sh("ip", "-n", second.send_ns, "link", "set", second.send_if, "up")
    _sh("ip", "-n", second.cap_ns, "link", "set", second.cap_if, "up")
    frames = _records(SAMPLE)
    cmd = veth.in_cap(PYTHON, "-m", "sensor.live.probe", "-i", veth.cap_if, "-i", second.cap_if)
    cmd += ["--count", str(2 * len(frames)), "--idle", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None and proc.stderr.readline().strip() == "ready"
    veth.replay(SAMPLE, "--topspeed")
    second.replay(SAMPLE, "--topspeed")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    got = json.loads(out)
    assert got["packets"] == 2 * len(frames)
    assert got["bytes"] == 2 * sum(len(f) for f in frames)
    assert got["kernel"] == {"packets": 2 * len(frames), "drops": 0, "freezes": 0}


# (b) ------------------------------------------------------------------------------------------


def _tagged_copy(src: Path, dst: Path) -> list[bytes]:
    """The capture with every frame in VLAN 42 and every second frame also in 802.1ad 7 (QinQ)."""
    from scapy.all import Dot1AD, Dot1Q, Ether, rdpcap, wrpcap

    out = []
    for n, packet in enumerate(rdpcap(str(src))):
        eth = packet[Ether]
        inner = Dot1Q(vlan=42) / eth.payload
        frame = Ether(src=eth.src, dst=eth.dst) / (Dot1AD(vlan=7) / inner if n % 2 else inner)
        frame.time = packet.time
        out.append(frame)
    wrpcap(str(dst), out)
    return _records(dst)


def test_vlan_tags_the_kernel_strips_come_back(veth: Veth, tmp_path: Path) -> None:
    frames = _tagged_copy(SAMPLE, tmp_path / "vlan.pcap")
    got = _probe(veth, tmp_path / "vlan.pcap", "--count", str(len(frames)), "--idle", "2")
    # byte-identical to what was sent: the outer tag (stripped into tp_vlan_tci) is reinserted
    # with its own TPID (0x88a8 for the QinQ frames), the inner one was never removed
    assert [f["sha256"] for f in got["frames"]] == [_sha(f) for f in frames]
    assert {f["vlan"] for f in got["frames"]} == {42, 7}
    # the batch columns hold the frame as the kernel delivered it and the tag it had stripped
    assert [f["stripped_tpid"] for f in got["frames"]] == [
        0x88A8 if n % 2 else 0x8100 for n in range(len(frames))
    ]
    assert [f["kernel_caplen"] + 4 for f in got["frames"]] == [len(f) for f in frames]
    assert [f["wire_length"] for f in got["frames"]] == [len(f) for f in frames]
    assert got["bytes"] == sum(len(f) for f in frames)


# (c) ------------------------------------------------------------------------------------------


def test_bpf_filter_keeps_only_what_tcpdump_selects(veth: Veth) -> None:
    expression = "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0"
    listed = _sh("tcpdump", "-nr", str(SAMPLE), expression).stdout.splitlines()
    assert 0 < len(listed) < len(_records(SAMPLE))
    got = _probe(veth, SAMPLE, "--bpf", expression, "--idle", "2", "--max-seconds", "8")
    assert got["packets"] == len(listed)
    assert got["kernel"]["packets"] == len(listed)  # filtered in the kernel, before the ring


def test_setup_problems_are_clear_errors(veth: Veth) -> None:
    with pytest.raises(CaptureSetupError, match="no network interface named 'nosuch0'"):
        preflight(("nosuch0",), "")
    with pytest.raises(CaptureSetupError, match="BPF filter 'tcp port' does not compile"):
        preflight(("lo",), "tcp port")  # lo: any existing name; nothing is captured
    # as a user without capabilities: one line on stderr, exit code 2
    cmd = veth.in_cap(*NOBODY, PYTHON, "-m", "sensor.cli", "sensor", "-i", veth.cap_if)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "needs root or the CAP_NET_RAW capability" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# the sensor ----------------------------------------------------------------------------------


class Sensor:
    """``egress sensor`` running in the capture namespace, stderr in a file."""

    def __init__(
        self,
        veth: Veth,
        out: Path,
        *args: str,
        config: Path | None = None,
        as_user: tuple[str, ...] = (),
    ) -> None:
        self.out = out
        self.err_path = out.parent / f"{out.name}.stderr"
        head = ["--config", str(config)] if config else []
        cmd = veth.in_cap(*as_user, PYTHON, "-m", "sensor.cli", *head, "sensor", "-i", veth.cap_if)
        cmd += ["--out", str(out), "--stats-interval", "0.3", *args]
        with self.err_path.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        self.wait_for(lambda text: "egress sensor: capturing on" in text)

    @property
    def log(self) -> str:
        return self.err_path.read_text()

    def wait_for(self, ready: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log
            if ready(text):
                return text
            assert self.proc.poll() is None, f"sensor exited: {text}"
            time.sleep(0.1)
        raise AssertionError(f"timed out; sensor log:\n{self.log}")

    def stats(self) -> dict[str, int]:
        lines = [ln for ln in self.log.splitlines() if "egress sensor: stats " in ln]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}

    def wait_stats(self, key: str, value: int) -> None:
        deadline = time.monotonic() + 30
        while self.stats().get(key) != value:
            assert time.monotonic() < deadline, f"{key} never reached {value}: {self.log}"
            assert self.proc.poll() is None, self.log
            time.sleep(0.1)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# Fields that legitimately differ between a live run and the offline audit of the same capture:
# the capture time (the replay happens now) and so the ledger year taken from it, the input's
# name, the alert id built from both, and the flow's evidence pcap (an audit reads its file again
# for it; live traffic cannot be re-read). With several workers also the flow ids (numbered per
# worker) and the ledger's running counts (one ledger per worker: docs/live-sensor.md).
LIVE_VARIANT_FIELDS = ("alert_id", "@timestamp")


def _comparable(alert: dict[str, Any], several_workers: bool = False) -> str:
    alert = json.loads(json.dumps(alert))  # a deep copy to trim
    for key in LIVE_VARIANT_FIELDS:
        alert.pop(key)
    alert["observer"].pop("input")
    alert.get("evidence", {}).pop("pcap", None)
    ledger = alert.get("egress", {}).get("policy", {}).get("ledger")
    if ledger is not None:
        ledger.pop("year")
        # the sensor's workers share one ledger and so one person key (OUT/identity.key when
        # none is configured): its counts are not per run, the audit's default ones are
        ledger.pop("per_run")
    if several_workers:
        alert["flow"].pop("id")
        if ledger is not None:
            alert["egress"]["policy"].pop("ledger")
    return json.dumps(alert, sort_keys=True)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """``egress audit`` of the sample (the class the command runs, in this process)."""
    out = tmp_path_factory.mktemp("audit")
    Audit(EgressConfig(), out).run([SAMPLE])
    alerts = _jsonl(out / "alerts.jsonl")
    assert alerts
    return alerts


# (d) + (f) SIGTERM -----------------------------------------------------------------------------


def _metrics(veth: Veth, port: int, path: str) -> tuple[int, str]:
    code = (
        "import sys,urllib.request,urllib.error\n"
        f"try: r=urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=10)\n"
        "except urllib.error.HTTPError as e: r=e\n"
        "print(r.status); print(r.read().decode())"
    )
    out = _sh(*veth.in_cap(PYTHON, "-c", code)).stdout
    status, _, body = out.partition("\n")
    return int(status), body


def test_unprivileged_sensor_alerts_equal_audit_and_sigterm_flushes(
    veth: Veth, nobody_dir: Path, audited: list[dict[str, Any]]
) -> None:
    out = nobody_dir / "live"
    as_nobody = (*NOBODY, *ONLY_TWO_CAPS)
    sensor = Sensor(veth, out, "--metrics-port", "19417", as_user=as_nobody)
    try:
        veth.replay(SAMPLE, "--topspeed")
        sensor.wait_stats("packets", len(_records(SAMPLE)))
        status, body = _metrics(veth, 19417, "/metrics")
        assert status == 200
        assert f'egress_packets_total{{worker="0"}} {len(_records(SAMPLE))}.0' in body
        assert 'egress_kernel_drops_total{worker="0"} 0.0' in body
        status, body = _metrics(veth, 19417, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert sensor.stop() == 0
    finally:
        sensor.kill()
    assert "egress sensor: stopped;" in sensor.log
    live = _jsonl(out / "alerts.jsonl")
    assert sorted(map(_comparable, live)) == sorted(map(_comparable, audited))
    assert _jsonl(out / "worker-0" / "alerts.jsonl") == live
    assert all(a["observer"]["input"] == f"live:{veth.cap_if}" for a in live)
    assert all(a["evidence"]["pcap"] is None for a in live)
    assert all(a["evidence"]["pcap"] is not None for a in audited)
    assert out.stat().st_uid != 0 and (out / "worker-0" / "flows.jsonl").stat().st_uid != 0
    # SIGTERM flushed the flows still open: every connection has its record
    summary = json.loads((out / "sensor-summary.json").read_text())
    assert summary["totals"]["active_flows"] == 0
    flows = _jsonl(out / "worker-0" / "flows.jsonl")
    assert len(flows) == json.loads((out / "worker-0" / "summary.json").read_text())["counts"]["flows"] > 0  # fmt: skip


# (f) SIGHUP with a broken pack, two workers -----------------------------------------------------


def test_sighup_refuses_a_broken_pack_and_applies_a_good_reload(
    veth: Veth, tmp_path: Path, audited: list[dict[str, Any]]
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    config = tmp_path / "egress.yaml"
    records = tmp_path / "records"  # the outputs section's sink, written by the supervisor alone
    outputs = f"outputs:\n  jsonl: {{enabled: true, directory: {records}}}\n"
    config.write_text(f"signatures:\n  extra_directories: [{pack}]\n{outputs}")
    out = tmp_path / "live"
    frames = len(_records(SAMPLE))
    sensor = Sensor(veth, out, "--workers", "2", "--metrics-port", "0", config=config)
    try:
        (pack / "broken.yaml").write_text("id: [this is not\n  a signature\n")
        sensor.proc.send_signal(signal.SIGHUP)
        sensor.wait_for(lambda text: text.count("reload refused") == 2)
        veth.replay(SAMPLE, "--topspeed")
        sensor.wait_stats("packets", frames)
        first = sensor.stats()
        # a good reload takes effect: switch off every identifier the sample's alerts found
        found = sorted({f["identifier"] for a in audited for f in a["findings"]})
        (pack / "broken.yaml").unlink()
        config.write_text(
            f"signatures:\n  extra_directories: [{pack}]\n  disabled: {found}\n{outputs}"
        )
        sensor.proc.send_signal(signal.SIGHUP)
        sensor.wait_for(lambda text: text.count("reloaded,") == 2)
        veth.replay(SAMPLE, "--topspeed")
        sensor.wait_stats("packets", 2 * frames)
        assert sensor.stop() == 0
    finally:
        sensor.kill()
    live = _jsonl(out / "alerts.jsonl")
    # the rules from before the refused reload still produced every alert of the offline audit,
    # and fan-out hashed each connection whole onto one worker
    assert sorted(_comparable(a, several_workers=True) for a in live) == sorted(
        _comparable(a, several_workers=True) for a in audited
    )
    per_worker = [_jsonl(out / f"worker-{n}" / "alerts.jsonl") for n in (0, 1)]
    assert sum(map(len, per_worker)) == len(live)
    summary = json.loads((out / "sensor-summary.json").read_text())
    workers = summary["workers"].values()
    assert [w["reloads_refused"] for w in workers] == [1, 1]
    before = int(re.search(r"; (\d+) identifiers;", sensor.log).group(1))  # type: ignore[union-attr]
    assert {w["identifiers"] for w in workers} == {before - len(found)}
    # the second replay went through the pipeline (its objects were inspected) without alerts
    assert summary["totals"]["objects"] == 2 * first["objects"]
    # the configured outputs got every worker's alerts and flows through the single writer
    flows = [_jsonl(out / f"worker-{n}" / "flows.jsonl") for n in (0, 1)]
    assert sorted(map(_comparable, _jsonl(records / "alerts.jsonl"))) == sorted(
        map(_comparable, live)
    )
    assert len(_jsonl(records / "flows.jsonl")) == sum(map(len, flows)) > 0


def test_a_dead_worker_stops_the_sensor_with_exit_1_after_flushing_the_others(
    veth: Veth, tmp_path: Path
) -> None:
    out = tmp_path / "live"
    sensor = Sensor(veth, out, "--workers", "2", "--metrics-port", "19418")
    try:
        assert _metrics(veth, 19418, "/healthz")[0] == 200
        workers = [int(pid) for pid in _sh("pgrep", "-P", str(sensor.proc.pid)).stdout.split()]
        assert len(workers) == 2
        os.kill(workers[-1], signal.SIGKILL)
        assert sensor.proc.wait(timeout=60) == 1
    finally:
        sensor.kill()
    assert "died (exit code -9)" in sensor.log
    summaries = [out / f"worker-{n}" / "summary.json" for n in (0, 1)]
    assert sum(p.exists() for p in summaries) == 1  # the survivor flushed and summarised


# (e) overload ----------------------------------------------------------------------------------


def test_overload_drops_are_counted_not_hidden(veth: Veth, tmp_path: Path) -> None:
    out = tmp_path / "live"
    loops = 100
    sent = loops * len(_records(SAMPLE))
    sensor = Sensor(
        veth, out, "--ring-block-size", "4096", "--ring-blocks", "2", "--block-timeout-ms", "1",
        "--metrics-port", "0",
    )  # fmt: skip
    try:
        veth.replay(SAMPLE, "--topspeed", f"--loop={loops}")
        sensor.wait_stats("kernel_packets", sent)
        assert sensor.stop() == 0
    finally:
        sensor.kill()
    totals = json.loads((out / "sensor-summary.json").read_text())["totals"]
    assert totals["kernel_drops"] > 0
    # exact accounting: every frame that reached the socket was either processed or counted
    assert totals["packets"] + totals["kernel_drops"] == totals["kernel_packets"] == sent
    assert f"kernel_drops={totals['kernel_drops']}" in sensor.log
