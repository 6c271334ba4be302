"""``egress policy evaluate`` and ``egress ledger show|keygen``.

``policy evaluate`` is the what-if tool: a processor profile and yearly counts in (JSON file,
stdin, or options), the legal path with its basis out, without any traffic. The JSON input is
``{"processor": {profile fields as in the processors file}, "counts": {"personal": n,
"sensitive": n, "account_or_medical": n, "important_data": [codes], "core_data": [codes],
"exempted": {"cross_border_hr": n}}}``; options override it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sensor.compliance.evaluator import Evaluator, YearlyCounts
from sensor.compliance.identity import write_identity_key
from sensor.compliance.ledger import Ledger
from sensor.compliance.packs import load_packs
from sensor.compliance.processors import ProcessorProfile, load_processors
from sensor.compliance.status import ledger_status
from sensor.config import EgressConfig
from sensor.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", frozen=True)


class CountsInput(BaseModel):
    model_config = _STRICT
    personal: int = Field(0, ge=0)
    sensitive: int = Field(0, ge=0)
    account_or_medical: int = Field(0, ge=0)
    important_data: tuple[str, ...] = ()
    core_data: tuple[str, ...] = ()
    exempted: dict[str, int] = {}


class EvaluateInput(BaseModel):
    model_config = _STRICT
    processor: ProcessorProfile = Field(
        default_factory=lambda: ProcessorProfile(id="what-if", name="what-if processor")
    )
    counts: CountsInput = Field(default_factory=CountsInput)


def _config(ctx: click.Context) -> EgressConfig:
    obj = ctx.find_root().obj
    config = getattr(obj, "config", None)
    return config if isinstance(config, EgressConfig) else EgressConfig()


def _read_input(source: str | None) -> dict[str, Any]:
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object with processor and counts")
    return data


@click.group("policy")
def policy_group() -> None:
    """Evaluate the cross-border policy packs."""


@policy_group.command("evaluate")
@click.argument("source", required=False)
@click.option("--ciio/--no-ciio", default=None, help="The processor operates CII.")
@click.option(
    "--ftz",
    type=click.Choice(["none", "jiangsu", "beijing", "tianjin", "shanghai_lingang", "other"]),
    help="Free-trade-zone membership.",
)
@click.option("--industry", help="Industry (for FTZ negative lists).")
@click.option("--scenario", "scenarios", multiple=True, help="Business scenario, repeatable.")
@click.option("--personal", type=click.IntRange(min=0), help="People whose PI left this year.")
@click.option("--sensitive", type=click.IntRange(min=0), help="... whose sensitive PI left.")
@click.option("--account-or-medical", type=click.IntRange(min=0), help="... account/medical.")
@click.option("--important", "important", multiple=True, help="Identified important-data code.")
@click.option("--core", "core", multiple=True, help="Core-data category.")
@click.option(
    "--exempted",
    "exempted",
    multiple=True,
    metavar="BASIS=N",
    help="People sent under an exemption (e.g. cross_border_hr=500): reported, not counted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.pass_context
def evaluate(
    ctx: click.Context,
    source: str | None,
    ciio: bool | None,
    ftz: str | None,
    industry: str | None,
    scenarios: tuple[str, ...],
    personal: int | None,
    sensitive: int | None,
    account_or_medical: int | None,
    important: tuple[str, ...],
    core: tuple[str, ...],
    exempted: tuple[str, ...],
    as_json: bool,
) -> None:
    """Decide the legal path for a processor profile and yearly counts (SOURCE: JSON file or -)."""
    config = _config(ctx)
    data = _read_input(source)
    try:
        parsed = EvaluateInput.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"{source or 'input'}: {where}: {error['msg']}") from None
    overrides: dict[str, Any] = {
        k: v for k, v in {"ciio": ciio, "ftz": ftz, "industry": industry}.items() if v is not None
    }
    if scenarios:
        overrides["scenarios"] = scenarios
    profile = parsed.processor.model_copy(update=overrides)
    given = parsed.counts
    exemptions = dict(given.exempted)
    for item in exempted:
        name, _, number = item.partition("=")
        if not name or not number.isdigit():
            raise click.BadParameter(f"{item!r}: use BASIS=N, e.g. cross_border_hr=500")
        exemptions[name] = int(number)
    counts = YearlyCounts(
        given.personal if personal is None else personal,
        given.sensitive if sensitive is None else sensitive,
        given.account_or_medical if account_or_medical is None else account_or_medical,
        important or given.important_data,
        (),
        core or given.core_data,
        exemptions,
    )
    evaluator = Evaluator(load_packs(config.compliance.policy_directories))
    decision = evaluator.decide(profile, counts)
    if as_json:
        out = decision.as_dict()
        out["processor"] = profile.summary()
        out["counts"] = counts.metrics()
        out["thresholds"] = {t.key: t.value for t in evaluator.thresholds(profile, counts)}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"legal path: {decision.legal_path.value}")
    click.echo(f"reason:     {decision.reason}")
    for basis in decision.basis:
        click.echo(f"basis:      {basis.document} {basis.article}  [{basis.pack} {basis.rule}]")
    for note in decision.notes:
        click.echo(f"note:       {note}")


@click.group("ledger")
def ledger_group() -> None:
    """Inspect the yearly export ledger."""


@ledger_group.command("show")
@click.option("--year", type=int, help="Only this calendar year (Asia/Shanghai).")
@click.option(
    "--ledger",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("egress-audit/ledger.sqlite"),
    show_default=True,
    help="Ledger file (a case folder's ledger.sqlite or a persistent one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def ledger_show(ctx: click.Context, year: int | None, path: Path, as_json: bool) -> None:
    """Status per processor and year: counts, thresholds and the legal path they imply."""
    config = _config(ctx)
    ledger = Ledger(path, None)
    try:
        status = ledger_status(
            ledger,
            Evaluator(load_packs(config.compliance.policy_directories)),
            load_processors(config.compliance.processors_file).profiles,
        )
    finally:
        ledger.close()
    status = [entry for entry in status if year is None or entry["year"] == year]
    if as_json:
        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        return
    if not status:
        click.echo(f"{path}: no exports recorded")
    for entry in status:
        counts = entry["individuals"]
        decision = entry["decision"]
        scope = (
            " (per-run key: counts do not deduplicate across runs)"
            if entry["ledger_per_run"]
            else ""
        )
        click.echo(f"{entry['id']} ({entry['name']}), {entry['year']}{scope}")
        click.echo(
            f"  people: personal {counts['personal']}, sensitive {counts['sensitive']}, "
            f"account_or_medical {counts['account_or_medical']}; exports {entry['exports']}"
        )
        for country, by_class in entry["by_destination"].items():
            click.echo(f"  to {country}: {by_class['personal']} personal, "
                       f"{by_class['sensitive']} sensitive")  # fmt: skip
        for key, value in entry["thresholds"].items():
            metric = key.rsplit(".", 1)[-1]
            have = counts.get(metric, 0)
            click.echo(f"  threshold {key}: {have}/{value} ({100 * have / value:.1f}%)")
        click.echo(f"  legal path: {decision['legal_path']}: {decision['reason']}")
        for basis in decision["basis"]:
            click.echo(f"    basis: {basis['document']} {basis['article']}")
        for item in entry["consistency"]:
            click.echo(f"  inconsistency {item['check']}: {item['detail']}")


@ledger_group.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def ledger_keygen(path: Path) -> None:
    """Write a new identity key for person hashes (mode 0600); set detection.identity_key_file."""
    write_identity_key(path)
    click.echo(
        f"wrote {path}; set detection.identity_key_file: {path} (or EGRESS_IDENTITY_KEY_FILE)"
    )


def register(cli: click.Group) -> None:
    """Add the compliance commands to the ``egress`` command group."""
    cli.add_command(policy_group)
    cli.add_command(ledger_group)
