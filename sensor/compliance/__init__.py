"""The compliance engine: who exported what this year, and which legal path that implies.

    processors.py   internal networks -> data processor (CIIO, FTZ zone, industry, declarations)
    declarations.py the processor's filed exports and the consistency checks against traffic
    legal.py        legal paths, their order, a decision with its basis
    packs.py        declarative policy packs (signatures/policies/*.yaml) and their loader
    evaluator.py    profile + yearly counts -> decision (what-if, no traffic needed)
    ledger.py       durable yearly counts of distinct people (SQLite, WAL)
    status.py       counts, thresholds and legal path per processor and year (summary, CLI)
    accounting.py   the audit's hook: one object -> ledger, threshold and consistency events,
                    the alert's ``egress`` block
    yamlsource.py   YAML validated by pydantic, errors with file:line
    identity.py     the persistent person-hash key
    cli.py          ``egress policy evaluate``, ``egress ledger show|keygen``

Counts are of people (keyed hashes from ``detectors.individuals``), per processor and calendar year
in Asia/Shanghai, the unit the 促进和规范数据跨境流动规定 thresholds use.
"""
