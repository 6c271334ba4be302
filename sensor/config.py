"""Configuration: one YAML file, validated, with embedded defaults.

Every key is declared once here with its type, default and meaning; ``egress config show`` prints
the effective configuration. Unknown keys are errors (a misspelt limit must not silently fall back
to its default), reported with the file, the line and the key path.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sensor.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", frozen=True)


class GeoIPConfig(BaseModel):
    model_config = _STRICT
    database: Path | None = Field(
        None, description="MMDB country database; empty means the bundled tor-geoipdb build"
    )


class JurisdictionConfig(BaseModel):
    model_config = _STRICT
    home: str = Field(
        "CN",
        pattern=r"^[A-Z]{2}$",
        description="ISO code of the home jurisdiction; HK, MO and TW are outside CN",
    )
    internal_networks: tuple[str, ...] = Field(
        (), description="extra networks treated as internal (private ranges always are)"
    )

    @field_validator("internal_networks")
    @classmethod
    def _networks_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {text!r}") from None
        return value


class SignaturesConfig(BaseModel):
    model_config = _STRICT
    extra_directories: tuple[Path, ...] = Field((), description="operator signature packs")
    disabled: tuple[str, ...] = Field((), description="identifier ids to switch off")


class LimitsConfig(BaseModel):
    model_config = _STRICT
    max_flows: int = Field(100_000, ge=1, description="flows tracked at once; oldest evicted")
    max_buffered_bytes_per_direction: int = Field(
        4 << 20, ge=4096, description="out-of-order bytes held per direction before a gap"
    )
    max_object_bytes: int = Field(
        64 << 20, ge=1024, description="bytes of one object kept for inspection; rest counted"
    )


class MailFtpConfig(BaseModel):
    """Bounds of the SMTP/MIME and FTP parsers (each counted as an anomaly when hit)."""

    model_config = _STRICT
    mime_max_depth: int = Field(10, ge=1, le=100, description="MIME nesting levels split")
    mime_max_parts: int = Field(500, ge=1, description="MIME leaves per mail; rest kept as one")
    mime_max_head_bytes: int = Field(256 << 10, ge=1024, description="one MIME header block")
    ftp_expect_seconds: float = Field(
        120.0, gt=0, description="capture seconds an announced FTP data port waits"
    )
    ftp_max_expectations: int = Field(10_000, ge=1, description="announced data ports kept")
    ftp_max_parked_flows: int = Field(
        1000, ge=0, description="unknown flows held in case an FTP announcement follows"
    )
    ftp_max_parked_bytes_per_flow: int = Field(4 << 20, ge=0, description="bytes held per flow")
    ftp_max_parked_bytes_total: int = Field(64 << 20, ge=0, description="bytes held in all")


class OutputConfig(BaseModel):
    model_config = _STRICT
    masked_samples_per_identifier: int = Field(3, ge=0, le=10)


class LoggingConfig(BaseModel):
    model_config = _STRICT
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    json_lines: bool = Field(False, description="log as JSON lines instead of text")


class EgressConfig(BaseModel):
    """The whole configuration. Every section may be omitted."""

    model_config = _STRICT
    sensor_id: str = Field("egress", min_length=1, max_length=64)
    geoip: GeoIPConfig = Field(default_factory=GeoIPConfig)
    jurisdiction: JurisdictionConfig = Field(default_factory=JurisdictionConfig)
    signatures: SignaturesConfig = Field(default_factory=SignaturesConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    mail_ftp: MailFtpConfig = Field(default_factory=MailFtpConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at ``loc``, or of its nearest existing parent."""
    node, line = root, None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == part:
                line = key.start_mark.line + 1
                node = value
                break
        else:
            break
    return line


def load_config(path: Path | None) -> EgressConfig:
    """Load ``path`` over the defaults; None gives the embedded defaults."""
    if path is None:
        return EgressConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    try:
        raw: Any = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping of sections")
    try:
        return EgressConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        key = ".".join(str(p) for p in loc)
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise ConfigError(f"{where}: {key}: {message}") from None


def dump_config(config: EgressConfig) -> str:
    """The effective configuration as YAML, as ``egress config show`` prints it."""
    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
