"""Profile + yearly counts -> legal path with its basis. No traffic needed (what-if planning).

Steps: pick the packs whose scope fits the processor (zone, scenario) and whose condition holds
(the Jiangsu negative-list exemption only when nothing sent is on the list); drop the rule groups a
fitting pack takes over; evaluate every remaining rule; the most demanding path among the rules
that hold governs, and every rule that gives that path is cited. Exempted volumes (contract with
the individual, cross-border HR, emergency: 规定 第五条第一至三项) are reported but never counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sensor.compliance.declarations import CLASSES
from sensor.compliance.legal import Basis, Decision, LegalPath
from sensor.compliance.packs import PolicyPack, Rule
from sensor.compliance.processors import ProcessorProfile


@dataclass(frozen=True, slots=True)
class YearlyCounts:
    """What one processor sent abroad in one year (people are distinct, exemptions left out)."""

    personal: int = 0
    sensitive: int = 0
    account_or_medical: int = 0
    important_data: tuple[str, ...] = ()  # categories identified as important (notified)
    indicated: tuple[str, ...] = ()  # categories the detectors indicated: hints, not findings
    core_data: tuple[str, ...] = ()
    exempted: dict[str, int] = field(default_factory=dict)  # people per exemption basis

    def metrics(self) -> dict[str, int]:
        return {
            "personal": self.personal,
            "non_sensitive": max(self.personal - self.sensitive, 0),
            "sensitive": self.sensitive,
            "account_or_medical": self.account_or_medical,
            "important_data": len(self.important_data),
            "core_data": len(self.core_data),
        }

    @property
    def categories(self) -> tuple[str, ...]:
        """Data categories sent: the classes with people, and the important-data codes."""
        metrics = self.metrics()
        return tuple(c for c in CLASSES if metrics[c]) + self.important_data + self.indicated


@dataclass(frozen=True, slots=True)
class Threshold:
    """A number a processor's yearly count is measured against, from an ``at_least`` bound."""

    key: str  # pack.rule.metric, stable across runs
    metric: str
    value: int
    path: LegalPath
    basis: Basis


class Evaluator:
    def __init__(self, packs: tuple[PolicyPack, ...]) -> None:
        self.packs = packs

    def _fits(self, pack: PolicyPack, profile: ProcessorProfile, counts: YearlyCounts) -> bool:
        scope = pack.scope
        if scope.ftz is not None and profile.ftz not in scope.ftz:
            return False
        if scope.scenarios is not None and not set(scope.scenarios) & set(profile.scenarios):
            return False
        if pack.applies_when == "outside_negative_list":
            assert pack.negative_list is not None  # the pack model guarantees it
            listed = pack.negative_list.industries.get(profile.industry)
            if listed is None:  # no list for this industry: national rules (002 第二十四条)
                return False
            return not set(counts.categories) & set(listed)
        return True

    def rules(
        self, profile: ProcessorProfile, counts: YearlyCounts
    ) -> list[tuple[PolicyPack, Rule]]:
        """The rules that apply to this processor, after scoped packs took over their groups."""
        fitting = [p for p in self.packs if self._fits(p, profile, counts)]
        taken: dict[str, set[str]] = {}
        for pack in fitting:
            for group in pack.replaces:
                taken.setdefault(group, set()).add(pack.id)
        return [
            (pack, rule)
            for pack in fitting
            for rule in pack.rules
            if rule.group not in taken or pack.id in taken[rule.group]
        ]

    @staticmethod
    def _basis(pack: PolicyPack, rule: Rule) -> Basis:
        return Basis(rule.document or pack.document, rule.article, pack.label, rule.id)

    def decide(self, profile: ProcessorProfile, counts: YearlyCounts) -> Decision:
        metrics = counts.metrics()
        held = [
            (pack, rule)
            for pack, rule in self.rules(profile, counts)
            if rule.when.holds(profile.ciio, metrics)
        ]
        notes = []
        if counts.indicated:
            notes.append(
                "detectors indicated important-data categories "
                f"{', '.join(counts.indicated)}: not counted until identified or notified "
                "(规定 第二条); review them"
            )
        if counts.exempted:
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.exempted.items()))
            notes.append(f"exempted exports kept out of the totals: {parts}")
        if not held:
            return Decision(
                LegalPath.EXEMPT, (), "no rule of the loaded packs applies", tuple(notes)
            )
        path = max((rule.path for _, rule in held), key=lambda p: p.rank)
        chosen = [(pack, rule) for pack, rule in held if rule.path is path]
        reason = "; ".join(rule.reason.format_map(metrics) for _, rule in chosen)
        return Decision(
            path,
            tuple(self._basis(pack, rule) for pack, rule in chosen),
            f"{path.value}: {reason}",
            tuple(notes),
        )

    def thresholds(self, profile: ProcessorProfile, counts: YearlyCounts) -> list[Threshold]:
        """Every ``at_least`` bound above 1 of the rules that apply to this processor."""
        out = []
        for pack, rule in self.rules(profile, counts):
            if rule.when.ciio is not None and rule.when.ciio != profile.ciio:
                continue
            for condition in (*rule.when.all, *rule.when.any):
                if condition.at_least is not None and condition.at_least > 1:
                    out.append(
                        Threshold(
                            f"{pack.id}.{rule.id}.{condition.metric}",
                            condition.metric,
                            condition.at_least,
                            rule.path,
                            self._basis(pack, rule),
                        )
                    )
        return out
