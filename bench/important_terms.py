"""How the important-data term packs do on the fixtures: ``python -m bench.important_terms``.

Regenerates the numbers in docs/signatures.md ("Important-data term packs", Measured): domain
fixtures indicated with their subclass (and first), indications on ordinary text with and without
the false-positive controls, on short public texts about one sector, on the domain fixtures diluted
with ordinary text, and on tables with many rows of numbers.
"""

from __future__ import annotations

from pathlib import Path

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from detectors.important import TermPack, load_term_packs

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "important"
KEY = b"bench-key-0123456789"
NUMBERS_ROW = "2026-08-01T00:00Z,27.3,86,1003.2,3.4,0.0,12000\n"


def naive(packs: tuple[TermPack, ...]) -> tuple[TermPack, ...]:
    """The same dictionaries with common terms, min_specific and negative terms switched off."""
    return tuple(
        p.model_copy(
            update={
                "terms": p.terms + p.common_terms,
                "common_terms": (),
                "negative_terms": (),
                "min_specific": 1,
            }
        )
        for p in packs
    )


def first_is_own(engine: DetectionEngine, path: Path, text: str, encoding: str = "utf-8") -> bool:
    found = engine.inspect(text.encode(encoding)).important
    return bool(found) and found[0].subclass == int(path.stem)


def main() -> None:
    specs = load_catalogue()
    packs = load_term_packs()
    engine = DetectionEngine(specs, identity_key=KEY, term_packs=packs)
    fixtures = sorted(DATA.glob("*.txt"))
    own = top = extra = 0
    for path in fixtures:
        found = [i.subclass for i in engine.inspect(path.read_bytes()).important]
        own += int(path.stem) in found
        top += bool(found) and found[0] == int(path.stem)
        extra += len([s for s in found if s != int(path.stem)])
    print(f"domain fixtures: {len(fixtures)}; indicated with their subclass {own}, first {top}")
    print(f"  other subclasses indicated on them: {extra}")
    for label, group in (("ordinary", "ordinary"), ("sector news", "sector_news")):
        for name, chosen in (("controls", packs), ("no controls", naive(packs))):
            eng = DetectionEngine(specs, identity_key=KEY, term_packs=chosen)
            hits = {
                p.name: [i.subclass for i in eng.inspect(p.read_bytes()).important]
                for p in sorted((DATA / group).iterdir())
            }
            total = sum(len(v) for v in hits.values())
            print(f"{label}, {name}: {total} indications {hits}")
    filler = (DATA / "ordinary" / "newsletter.txt").read_text(encoding="utf-8")
    for copies in (1, 3, 6):
        kept = sum(
            first_is_own(
                engine, p, filler * copies + p.read_text(encoding="utf-8") + filler * copies
            )
            for p in fixtures
        )
        print(f"between {copies} newsletter(s) each side: {kept} of {len(fixtures)} still first")
    for rows in (300, 1000, 10000):
        kept = sum(
            first_is_own(engine, p, p.read_text(encoding="utf-8") + NUMBERS_ROW * rows)
            for p in fixtures
        )
        print(f"followed by {rows} lines of numbers: {kept} of {len(fixtures)} still first")


if __name__ == "__main__":
    main()
