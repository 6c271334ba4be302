"""Data processors: the organisations the export rules oblige, found by their internal addresses.

A processors file maps internal networks or hosts to a processor profile: name, whether it operates
critical information infrastructure (CIIO), its free-trade-zone membership, industry, business
scenarios (``retail_membership`` for the Beijing FTZ negative list), the important-data categories
the authorities notified it of, and its declared exports. One address belongs to at most one
processor: overlapping networks are a configuration error naming both places.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sensor.compliance.declarations import Declaration
from sensor.compliance.yamlsource import YamlSource

_STRICT = ConfigDict(extra="forbid", frozen=True)
UNASSIGNED = "unassigned"  # the processor id of exports from addresses no profile covers

Zone = Literal["none", "jiangsu", "beijing", "tianjin", "shanghai_lingang", "other"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProcessorProfile(BaseModel):
    model_config = _STRICT
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1)
    ciio: bool = False
    ftz: Zone = "none"
    industry: str = ""
    scenarios: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    important_data_notified: tuple[str, ...] = Field(
        (), description="important-data codes the authorities notified (规定 第二条)"
    )
    declared_exports: tuple[Declaration, ...] | None = Field(
        None, description="filed exports; omit to skip the consistency checks"
    )

    @field_validator("networks")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network or address: {text!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_declarations(self) -> ProcessorProfile:
        ids = [d.id for d in self.declared_exports or ()]
        if len(ids) != len(set(ids)):
            raise ValueError("declaration ids must be unique within a processor")
        return self

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "ciio": self.ciio, "ftz": self.ftz}


def unassigned_profile() -> ProcessorProfile:
    return ProcessorProfile(id=UNASSIGNED, name="no processor configured for this address")


class ProcessorsFile(BaseModel):
    model_config = _STRICT
    format_version: Literal[1] = 1
    processors: tuple[ProcessorProfile, ...] = ()


@dataclass(frozen=True, slots=True)
class _Entry:
    network: Network
    processor: ProcessorProfile
    where: str


class ProcessorMap:
    """Longest-prefix lookup of an address to its processor (no overlaps, so any match is it)."""

    def __init__(self, profiles: tuple[ProcessorProfile, ...], entries: list[_Entry]) -> None:
        self.profiles = profiles
        self._entries = sorted(entries, key=lambda e: -e.network.prefixlen)
        self._cache: dict[str, ProcessorProfile | None] = {}

    def lookup(self, ip: str) -> ProcessorProfile | None:
        if ip in self._cache:
            return self._cache[ip]
        address = ipaddress.ip_address(ip)
        found = next(
            (
                e.processor
                for e in self._entries
                if e.network.version == address.version and address in e.network
            ),
            None,
        )
        self._cache[ip] = found
        return found


def load_processors(path: Path | None) -> ProcessorMap:
    """Read a processors file; rejects unknown fields, bad values and overlaps with file:line."""
    if path is None:
        return ProcessorMap((), [])
    source = YamlSource(path)
    parsed = source.validate(ProcessorsFile)
    entries: list[_Entry] = []
    seen_ids: dict[str, int] = {}
    for i, profile in enumerate(parsed.processors):
        if profile.id in seen_ids:
            raise source.error(("processors", i, "id"), f"duplicate processor id {profile.id!r}")
        seen_ids[profile.id] = i
        for j, text in enumerate(profile.networks):
            network = ipaddress.ip_network(text, strict=False)
            where = source.where(("processors", i, "networks", j))
            for other in entries:
                if other.network.version == network.version and other.network.overlaps(network):
                    raise source.error(
                        ("processors", i, "networks", j),
                        f"{network} overlaps {other.network} of processor "
                        f"{other.processor.id!r} ({other.where}); an address must belong to one "
                        "processor",
                    )
            entries.append(_Entry(network, profile, where))
    return ProcessorMap(parsed.processors, entries)
