"""Status of every processor and year in a ledger: counts, thresholds, the legal path they imply.

Shared by ``summary.json`` (``processors``) and ``egress ledger show``. Profiles come from the
current processors file when it names the processor, else from the copy the ledger kept when the
processor last exported, so a ledger can be read without the configuration that filled it.
"""

from __future__ import annotations

from typing import Any

from sensor.compliance.evaluator import Evaluator, YearlyCounts
from sensor.compliance.ledger import Ledger
from sensor.compliance.processors import ProcessorProfile, unassigned_profile


def yearly_counts(ledger: Ledger, profile: ProcessorProfile, year: int) -> YearlyCounts:
    """The evaluator's input from the ledger: totals, important data split into identified
    (notified to the processor) and merely indicated, and exempted volumes."""
    totals = ledger.counts(profile.id, year)
    seen = [i["code"] for i in ledger.important(profile.id, year)]
    notified = set(profile.important_data_notified)
    exempted = {
        basis: counts["personal"]
        for basis, counts in ledger.breakdown(profile.id, year, "exempt").items()
    }
    return YearlyCounts(
        totals["personal"],
        totals["sensitive"],
        totals["account_or_medical"],
        tuple(c for c in seen if c in notified),
        tuple(c for c in seen if c not in notified),
        (),
        exempted,
    )


def ledger_status(
    ledger: Ledger, evaluator: Evaluator, profiles: tuple[ProcessorProfile, ...]
) -> list[dict[str, Any]]:
    known = {p.id: p for p in profiles}
    events = ledger.events()
    out = []
    for processor, year in ledger.periods():
        stored = ledger.profile(processor)
        profile = known.get(processor) or (
            ProcessorProfile.model_validate(stored) if stored else unassigned_profile()
        )
        counts = yearly_counts(ledger, profile, year)
        important = ledger.important(processor, year)
        out.append(
            {
                **profile.summary(),
                "year": year,
                "exports": ledger.exports(processor, year),
                "individuals": ledger.counts(processor, year),
                "exempted": counts.exempted,
                "by_destination": ledger.breakdown(processor, year, "country"),
                "recipients": ledger.breakdown(processor, year, "recipient"),
                "important_data": [i["code"] for i in important],
                "important_data_detail": important,
                "decision": evaluator.decide(profile, counts).as_dict(),
                "thresholds": {t.key: t.value for t in evaluator.thresholds(profile, counts)},
                "consistency": [
                    {"check": e["check"], "detail": e["detail"]}
                    for e in events
                    if e["record_type"] == "consistency_event"
                    and e["processor"]["id"] == processor
                    and e["year"] == year
                ],
                "ledger_per_run": ledger.per_run,
            }
        )
    return out
