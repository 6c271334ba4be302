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

from sensor import yamlfast
from sensor.errors import ConfigError
from sensor.outputs.settings import OutputsConfig

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
    domestic_networks: tuple[str, ...] = Field(
        (), description="public ranges that are at home whatever GeoIP says (domestic CDN, cloud)"
    )
    foreign_networks: dict[str, str] = Field(
        {}, description="network -> ISO country placed abroad even if private (foreign offices)"
    )
    unknown_destination_severity: Literal["info", "medium", "high"] = Field(
        "high", description="alert severity of an export to an address GeoIP cannot place"
    )

    @field_validator("internal_networks", "domestic_networks")
    @classmethod
    def _networks_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {text!r}") from None
        return value

    @field_validator("foreign_networks")
    @classmethod
    def _foreign_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for text, country in value.items():
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {text!r}") from None
            if len(country) != 2 or not country.isupper():
                raise ValueError(f"{text}: country must be an ISO code like US, not {country!r}")
        return value


class DetectionConfig(BaseModel):
    model_config = _STRICT
    identity_key_file: Path | None = Field(
        None,
        description="secret (>= 32 bytes) for person hashes, so the ledger counts across runs; "
        "env EGRESS_IDENTITY_KEY_FILE overrides; empty: a random key per run",
    )


class ComplianceConfig(BaseModel):
    model_config = _STRICT
    processors_file: Path | None = Field(
        None, description="YAML mapping internal networks to data processors (docs/compliance.md)"
    )
    policy_directories: tuple[Path, ...] = Field((), description="operator policy packs")
    warn_fraction: float = Field(
        0.8, gt=0.0, lt=1.0, description="threshold warning at this fraction of a threshold"
    )


class SignaturesConfig(BaseModel):
    model_config = _STRICT
    extra_directories: tuple[Path, ...] = Field((), description="operator signature packs")
    disabled: tuple[str, ...] = Field((), description="identifier ids to switch off")


class ExtractionConfig(BaseModel):
    """Bounds on unpacking one object (sensor/content/extract.py); hitting one flags the object."""

    model_config = _STRICT
    max_depth: int = Field(4, ge=0, le=32, description="archives opened inside archives")
    max_total_bytes: int = Field(
        256 << 20, ge=1024, description="expanded bytes per object over all its members"
    )
    max_ratio: int = Field(1000, ge=10, description="expanded/compressed bytes of one member")
    max_members: int = Field(10_000, ge=1, description="archive members read per object")
    max_seconds: float = Field(30.0, gt=0, description="wall time spent unpacking one object")
    max_pdf_pages: int = Field(2_000, ge=1, description="PDF pages read per document")


class FragmentsConfig(BaseModel):
    """IP fragment reassembly (sensor/decode/fragments.py); hitting a bound is an anomaly."""

    model_config = _STRICT
    reassemble: bool = Field(True, description="rebuild fragmented IP datagrams")
    timeout_seconds: float = Field(
        60.0, gt=0, description="capture time a datagram may wait for its missing pieces"
    )
    max_bytes: int = Field(
        32 << 20, ge=65_536, description="memory for all datagrams in progress; oldest dropped"
    )


class LimitsConfig(BaseModel):
    model_config = _STRICT
    max_flows: int = Field(100_000, ge=1, description="flows tracked at once; oldest evicted")
    max_buffered_bytes_per_direction: int = Field(
        4 << 20, ge=4096, description="out-of-order bytes held per direction before a gap"
    )
    max_object_bytes: int = Field(
        64 << 20, ge=1024, description="bytes of one object kept for inspection; rest counted"
    )
    stream_past_limit: bool = Field(
        True, description="scan the bytes past max_object_bytes as they arrive (stream mode)"
    )
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    fragments: FragmentsConfig = Field(default_factory=FragmentsConfig)


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


class EvidenceConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = Field(True, description="keep each alert's object and flow pcap in evidence/")
    key_file: Path | None = Field(
        None, description="32-byte key (raw or hex) to encrypt evidence at rest with AES-256-GCM"
    )
    max_bytes: int = Field(
        10 << 30, ge=0, description="evidence store size; oldest removed; 0 = no limit"
    )
    max_age_days: float = Field(
        1096, ge=0, description="evidence kept this long (sources ask for 3 years); 0 = no limit"
    )
    max_pcap_bytes_per_flow: int = Field(
        16 << 20, ge=4096, description="captured bytes kept in one flow's pcap; rest counted"
    )


class LoggingConfig(BaseModel):
    model_config = _STRICT
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    json_lines: bool = Field(False, description="log as JSON lines instead of text")


class LiveRingConfig(BaseModel):
    """The TPACKET_V3 ring of each capture socket (sensor/capture/afpacket.py)."""

    model_config = _STRICT
    block_size: int = Field(1 << 20, ge=4096, description="bytes per block, a power of two")
    block_count: int = Field(64, ge=1, description="blocks per socket; ring = size x count")
    block_timeout_ms: int = Field(100, ge=1, description="a partial block is handed over after")

    @field_validator("block_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two (4096, 65536, 1048576...), not {value}")
        return value


class LiveConfig(BaseModel):
    """``egress sensor``: live capture; command-line options override these (docs/live-sensor.md)."""

    model_config = _STRICT
    interfaces: tuple[str, ...] = Field((), description="interfaces to capture on (SPAN ports)")
    bpf: str = Field("", description="tcpdump filter expression; empty captures everything")
    workers: int = Field(1, ge=1, le=64, description="worker processes (PACKET_FANOUT hash)")
    promiscuous: bool = Field(True, description="put the interfaces in promiscuous mode")
    fanout_group: int = Field(4242, ge=0, le=65000, description="fan-out group id (+ iface no.)")
    ring: LiveRingConfig = Field(default_factory=LiveRingConfig)
    out_dir: Path = Field(Path("egress-sensor"), description="case folder for live outputs")
    metrics_address: str = Field("127.0.0.1", description="Prometheus and health endpoint bind")
    metrics_port: int = Field(9417, ge=0, le=65535, description="0 turns the endpoint off")
    stats_interval: float = Field(60.0, gt=0, description="seconds between one-line stats logs")


class EgressConfig(BaseModel):
    """The whole configuration. Every section may be omitted."""

    model_config = _STRICT
    sensor_id: str = Field("egress", min_length=1, max_length=64)
    geoip: GeoIPConfig = Field(default_factory=GeoIPConfig)
    jurisdiction: JurisdictionConfig = Field(default_factory=JurisdictionConfig)
    signatures: SignaturesConfig = Field(default_factory=SignaturesConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    compliance: ComplianceConfig = Field(default_factory=ComplianceConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    mail_ftp: MailFtpConfig = Field(default_factory=MailFtpConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)  # sinks: docs/outputs.md
    live: LiveConfig = Field(default_factory=LiveConfig)


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
        raw: Any = yamlfast.safe_load(text)
        root = yamlfast.compose(text)
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
