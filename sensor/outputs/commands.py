"""``egress alerts ...``: the alert stream seen from the operator's side.

``tail`` reads alerts back from Kafka (``sensor.outputs.tail``); ``spool`` shows what waits in the
Kafka spool on disk and can send it (after an audit that ended while the broker was away).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from sensor.outputs.tail import root_config, tail_command


@click.group("alerts")
def alerts_group() -> None:
    """Read the alert stream from Kafka; inspect and drain the delivery spool."""


alerts_group.add_command(tail_command)


@alerts_group.command("spool")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="spool directory; default outputs.kafka.spool.directory",
)
@click.option("--drain", is_flag=True, help="send the waiting records to Kafka now")
@click.option("--bootstrap", help="host:port[,...] for --drain; default from the configuration")
@click.option(
    "--timeout", type=float, default=60.0, show_default=True, help="--drain gives up after this"
)
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
@click.pass_context
def spool_command(
    ctx: click.Context,
    directory: Path | None,
    drain: bool,
    bootstrap: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Show the Kafka spool (records waiting, bytes, age of the oldest); --drain sends them.

    Exit status 1 if --drain could not send everything within --timeout.
    """
    from sensor.outputs.kafka import KafkaSink, default_spool_directory, open_spool

    config = root_config().outputs.kafka
    spool_config = config.spool.model_copy(
        update={"directory": directory or config.spool.directory or default_spool_directory()}
    )
    spool = open_spool(spool_config)
    figures: dict[str, object] = {"directory": str(spool.directory), **spool.stats().as_dict()}
    complete = True
    if drain and figures["records"]:
        if bootstrap:
            servers = tuple(s.strip() for s in bootstrap.split(",") if s.strip())
            config = config.model_copy(update={"bootstrap_servers": servers})
        sink = KafkaSink(config, spool=spool)
        complete = sink.drain(timeout)
        sink.close(timeout=0)
        figures["delivered"] = sink.delivered
        figures["records"] = sink.spool.stats().records
    else:
        spool.close()
    if as_json:
        click.echo(json.dumps(figures))
    else:
        for key, value in figures.items():
            shown = f"{value:.1f}" if isinstance(value, float) else value
            click.echo(f"{key:>22}  {shown}")
    if not complete:
        ctx.exit(1)
