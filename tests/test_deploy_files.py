"""The files under deploy/ are accepted by the tools that will read them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sensor.cli import cli
from sensor.config import dump_config, load_config
from sensor.errors import ConfigError

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_example_configuration_is_accepted_by_config_show() -> None:
    example = DEPLOY / "egress.example.yaml"
    result = CliRunner().invoke(cli, ["--config", str(example), "config", "show"])
    assert result.exit_code == 0, result.output
    config = load_config(example)
    assert config.live.interfaces == ("span0",)
    assert config.live.metrics_address == "127.0.0.1"
    assert config.live.ring.block_size * config.live.ring.block_count == 64 << 20
    assert result.output == dump_config(config)


def test_ring_block_size_must_be_a_power_of_two(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("live:\n  ring:\n    block_size: 100000\n")
    with pytest.raises(
        ConfigError, match=r"egress\.yaml:3: live\.ring\.block_size: .*power of two"
    ):
        load_config(path)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    text = (DEPLOY / "egress-sensor.service").read_text()
    egress = Path(sys.executable).with_name("egress")
    unit = tmp_path / "egress-sensor.service"
    unit.write_text(text.replace("/opt/egress/.venv/bin/egress", str(egress)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN" in text.splitlines()


def test_daemonset_uses_host_network_and_only_the_two_capabilities() -> None:
    doc = yaml.safe_load((DEPLOY / "kubernetes" / "egress-sensor-daemonset.yaml").read_text())
    assert doc["kind"] == "DaemonSet"
    pod = doc["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    (sensor,) = pod["containers"]
    context = sensor["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
    assert load_config(DEPLOY / "egress.example.yaml").live.metrics_port == 9417
    assert "127.0.0.1:9417/healthz" in " ".join(sensor["livenessProbe"]["exec"]["command"])
