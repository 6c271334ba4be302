"""``egress geoip``: look addresses up, show which database is in use, rebuild the bundled one.

GeoIPError is left to propagate: the ``egress`` entry point prints it as one line and exits 2.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from geoip.builder import DEBIAN_GEOIP4, DEBIAN_GEOIP6, build_from_tor
from geoip.reader import CountryDatabase, bundled_path
from geoip.sources import build_from_files

_DB_OPTION = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="MMDB file (.mmdb or .mmdb.xz); default: the bundled database.",
)


@click.group("geoip")
def geoip_group() -> None:
    """Country database: look up addresses, show its source, rebuild it."""


@geoip_group.command("lookup")
@click.argument("ips", nargs=-1, required=True, metavar="IP...")
@_DB_OPTION
def lookup(ips: tuple[str, ...], db: Path | None) -> None:
    """Print "IP  CC" per address; "--" when the database cannot place it."""
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise click.BadParameter(
                f"{ip!r} is not an IPv4 or IPv6 address", param_hint="IP"
            ) from None
    with CountryDatabase.open(db) as database:
        for ip in ips:
            click.echo(f"{ip}  {database.country(ip) or '--'}")


@geoip_group.command("info")
@_DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def info(db: Path | None, as_json: bool) -> None:
    """Print the database's metadata: type, source and licence, build date, size."""
    with CountryDatabase.open(db) as database:
        meta = database.info()
    if as_json:
        click.echo(json.dumps(meta, indent=2, sort_keys=True))
        return
    built = datetime.fromtimestamp(meta["build_epoch"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(f"path:          {meta['path']}{' (bundled)' if meta['bundled'] else ''}")
    click.echo(f"database_type: {meta['database_type']}")
    for language, text in sorted(meta["description"].items()):
        click.echo(f"description:   [{language}] {text}")
    click.echo(f"build_epoch:   {meta['build_epoch']} ({built})")
    click.echo(f"node_count:    {meta['node_count']}")
    click.echo(f"ip_version:    {meta['ip_version']}")
    click.echo(f"record_size:   {meta['record_size']}")


@geoip_group.command("build")
@click.option(
    "--geoip4",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEBIAN_GEOIP4,
    show_default=True,
    help="tor's IPv4 geoip file (INTLOW,INTHIGH,CC).",
)
@click.option(
    "--geoip6",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEBIAN_GEOIP6,
    show_default=True,
    help="tor's IPv6 geoip file (IPV6LOW,IPV6HIGH,CC).",
)
@click.option(
    "--rir",
    "rir_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Build from RIR delegated statistics instead (repeat for all five registries).",
)
@click.option(
    "--dbip",
    "dbip_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Build from a DB-IP Lite country CSV instead (CC BY 4.0).",
)
@click.option(
    "--ip2location",
    "ip2location_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Build from IP2Location LITE DB1 CSVs instead (IPv4 and/or the IPV6 edition).",
)
@click.option(
    "--source-date", help="Date of the data for the metadata (the CSVs carry none), e.g. 2026-11."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output MMDB; .xz is compressed. Default: the bundled geoip/data/country.mmdb.xz.",
)
def build(
    geoip4: Path,
    geoip6: Path,
    rir_files: tuple[Path, ...],
    dbip_file: Path | None,
    ip2location_files: tuple[Path, ...],
    source_date: str | None,
    out: Path | None,
) -> None:
    """Rebuild the country database: from tor-geoipdb by default (a few minutes; needs
    egress[geoip-build]), or from RIR statistics, DB-IP Lite or IP2Location LITE files."""
    target = out or bundled_path()
    chosen = sum(bool(x) for x in (rir_files, dbip_file, ip2location_files))
    if chosen > 1:
        raise click.UsageError("choose one source: --rir, --dbip or --ip2location")
    if chosen:
        click.echo(f"building {target} ...", err=True)
        report = build_from_files(rir_files, dbip_file, ip2location_files, target, source_date)
    else:
        click.echo(f"building {target} from {geoip4} and {geoip6} ...", err=True)
        report = build_from_tor(geoip4, geoip6, target)
    click.echo(f"wrote {report.out} ({report.size_bytes} bytes) in {report.seconds:.0f} s")
    click.echo(
        f"ranges: {report.ranges4} IPv4 + {report.ranges6} IPv6 ({report.skipped} unplaced '??')"
    )
    click.echo(f"CIDRs: {report.cidrs}, countries: {report.countries}")
    click.echo(f"description: {report.description}")
