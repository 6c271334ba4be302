"""What SIGHUP reloads in a live worker (sensor/live/worker.py ``build_rules``), without a capture:
signatures, jurisdiction, processors with their declared exports and policy packs, all or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.audit import Audit
from sensor.config import EgressConfig
from sensor.errors import EgressError
from sensor.live.worker import build_rules

PROCESSORS = """processors:
  - id: acme-sz
    name: ACME Suzhou
    networks: [10.20.30.0/24]
"""


def _config(**compliance: object) -> EgressConfig:
    return EgressConfig.model_validate({"compliance": compliance})


def test_a_good_reload_brings_processors_and_policies(tmp_path: Path) -> None:
    audit = Audit(EgressConfig(), tmp_path / "case")
    assert audit.accounting.processors.profiles == ()
    processors = tmp_path / "processors.yaml"
    processors.write_text(PROCESSORS, encoding="utf-8")
    rules = build_rules(audit, _config(processors_file=str(processors)))
    rules.apply(audit)
    assert [p.id for p in audit.accounting.processors.profiles] == ["acme-sz"]
    assert audit.accounting.evaluator is rules.evaluator
    assert audit.engine.key_id == rules.engine.key_id  # person keys unchanged mid-run


def test_a_broken_policy_pack_changes_nothing(tmp_path: Path) -> None:
    audit = Audit(EgressConfig(), tmp_path / "case")
    before = (audit.engine, audit.accounting.processors, audit.accounting.evaluator)
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "bad.yaml").write_text("format_version: 1\nid: bad\nsurprise: true\n")
    processors = tmp_path / "processors.yaml"
    processors.write_text(PROCESSORS, encoding="utf-8")
    config = _config(processors_file=str(processors), policy_directories=[str(packs)])
    with pytest.raises(EgressError, match=r"bad\.yaml"):
        build_rules(audit, config)
    assert (audit.engine, audit.accounting.processors, audit.accounting.evaluator) == before
