"""The ``egress sensor`` command: options override the ``live`` configuration section."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click


@click.command("sensor")
@click.option("--interface", "-i", "interfaces", multiple=True, help="Capture on IF (repeatable).")
@click.option("--bpf", help="tcpdump filter expression, e.g. 'tcp and not port 22'.")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes (fan-out hash).")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Case folder."
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="0 turns /metrics off.")
@click.option("--metrics-address", help="Bind address of /metrics and /healthz.")
@click.option("--stats-interval", type=click.FloatRange(min=0.1), help="Seconds between stats.")
@click.option("--ring-block-size", type=click.IntRange(min=4096), help="Bytes per ring block.")
@click.option("--ring-blocks", type=click.IntRange(min=1), help="Blocks per ring.")
@click.option("--block-timeout-ms", type=click.IntRange(min=1), help="Partial block hand-over.")
@click.option("--no-promiscuous", is_flag=True, default=None, help="Leave promiscuous mode off.")
@click.pass_context
def sensor_command(ctx: click.Context, /, **options: Any) -> None:
    """Capture live traffic (AF_PACKET) and write alerts until SIGTERM.

    Needs root or CAP_NET_RAW (+ CAP_NET_ADMIN for promiscuous mode). SIGHUP reloads the
    signatures of the configuration; SIGTERM flushes open flows and outputs and exits 0.
    """
    config = ctx.obj.config
    live = config.live
    ring_updates = {
        key: options[opt]
        for key, opt in (
            ("block_size", "ring_block_size"),
            ("block_count", "ring_blocks"),
            ("block_timeout_ms", "block_timeout_ms"),
        )
        if options[opt] is not None
    }
    updates: dict[str, Any] = {
        key: options[key]
        for key in (
            "bpf",
            "workers",
            "out_dir",
            "metrics_port",
            "metrics_address",
            "stats_interval",
        )
        if options[key] is not None
    }
    if options["interfaces"]:
        updates["interfaces"] = tuple(options["interfaces"])
    if options["no_promiscuous"]:
        updates["promiscuous"] = False
    updates["ring"] = live.ring.model_copy(update=ring_updates)
    config = config.model_copy(update={"live": live.model_copy(update=updates)})
    logger = logging.getLogger("sensor.live")
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)  # the startup summary and stats lines are the point
    config_path = ctx.find_root().params.get("config_path")
    from sensor.live.supervisor import Supervisor  # prometheus-client etc. only for this command

    code = Supervisor(config, config_path).run()
    if code:
        sys.exit(code)  # a worker died: 1, so the service manager restarts the sensor
