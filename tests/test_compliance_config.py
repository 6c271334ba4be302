"""Bad compliance configuration is rejected with the file and the line; good one loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.compliance.identity import ENV_VAR, load_identity_key, write_identity_key
from sensor.compliance.packs import builtin_directory, load_packs
from sensor.compliance.processors import load_processors
from sensor.errors import ConfigError
from tests.cli import run_egress

GOOD = """\
format_version: 1
processors:
  - id: acme-sz
    name: ACME Suzhou
    ftz: jiangsu
    networks: [10.20.30.0/24, 10.20.31.5]
    declared_exports:
      - id: crm
        recipient: {domain: example-us.com}
        categories: [personal, sensitive]
        max_individuals: 1000
        legal_path: standard_contract_or_certification
        filing: SC-2023-001
        valid_from: 2023-01-01
        valid_until: 2023-12-31
  - id: bj-shop
    name: Beijing Shop
    ftz: beijing
    scenarios: [retail_membership]
    networks: [10.40.0.0/16]
"""


def _write(tmp_path: Path, text: str, name: str = "processors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_processors_file_maps_addresses(tmp_path: Path) -> None:
    processors = load_processors(_write(tmp_path, GOOD))
    found = processors.lookup("10.20.30.7")
    assert found is not None and found.id == "acme-sz"
    assert processors.lookup("10.20.31.5") is found
    other = processors.lookup("10.40.200.1")
    assert other is not None and other.id == "bj-shop"
    assert processors.lookup("10.20.31.6") is None


def test_overlapping_subnets_name_file_line_and_other_processor(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("networks: [10.40.0.0/16]", "networks: [10.20.0.0/16]"))
    with pytest.raises(ConfigError) as err:
        load_processors(path)
    message = str(err.value)
    assert f"{path}:20:" in message  # the line of the second processor's networks
    assert "overlaps 10.20.30.0/24" in message and "acme-sz" in message and f"{path}:6" in message


def test_unknown_processor_field_is_rejected_with_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    ftz: beijing\n", "    ftz: beijing\n    cio: true\n"))
    with pytest.raises(ConfigError, match=rf"{path}:19: processors\.1\.cio: unknown field"):
        load_processors(path)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("valid_until: 2023-12-31", "valid_until: 2022-12-31", 8, "valid_until is before"),
        ("        filing: SC-2023-001\n", "", 8, "needs filing"),
        ("legal_path: standard_contract_or_certification", "legal_path: prohibited", 8, "not a"),
        ("{domain: example-us.com}", "{domain: a.com, country: US}", 9, "exactly one"),
        ("valid_from: 2023-01-01", "valid_from: 2023-13-01", 14, "date"),
        ("categories: [personal, sensitive]", "categories: [personal, secret]", 10, "unknown"),
    ],
)
def test_malformed_declarations_are_rejected_with_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_processors(path)
    assert str(err.value).startswith(f"{path}:{line}: "), err.value
    assert words in str(err.value)


def test_policy_pack_with_unknown_field_is_rejected_with_line(tmp_path: Path) -> None:
    text = (builtin_directory() / "national.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "id: sa_personal_1m" in line)
    lines.insert(at + 2, "    severity: high")
    _write(tmp_path, "\n".join(lines) + "\n", "national.yaml")
    with pytest.raises(ConfigError) as err:
        load_packs((tmp_path,))
    assert f"national.yaml:{at + 3}: rules." in str(err.value)
    assert "severity: unknown field" in str(err.value)


def test_policy_pack_with_bad_reason_field_is_rejected(tmp_path: Path) -> None:
    text = (builtin_directory() / "beijing_ftz_retail.yaml").read_text(encoding="utf-8")
    _write(tmp_path, text.replace("{personal} members'", "{members} members'", 1), "bj.yaml")
    with pytest.raises(ConfigError, match=r"bj\.yaml:.*unknown field 'members'"):
        load_packs((tmp_path,))


def test_identity_key_file_env_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "key"
    write_identity_key(key)
    assert key.stat().st_mode & 0o777 == 0o600
    secret = load_identity_key(key)
    assert secret is not None and len(secret) == 32
    with pytest.raises(ConfigError, match="exists"):
        write_identity_key(key)
    short = _write(tmp_path, "abcd", "short")
    with pytest.raises(ConfigError, match="needs at least 32"):
        load_identity_key(short)
    monkeypatch.setenv(ENV_VAR, str(key))
    assert load_identity_key(None) == secret
    assert load_identity_key(short) == secret  # the environment wins
    monkeypatch.delenv(ENV_VAR)
    assert load_identity_key(None) is None


def test_keygen_command_writes_a_usable_key_once(tmp_path: Path) -> None:
    key = tmp_path / "identity.key"
    made = run_egress("ledger", "keygen", key)
    assert made.returncode == 0 and "detection.identity_key_file" in made.stdout
    assert load_identity_key(key) is not None
    again = run_egress("ledger", "keygen", key)
    assert again.returncode == 2 and "exists" in again.stderr


def test_audit_refuses_bad_processors_file_with_one_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, GOOD.replace("networks: [10.40.0.0/16]", "networks: [10.20.30.128/25]"))
    config = _write(tmp_path, f"compliance:\n  processors_file: {bad}\n", "egress.yaml")
    result = run_egress("--config", config, "audit", "--out", tmp_path / "case")
    assert result.returncode == 2
    assert f"{bad}:20:" in result.stderr and "Traceback" not in result.stderr
