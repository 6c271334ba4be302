"""Configuration: defaults, validation errors naming file, line and key."""

from pathlib import Path

import pytest

from sensor.config import EgressConfig, dump_config, load_config
from sensor.errors import ConfigError


def test_defaults_without_file() -> None:
    config = load_config(None)
    assert config == EgressConfig()
    assert config.jurisdiction.home == "CN"
    assert config.geoip.database is None


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("sensor_id: dc1-span\nlimits:\n  max_flows: 5000\n")
    config = load_config(path)
    assert config.sensor_id == "dc1-span"
    assert config.limits.max_flows == 5000
    assert config.limits.max_object_bytes == EgressConfig().limits.max_object_bytes


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("sensor_id: a\nlimits:\n  max_flow: 5000\n")
    with pytest.raises(ConfigError, match=r"egress\.yaml:3: limits\.max_flow: unknown key"):
        load_config(path)


def test_bad_value_and_bad_network(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("limits:\n  max_flows: -1\n")
    with pytest.raises(ConfigError, match=r":2: limits\.max_flows: Input should be greater"):
        load_config(path)
    path.write_text("jurisdiction:\n  internal_networks: [10.0.0.0/8, not-a-net]\n")
    with pytest.raises(ConfigError, match="not an IP network"):
        load_config(path)


def test_not_yaml_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "egress.yaml"
    path.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_dump_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "effective.yaml"
    path.write_text(dump_config(EgressConfig(sensor_id="x")))
    assert load_config(path) == EgressConfig(sensor_id="x")
