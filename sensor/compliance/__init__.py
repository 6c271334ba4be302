"""The compliance engine: who exported what this year, and which legal path that implies.

    processors.py   internal networks -> data processor (CIIO, FTZ zone, industry, declarations)
    declarations.py the processor's filed exports and the consistency checks against traffic
    legal.py        legal paths, their order, a decision with its basis
    packs.py        declarative policy packs (signatures/policies/*.yaml) and their loader
    evaluator.py    profile + yearly counts -> decision (what-if, no traffic needed)
    thresholds.py   threshold crossing and warning events
    ledger.py       durable yearly counts of distinct people (SQLite, WAL)
    accounting.py   the audit's hook: one exported object -> ledger, events and the alert block
    identity.py     the persistent person-hash key
    cli.py          ``egress policy evaluate``, ``egress ledger show|keygen``

Counts are of people (keyed hashes from ``detectors.individuals``), per processor and calendar year
in Asia/Shanghai, the unit the 促进和规范数据跨境流动规定 thresholds use.
"""
