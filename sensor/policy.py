"""Cross-border decision: did an object leave the home jurisdiction?

An export is data moving from an internal or home-country endpoint to an endpoint the GeoIP database
places in another country. Hong Kong, Macao and Taiwan have their own ISO codes, so with the default
home ``CN`` they are outside the mainland, as the export rules treat them. An address the database
cannot place is ``unknown``: a possible export, flagged as such rather than assumed domestic.

Private, loopback, link-local, CGNAT, multicast and documentation ranges are internal, as are the
operator's ``jurisdiction.internal_networks``. Operator overrides come first: ``foreign_networks``
(a foreign office reached over a VPN, even on private addresses) are abroad in the given country,
``domestic_networks`` (a domestic CDN or cloud range GeoIP misplaces) are at home.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

INTERNAL_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918 private
        "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",  # loopback, link-local, CGNAT
        "224.0.0.0/4", "0.0.0.0/8", "255.255.255.255/32",  # multicast, this-network, broadcast
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # documentation (RFC 5737)
        "::1/128", "fe80::/10", "fc00::/7", "ff00::/8", "2001:db8::/32", "::/128",
    )
)  # fmt: skip


class CountryLookup(Protocol):
    def country(self, ip: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Place:
    """Where an address is, for policy purposes."""

    ip: str
    country: str | None  # ISO code from GeoIP, None if internal or unknown
    internal: bool

    @property
    def label(self) -> str:
        return "internal" if self.internal else (self.country or "unknown")


@dataclass(frozen=True, slots=True)
class BorderDecision:
    is_export: bool
    destination_unknown: bool
    reason: str


class Jurisdiction:
    """Places addresses and decides whether a transfer crosses the home border."""

    def __init__(
        self,
        geoip: CountryLookup,
        home: str = "CN",
        internal_networks: tuple[str, ...] = (),
        domestic_networks: tuple[str, ...] = (),
        foreign_networks: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self._geoip = geoip
        self._overrides = [
            (ipaddress.ip_network(n, strict=False), country)
            for n, country in (foreign_networks or {}).items()
        ] + [(ipaddress.ip_network(n, strict=False), home) for n in domestic_networks]
        self._internal = INTERNAL_RANGES + tuple(
            ipaddress.ip_network(n, strict=False) for n in internal_networks
        )
        self._cache: dict[str, Place] = {}

    def place(self, ip: str) -> Place:
        cached = self._cache.get(ip)
        if cached is not None:
            return cached
        address = ipaddress.ip_address(ip)
        override = next(
            (c for net, c in self._overrides if net.version == address.version and address in net),
            None,
        )
        if override is not None:
            result = Place(ip, override, False)
        elif any(address in net for net in self._internal if net.version == address.version):
            result = Place(ip, None, True)
        else:
            result = Place(ip, self._geoip.country(ip), False)
        self._cache[ip] = result
        return result

    def decide(self, src: Place, dst: Place) -> BorderDecision:
        """Export if the sender is at home and the receiver is not."""
        src_home = src.internal or src.country == self.home
        if not src_home:
            return BorderDecision(False, False, f"sender {src.ip} is in {src.label}, not at home")
        if dst.internal or dst.country == self.home:
            return BorderDecision(False, False, f"receiver {dst.ip} is in {dst.label} (domestic)")
        if dst.country is None:
            return BorderDecision(
                True, True, f"receiver {dst.ip} is not in the GeoIP database: possible export"
            )
        return BorderDecision(
            True, False, f"receiver {dst.ip} is in {dst.country}, outside {self.home}"
        )
