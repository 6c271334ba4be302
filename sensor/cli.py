"""The ``egress`` command line.

Exit codes: 0 the command finished (an audit may still have counted anomalies: see its summary),
2 a usage, input or configuration problem the user can fix (one line on stderr, no traceback),
1 an internal error (a bug: please report it with the traceback shown under ``--debug``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from detectors.cli import scan_command, signatures_group
from geoip.cli import geoip_group
from geoip.reader import GeoIPError
from sensor import __version__
from sensor.audit import Audit, bundled_sample, case_files
from sensor.bench_cli import bench_command
from sensor.capture import expand_inputs
from sensor.compliance.cli import register as register_compliance
from sensor.config import EgressConfig, dump_config, load_config
from sensor.errors import EgressError
from sensor.live.cli import sensor_command
from sensor.logs import setup_logging
from sensor.memory_settings import tune_for_pipeline
from sensor.outputs.case_commands import evidence_group, report_command, verify_log_command
from sensor.outputs.commands import alerts_group
from sensor.outputs.console import render_alert, render_summary
from sensor.outputs.progress import AuditProgress
from sensor.outputs.sinks import build_sinks, close_sinks


class _Context:
    def __init__(self, config: EgressConfig) -> None:
        self.config = config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egress")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="EGRESS_CONFIG",
    help="YAML configuration file (default: embedded defaults; see `egress config show`).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Override logging.level.",
)
@click.option("--log-json", is_flag=True, default=None, help="Log JSON lines to stderr.")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path | None,
    log_level: str | None,
    log_json: bool | None,
    debug: bool,
) -> None:
    """egress: find personal and important data leaving the country in network traffic."""
    config = load_config(config_path)
    setup_logging(log_level or config.logging.level, bool(log_json) or config.logging.json_lines)
    ctx.obj = _Context(config)


@cli.command()
@click.argument("captures", nargs=-1)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("egress-audit"),
    show_default=True,
    help="Case folder for alerts.jsonl and summary.json.",
)
@click.option("--quiet", is_flag=True, help="Do not print alerts or progress, only the summary.")
@click.option(
    "--extract-objects",
    is_flag=True,
    help="Also write every rebuilt object to OUT/objects/<sha256> (objects.jsonl names the file).",
)
@click.option(
    "--kafka",
    "kafka_bootstrap",
    metavar="BOOTSTRAP",
    help="Also stream alerts and flows to Kafka at host:port[,...] (docs/outputs.md).",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Continue this persistent ledger (default: a fresh OUT/ledger.sqlite).",
)
@click.pass_obj
def audit(
    obj: _Context,
    captures: tuple[str, ...],
    out_dir: Path,
    quiet: bool,
    extract_objects: bool,
    kafka_bootstrap: str | None,
    ledger: Path | None,
) -> None:
    """Audit CAPTURES offline and write a case folder.

    CAPTURES are pcap or pcapng files (plain, .gz or .zst), directories of them, glob patterns,
    or - for stdin. With no CAPTURES, audits the bundled sample capture (synthetic people only).
    """
    console = Console()
    if captures:
        inputs = expand_inputs(list(captures))
    else:
        inputs = [bundled_sample()]
        console.print(f"No capture given: auditing the bundled sample {inputs[0]}\n")
    sinks = build_sinks(
        obj.config.outputs, kafka_bootstrap=kafka_bootstrap, observer=obj.config.sensor_id
    )
    try:
        with AuditProgress(console, inputs, enabled=not quiet) as progress:
            runner = Audit(
                obj.config,
                out_dir,
                on_alert=None if quiet else lambda a: render_alert(console, a),
                extract_objects=extract_objects,
                sinks=sinks,
                on_progress=progress.update,
                ledger=ledger,
            )
            tune_for_pipeline()
            summary = runner.run(inputs)
    finally:
        close_sinks(sinks, console.print)
    render_summary(console, summary)
    console.print(f"Case folder: {out_dir}  ({', '.join(case_files(out_dir))})", soft_wrap=True)


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_obj
def config_show(obj: _Context) -> None:
    """Print the effective configuration (defaults merged with --config) as YAML."""
    click.echo(dump_config(obj.config), nl=False)


cli.add_command(geoip_group, name="geoip")
cli.add_command(signatures_group, name="signatures")
cli.add_command(scan_command, name="scan")
cli.add_command(alerts_group, name="alerts")
cli.add_command(verify_log_command, name="verify-log")
cli.add_command(report_command, name="report")
cli.add_command(evidence_group, name="evidence")
register_compliance(cli)
cli.add_command(bench_command, name="bench")
cli.add_command(sensor_command, name="sensor")


def main() -> None:
    """Entry point: turn user errors into one line and exit code 2."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except (EgressError, GeoIPError) as exc:
        click.echo(f"egress: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("egress: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code != 0 else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so plainly
        if debug:
            raise
        click.echo(
            f"egress: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
