"""Human-readable alert and summary rendering for the terminal (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def render_alert(console: Console, alert: dict[str, Any]) -> None:
    src, dst, obj = alert["source"], alert["destination"], alert["object"]
    border = alert["cross_border"]
    colour = {"high": "bold red", "medium": "yellow"}.get(alert["severity"], "cyan")
    verdict = "CROSS-BORDER EXPORT" if border["is_export"] else "domestic"
    console.print(
        f"[{colour}]{alert['severity'].upper()}[/] {verdict}  {alert['alert_id']}  {alert['@timestamp']}"
    )
    src_where = "internal" if src["internal"] else (src["geo"]["country_iso_code"] or "unknown")
    dst_where = "internal" if dst["internal"] else (dst["geo"]["country_iso_code"] or "unknown")
    console.print(
        f"  flow {alert['flow']['id']} {alert['network']['transport']} "
        f"{src['ip']}:{src['port']} ({src_where}) -> {dst['ip']}:{dst['port']} ({dst_where})"
    )
    console.print(f"  {obj['http']['request']['method']} {obj['url']['full']}  {obj['size']} bytes")
    console.print(f"  why: {border['reason']}")
    for finding in alert["findings"]:
        console.print(
            f"  {finding['name']['en']} ({finding['class']}): {finding['count']} valid, "
            f"{finding['distinct']} distinct, {finding['rejected_candidates']} rejected; "
            f"samples {', '.join(finding['masked_samples'])}"
        )
    console.print(f"  distinct individuals: {alert['individuals']['distinct']}")
    policy = alert.get("egress", {}).get("policy")
    if policy:
        console.print(f"  legal path: {policy['reason']}")
    console.print()


def render_summary(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="egress audit summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for key in ("packets", "tcp_segments", "flows", "objects", "alerts", "exports"):
        table.add_row(key, str(summary["counts"][key]))
    table.add_row("anomalies", str(sum(a["count"] for a in summary["anomalies"].values())))
    console.print(table)
    for name, info in summary["anomalies"].items():
        console.print(f"  anomaly {name}: {info['count']}  {'; '.join(info['examples'])}")
    for entry in summary.get("processors", []):
        people = entry["individuals"]
        console.print(
            f"  processor {entry['id']} {entry['year']}: {people['personal']} people "
            f"({people['sensitive']} sensitive) -> {entry['decision']['legal_path']}"
        )
