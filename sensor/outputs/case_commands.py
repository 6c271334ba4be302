"""Commands for the case folder: ``verify-log``, ``report`` and ``evidence keygen|open``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from sensor.outputs.auditlog import verify_log
from sensor.outputs.evidence import load_key, read_evidence_file, write_new_key
from sensor.outputs.report import write_report


@click.command("verify-log")
@click.argument("log_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-open", is_flag=True, help="Accept a log without its seal (still written).")
@click.option("--expect-head", metavar="SHA256", help="Head hash kept elsewhere to check against.")
def verify_log_command(log_file: Path, allow_open: bool, expect_head: str | None) -> None:
    """Check the hash chain of an audit log; exit 1 at the first bad entry, 0 if intact."""
    verdict = verify_log(log_file, allow_open=allow_open, expect_head=expect_head)
    if verdict.ok:
        state = "sealed" if verdict.sealed else "open"
        click.echo(
            f"OK {log_file}: {verdict.entries} entries, {verdict.alerts} alerts, {state}, "
            f"head {verdict.head}"
        )
        return
    click.echo(
        f"FAILED {log_file}: {verdict.problem} ({verdict.entries} entries verified before it)",
        err=True,
    )
    sys.exit(1)


@click.command("report")
@click.argument("case", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(case: Path) -> None:
    """Render CASE/report.html again from the case folder's summary.json and alerts.jsonl."""
    if not (case / "summary.json").exists():
        raise click.ClickException(f"{case}: no summary.json; is this an egress audit folder?")
    click.echo(write_report(case))


@click.group("evidence")
def evidence_group() -> None:
    """Keys for, and access to, the encrypted evidence store."""


@evidence_group.command("keygen")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(key_file: Path) -> None:
    """Write a new random AES-256 key (hex, mode 0600) for evidence.key_file."""
    write_new_key(key_file)
    click.echo(f"wrote {key_file}; set evidence.key_file to it and keep a copy somewhere safe")


@evidence_group.command("open")
@click.argument("evidence_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The evidence.key_file the audit used (needed for .aesgcm files).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the plaintext (mode 0600).",
)
def open_evidence(evidence_file: Path, key_file: Path | None, out: Path) -> None:
    """Decrypt (if needed) and check one evidence file against its sha256; write it to OUT."""
    data = read_evidence_file(evidence_file, load_key(key_file) if key_file else None)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when OUT already existed with a laxer mode
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    click.echo(f"wrote {out} ({len(data)} bytes)")
