"""``egress bench``: a thin front end to the throughput suites in ``bench/`` (``python -m bench``)."""

from __future__ import annotations

import importlib

import click


@click.command(
    "bench",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(args: tuple[str, ...]) -> None:
    """Run the throughput suites (same options as `python -m bench`; try `egress bench --help`)."""
    try:
        suite = importlib.import_module("bench.suite")
    except ImportError:
        raise click.ClickException(
            "the bench suites are not installed: run `pip install -e .` from a source checkout"
        ) from None
    code = suite.main(list(args))
    if code:
        raise click.exceptions.Exit(code)
