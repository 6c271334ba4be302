"""``egress signatures …`` and ``egress scan``: the detectors on files, without a capture.

``signatures list`` shows what is active after the operator's configuration, ``signatures test``
explains what one file triggers (including what was rejected or suppressed and why that matters),
``signatures accuracy`` regenerates docs/accuracy.md, ``signatures bench`` measures throughput, and
``scan`` runs the engine over files and directories as an audit would, without the network part.
The lead registers ``signatures_group`` and ``scan_command`` in ``sensor/cli.py``; the configuration
arrives as ``ctx.obj.config`` (``--config`` of the top-level command) and falls back to the
defaults when these commands run on their own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from detectors.catalogue import IdentifierSpec, load_all, load_catalogue
from detectors.engine import DetectionEngine, Finding
from detectors.important import load_term_packs
from sensor.config import EgressConfig, load_config
from sensor.content.extract import ExtractionLimits
from sensor.errors import EgressError
from sensor.inspection import Inspection, inspect_content
from sensor.memory_settings import keep_freed_memory

KEY_ENV = "EGRESS_IDENTITY_KEY_FILE"


def _config(ctx: click.Context) -> EgressConfig:
    obj = ctx.find_root().obj
    config = getattr(obj, "config", None)
    return config if isinstance(config, EgressConfig) else load_config(None)


def _catalogue(config: EgressConfig) -> tuple[IdentifierSpec, ...]:
    sig = config.signatures
    return load_catalogue(sig.extra_directories, frozenset(sig.disabled))


def _engine(config: EgressConfig, key_file: Path | None) -> DetectionEngine:
    key = None
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise EgressError(f"{key_file}: cannot read the identity key: {exc.strerror}") from None
        if len(key) < 16:
            raise EgressError(f"{key_file}: the identity key must be at least 16 bytes")
    return DetectionEngine(
        _catalogue(config), config.output.masked_samples_per_identifier, identity_key=key
    )


def _files(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise EgressError(f"{path}: no such file or directory")


def _read(path: Path, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of ``path`` (the audit's object size limit) and whether it was cut."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise EgressError(f"{path}: cannot read: {exc.strerror}") from None
    return data[:limit], len(data) > limit


def finding_record(finding: Finding) -> dict[str, Any]:
    return {
        "identifier": finding.identifier,
        "rule": finding.rule,
        "class": finding.data_class.value,
        "taxonomy": finding.taxonomy,
        "count": finding.count,
        "distinct": finding.distinct,
        "rejected_candidates": finding.rejected,
        "suppressed": finding.suppressed,
        "confidence": finding.confidence,
        "masked_samples": list(finding.masked_samples),
        "offsets": list(finding.offsets),
    }


def scan_record(path: Path, size: int, truncated: bool, inspection: Inspection) -> dict[str, Any]:
    """One JSON line of ``egress scan --json``: no raw identifiers, like an alert."""
    result = inspection.findings
    return {
        "file": str(path),
        "size": size,
        "truncated": truncated,
        "layout": result.layout,
        "content_flags": list(inspection.flags),  # what extraction could not read, as in objects
        "parts": inspection.located(),  # sheet, member or page where identifiers were found
        "individuals": {
            "distinct": result.distinct_individuals,
            "key_id": result.key_id,
            "keys": list(result.individual_keys),
        },
        "findings": [finding_record(f) for f in result.findings if f.count],
        "general": [finding_record(f) for f in result.general if f.count],
        "important_data_indications": [
            {
                "code": i.code,
                "subclass": i.subclass,
                "name": {"zh": i.name_zh, "en": i.name_en},
                "basis": i.basis,
                "hits": i.hits,
                "distinct_terms": i.distinct_terms,
                "density_per_kib": i.density,
                "score": i.score,
            }
            for i in result.important
        ],
    }


def _extraction_limits(config: EgressConfig) -> ExtractionLimits:
    """The audit's limits for reading inside files (archives, Office, PDF)."""
    return ExtractionLimits(**config.limits.extraction.model_dump())


@click.group("signatures")
def signatures_group() -> None:
    """Inspect and try the data-identifier signatures."""


@signatures_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list disabled identifiers.")
@click.pass_context
def list_command(ctx: click.Context, show_all: bool) -> None:
    """Tables of the active identifiers (built-in packs plus signatures.extra_directories) and of
    the important-data term packs."""
    config = _config(ctx)
    active = {s.id for s in _catalogue(config)}
    specs = (
        load_all(config.signatures.extra_directories)
        if show_all
        else {s.id: s for s in _catalogue(config)}
    )
    table = Table(title="egress identifiers")
    for column in (
        "id",
        "name",
        "class",
        "taxonomy",
        "validator",
        "person rank",
        "state",
        "source",
    ):
        table.add_column(column)
    for key, spec in sorted(specs.items()):
        table.add_row(
            spec.rule,
            f"{spec.name.zh}\n{spec.name.en}",
            spec.data_class.value,
            spec.taxonomy,
            spec.validator,
            str(spec.individual_rank or "-"),
            "active" if key in active else "disabled",
            Path(spec.source).name,
        )
    Console().print(table)
    Console().print(_term_pack_table())


def _term_pack_table() -> Table:
    """The important-data term packs (built in; indications are hints, not alerts)."""
    table = Table(title="important-data term packs (Jiangsu FTZ reference rules)")
    for column in ("code", "class / subclass", "terms", "distinct", "specific", "hits/KiB"):
        table.add_column(column)
    for pack in load_term_packs():
        table.add_row(
            pack.code,
            f"{pack.category} / {pack.subclass} {pack.name_zh}\n{pack.name_en}",
            f"{len(pack.terms)} + {len(pack.common_terms)} common, {len(pack.negative_terms)} neg.",
            str(pack.min_distinct),
            str(pack.min_specific),
            f"{pack.min_density:g}",
        )
    return table


@signatures_group.command("test")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def test_command(ctx: click.Context, file: Path) -> None:
    """Show what FILE triggers: counts, masked samples, rejections and suppressions."""
    config = _config(ctx)
    engine = _engine(config, None)
    data, truncated = _read(file, config.limits.max_object_bytes)
    result = inspect_content(engine, data, _extraction_limits(config)).findings
    table = Table(
        title=f"{file} ({len(data)} bytes, read as {result.layout}{', truncated' if truncated else ''})"
    )
    for column in (
        "identifier",
        "class",
        "count",
        "distinct",
        "rejected",
        "suppressed",
        "confidence",
        "samples",
    ):
        table.add_column(column)
    for f in sorted(result.findings + result.general, key=lambda f: (-f.count, f.identifier)):
        table.add_row(
            f.identifier,
            f.data_class.value,
            str(f.count),
            str(f.distinct),
            str(f.rejected),
            str(f.suppressed),
            f"{f.confidence:.2f}",
            ", ".join(f.masked_samples),
        )
    console = Console()
    console.print(table)
    console.print(f"distinct individuals: {result.distinct_individuals}")
    for hint in result.important:
        console.print(
            f"important-data indication: subclass {hint.subclass} {hint.name_zh} ({hint.name_en}), "
            f"{hint.distinct_terms} distinct terms, {hint.density} hits/KiB, score {hint.score}"
        )
    console.print(
        "rejected: shaped like the identifier but failed validation; "
        "suppressed: valid but excluded or below the confidence threshold (context, allowlist)."
    )


@signatures_group.command("accuracy")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here (docs/accuracy.md).",
)
@click.option("--seed", type=int, default=None, help="Corpus seed (default: the documented one).")
@click.option("--documents", type=int, default=240, show_default=True)
def accuracy_command(out: Path | None, seed: int | None, documents: int) -> None:
    """Precision and recall per identifier on the labelled synthetic corpus."""
    from detectors.accuracy import run
    from detectors.corpus import DEFAULT_SEED

    report, text = run(DEFAULT_SEED if seed is None else seed, documents)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    failing = [i for i in sorted(report.tallies) if not report.meets(i)]
    if failing:
        click.echo(f"below target: {', '.join(failing)}", err=True)
        sys.exit(1)


@signatures_group.command("bench")
@click.option(
    "--megabytes", type=float, default=4.0, show_default=True, help="Size of each sample."
)
def bench_command(megabytes: float) -> None:
    """Throughput on sparse text and a dense CSV, hyperscan engine versus a pure-Python re scanner."""
    from detectors.baseline import measure

    table = Table(title="detector throughput, one core (MB/s)")
    for column in ("sample", "size MB", "matches", "engine", "re baseline", "speed-up"):
        table.add_column(column)
    for row in measure(megabytes):
        table.add_row(
            row.name,
            f"{row.size / 1e6:.1f}",
            str(row.matches),
            f"{row.engine_mbps:.1f}",
            f"{row.baseline_mbps:.2f}",
            f"{row.engine_mbps / row.baseline_mbps:.0f}x",
        )
    Console().print(table)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file on stdout.")
@click.option(
    "--identity-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=KEY_ENV,
    help="Secret for the keyed person hashes (default: a random key, hashes valid for this run only).",
)
@click.pass_context
def scan_command(
    ctx: click.Context, paths: tuple[Path, ...], as_json: bool, identity_key_file: Path | None
) -> None:
    """Run the detectors over files and directories (FILE_OR_DIR...), as an audit would."""
    config = _config(ctx)
    keep_freed_memory()  # one object after another, as in the pipeline
    engine = _engine(config, identity_key_file)
    limit = config.limits.max_object_bytes
    table = Table(title="personal data in files")
    for column in ("file", "people", "identifiers (count)", "class"):
        table.add_column(column)
    total_people = files = 0
    extraction = _extraction_limits(config)
    for path in _files(paths):
        data, truncated = _read(path, limit)
        inspection = inspect_content(engine, data, extraction)
        result = inspection.findings
        files += 1
        total_people += result.distinct_individuals
        if as_json:
            record = scan_record(path, len(data), truncated, inspection)
            click.echo(json.dumps(record, ensure_ascii=False))
            continue
        found = [f for f in result.findings + result.general if f.count]
        if not found and not result.important:
            continue
        worst = (
            "sensitive"
            if any(f.data_class.value != "personal_information" for f in result.findings if f.count)
            else "personal"
        )
        table.add_row(
            str(path) + (" (truncated)" if truncated else ""),
            str(result.distinct_individuals),
            ", ".join(
                [f"{f.identifier} ({f.count})" for f in found]
                + [f"important data? subclass {i.subclass} {i.name_zh}" for i in result.important]
            ),
            worst if result else "general",
        )
    if not as_json:
        console = Console()
        console.print(table)
        console.print(
            f"{files} files scanned, {total_people} distinct individuals (summed per file)"
        )
