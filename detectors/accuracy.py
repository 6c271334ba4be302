"""Precision and recall per identifier and per file format, written as docs/accuracy.md.

Every file of the corpus (``detectors.corpus_formats``: UTF-8 and GBK CSV, XLSX, XLS, JSON, text, DOCX,
PDF) goes through ``sensor.content.extract`` and the detectors as an object on the wire does. A
detection counts as correct only when its identifier and exact value equal a label: a value cut
or extended by one character is both a false positive and a false negative, so trimming bugs
cannot hide. Run with ``egress signatures accuracy --out docs/accuracy.md`` (or ``python -m
detectors.accuracy docs/accuracy.md``); the corpus is seeded and the writers are given fixed
dates, so the report changes only when the detectors, extraction or the corpus change.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from detectors.catalogue import IdentifierSpec, load_catalogue
from detectors.combine import PartFindings, combine
from detectors.corpus import DEFAULT_SEED, CorpusGenerator
from detectors.corpus_formats import STRUCTURED, Rendered, formats_available, render
from detectors.engine import DetectionEngine
from sensor.content.extract import extract
from sensor.inspection import inspect_part

# Identifiers whose validation includes a check character: the strict target applies.
CHECK_DIGIT = frozenset(
    (
        "cn_resident_id",
        "unionpay_card",
        "payment_card",
        "iban",
        "hk_identity_card",
        "cn_uscc",
        "vin",
    )
)
TARGETS = {True: (0.995, 0.995), False: (0.95, 0.90)}  # (precision, recall)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class People:
    """The distinct-individual count against the truth, over the documents of one format."""

    documents: int = 0
    exact: int = 0
    error: float = 0.0  # sum of absolute relative errors; ``mean`` divides
    truth: int = 0
    counted: int = 0

    @property
    def mean(self) -> float:
        return self.error / self.documents if self.documents else 0.0

    @property
    def total_error(self) -> float:
        """|counted - true| over all documents of the format, relative to the true total."""
        return abs(self.counted - self.truth) / self.truth if self.truth else 0.0


@dataclass
class Report:
    seed: int
    documents: int
    size: int
    kinds: Counter[str]
    tallies: dict[str, Tally] = field(default_factory=dict)
    by_format: dict[str, dict[str, Tally]] = field(default_factory=dict)
    people: dict[str, People] = field(default_factory=dict)
    misses: Counter[tuple[str, str, str, str]] = field(
        default_factory=Counter
    )  # doc, fmt, id, fp/fn

    def meets(self, identifier: str) -> bool:
        return meets(identifier, self.tallies[identifier])

    @property
    def people_docs(self) -> int:
        return sum(p.documents for f, p in self.people.items() if f in STRUCTURED)

    @property
    def people_exact(self) -> int:
        return sum(p.exact for f, p in self.people.items() if f in STRUCTURED)


def meets(identifier: str, tally: Tally) -> bool:
    p, r = TARGETS[identifier in CHECK_DIGIT]
    return tally.precision >= p and tally.recall >= r


def inspect_file(engine: DetectionEngine, data: bytes) -> tuple[list[tuple[str, str]], int]:
    """What the sensor finds in one object: extraction, detection per part, combined count.

    Returns the accepted (identifier, value) pairs over all parts and the object's distinct
    individuals, as ``sensor.inspection.inspect_object`` computes them.
    """
    extraction = extract(data)
    found: list[tuple[str, str]] = []
    parts = []
    for part in extraction.parts:
        detection = engine.detect(part.text)
        for ident, acc in detection.accepted.items():
            for s, e in zip(acc.starts.tolist(), acc.ends.tolist(), strict=True):
                found.append((ident, part.text[s:e].decode("utf-8", "replace")))
        findings = inspect_part(engine, part.text)
        parts.append(PartFindings(part.path, part.kind, part.encoding, len(part.text), findings))
    return found, combine(parts, engine.max_samples).distinct_individuals


def evaluate(engine: DetectionEngine, files: list[Rendered], seed: int, documents: int) -> Report:
    report = Report(seed, documents, sum(len(f.data) for f in files), Counter(f.fmt for f in files))
    for spec in engine.specs:
        report.tallies[spec.id] = Tally()
    for file in files:
        per = report.by_format.setdefault(file.fmt, {})
        found, counted = inspect_file(engine, file.data)
        have, want = Counter(found), Counter(file.truth)
        for key in have.keys() | want.keys():
            ident = key[0]
            tp = min(have[key], want[key])
            for tally in (
                report.tallies.setdefault(ident, Tally()),
                per.setdefault(ident, Tally()),
            ):
                tally.tp += tp
                tally.fp += have[key] - tp
                tally.fn += want[key] - tp
            report.misses[(file.name, file.fmt, ident, "fp")] += have[key] - tp
            report.misses[(file.name, file.fmt, ident, "fn")] += want[key] - tp
        if file.people is not None:
            people = report.people.setdefault(file.fmt, People())
            people.documents += 1
            people.exact += counted == file.people
            people.error += abs(counted - file.people) / file.people
            people.truth += file.people
            people.counted += counted
    return report


FORMAT_ORDER = (
    "csv-utf8",
    "csv-gbk",
    "xlsx",
    "xls",
    "doc-table",
    "json",
    "ndjson",
    "text",
    "docx",
    "doc",
    "ppt",
    "pdf",
)


def _cell(t: Tally | None) -> str:
    if t is None or not t.tp + t.fp + t.fn:
        return "-"
    return f"{100 * t.precision:.1f} / {100 * t.recall:.1f}"


def render_report(report: Report, specs: tuple[IdentifierSpec, ...]) -> str:
    names = {s.id: s for s in specs}
    formats = [f for f in FORMAT_ORDER if f in report.kinds]
    lines = [
        "# Detector accuracy",
        "",
        "Generated by `egress signatures accuracy --out docs/accuracy.md` from the seeded synthetic",
        f"corpus (`detectors/corpus.py`, `detectors/corpus_formats.py`, seed {report.seed}):",
        f"{report.documents} generated documents written as {sum(report.kinds.values())} files, "
        f"{report.size / 1e6:.2f} MB ("
        + ", ".join(f"{report.kinds[k]} {k}" for k in formats)
        + "). Do not edit by hand: rerun the command after changing a signature, a validator or",
        "content extraction.",
        "",
        "Every file goes through the sensor's content extraction (`sensor/content/extract.py`:",
        "charset detection, the XLSX/DOCX readers of `office.py`, the XLS reader of",
        "`legacy_office.py`, the DOC/PPT readers of `legacy_word.py`/`legacy_ppt.py`, pypdf page",
        "text) and then the detectors, part by part, as an object seen on the wire. The CSV people",
        "exports are written as UTF-8 CSV, GBK CSV, XLSX, legacy XLS and a table in a legacy Word",
        "document (doc-table); the same people are also printed as a report (one `header：value`",
        "line per person) in text, DOCX, PPT (20 lines a slide) and PDF; free-text notes are",
        "written as text, DOCX, DOC, PPT and PDF. The legacy DOC/PPT files come from the project's",
        "own minimal writers (`detectors/legacy_writers.py`, checked against antiword and catppt).",
        "The truth of a file is the multiset of labelled (identifier, value) pairs the",
        "generator wrote; a detection counts as correct when its identifier and its exact value match",
        "a label, so a value cut or extended by one character is a false positive and a false",
        "negative. Decoys (wrong check characters, impossible dates, unallocated prefixes, Luhn",
        "failures, digit runs inside longer runs, order numbers, timestamps, hashes, UUIDs,",
        "`icon@2x.png`) are unlabelled, so every detection of one is a false positive. Targets:",
        "identifiers with a check character >= 99.5 % precision and recall; the others >= 95 %",
        "precision and 90 % recall.",
        "",
        "## All formats",
        "",
        "| identifier | check character | labelled | TP | FP | FN | precision | recall | target met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for ident in sorted(report.tallies):
        t = report.tallies[ident]
        label = names[ident].name.en if ident in names else ident
        lines.append(
            f"| `{ident}` ({label}) | {'yes' if ident in CHECK_DIGIT else 'no'} | {t.tp + t.fn} | {t.tp} "
            f"| {t.fp} | {t.fn} | {100 * t.precision:.2f} % | {100 * t.recall:.2f} % "
            f"| {'yes' if report.meets(ident) else '**no**'} |"
        )
    lines += [
        "",
        "## Per format",
        "",
        "Precision / recall in %, `-` where the format holds no such value and nothing was found;",
        "**bold** where the format alone misses the target.",
        "",
        "| identifier | " + " | ".join(formats) + " |",
        "| --- |" + " ---: |" * len(formats),
    ]
    for ident in sorted(report.tallies):
        cells = []
        for fmt in formats:
            tally = report.by_format.get(fmt, {}).get(ident)
            text = _cell(tally)
            if tally is not None and text != "-" and not meets(ident, tally):
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| `{ident}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Distinct individuals",
        "",
        "Per file, `distinct_individuals` of the combined findings (as the alert reports it) against",
        "the number of people the generator wrote. Structured files have one person per record (CSV",
        "row, sheet row, JSON object): target within 1 %. The printed reports have no record",
        "structure, so the count there is the free-text lower bound (`detectors/individuals.py`).",
        "",
        "| format | structure | files | exact | mean relative error | people written | counted | total error |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fmt in formats:
        if fmt not in report.people:
            continue
        p = report.people[fmt]
        lines.append(
            f"| {fmt} | {'record' if fmt in STRUCTURED else 'free text'} | {p.documents} | {p.exact} "
            f"| {100 * p.mean:.2f} % | {p.truth} | {p.counted} | {100 * p.total_error:.2f} % |"
        )
    errors = +report.misses  # drop the zero counts
    lines += [
        "",
        "## Files with errors",
        "",
        f"{len({(d, f) for d, f, _, _ in errors})} of {sum(report.kinds.values())} files have a"
        " false positive or negative (values in error, by file; the first 25):",
        "",
        "| file | format | identifier | FP | FN |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    by_file: dict[tuple[str, str, str], list[int]] = {}
    for (doc, fmt, ident, kind), n in errors.items():
        by_file.setdefault((doc, fmt, ident), [0, 0])[kind == "fn"] += n
    for (doc, fmt, ident), (fp, fn) in sorted(by_file.items())[:25]:
        lines.append(f"| {doc} | {fmt} | `{ident}` | {fp} | {fn} |")
    lines += [
        "",
        "Causes, as analysed when the formats were added (re-check when the list above changes):",
        "",
        "- A printed report whose every line holds exactly one comma (the comma inside",
        "  `lat, lon` coordinates) is read as a comma-separated table by `detectors/layout.py`.",
        "  Its first line used to become the header, giving the columns the context of data",
        "  values (permits lost their keyword, `金额`/`车架号` were taken for names); a first line",
        "  with a run of 5 or more digits is now a record, not column names.",
        "- Word tables (doc-table) were first read as tab-separated cells: in 7 of 48 files the",
        "  comma inside `lat,lon` cells made `detectors/layout.py` split rows on commas, and whole",
        "  columns lost their header (credit codes 83.4 % recall, HK/Macao permits 64.9 %, 4 card",
        "  false positives); `legacy_word.py` now writes each table row as a CSV line, as a sheet.",
        "- pypdf writes the stretched gaps of a justified PDF line as two spaces (`150  0295  5862`);",
        "  `sensor/content/extract.py` now collapses runs of spaces in PDF text to one.",
        "- A value that a PDF producer wraps across two lines stays split in the extracted text",
        "  (joining lines is ambiguous); the corpus PDFs break report lines between fields, as",
        "  report writers do, so this case is not in the figures. Measured once when the formats",
        "  were added (not regenerated): the free-text notes as one justified A4 paragraph at 12 pt,",
        "  wrapped wherever fpdf2 chose, lost 74 of 1907 values (recall 96.1 %, 7 false positives",
        "  from cut values); before the space fix above the same files lost 175 (recall 90.8 %).",
        "",
        "## What the corpus does not measure",
        "",
        "- Real-world base rates: synthetic documents are far denser in identifiers and decoys than",
        "  real traffic, so precision here is a floor for check-digit identifiers and says little",
        "  about how often an 8-digit number near 台胞证 is really a permit number.",
        "- Code-table errors: the generator and the validators share `detectors/tables.py` (area codes,",
        "  mobile segments, issuer ranges); a wrong table entry is invisible to this measurement.",
        "- PDFs made by other producers: the corpus PDFs come from fpdf2 with one embedded CJK font,",
        "  one text line per line; scanned pages, text in images, or producers that place every glyph",
        "  separately are not measured.",
        "- DOC/PPT files written by Word or PowerPoint themselves: the corpus files have one text piece",
        "  and no formatting runs; fast-saved documents with many pieces, text boxes, headers or",
        "  Chinese text in 8-bit pieces are covered only by the unit tests.",
        "- Identifiers split across a gap in a capture.",
        "",
    ]
    return "\n".join(lines)


def run(seed: int = DEFAULT_SEED, documents: int = 240) -> tuple[Report, str]:
    specs = load_catalogue()
    engine = DetectionEngine(specs, identity_key=b"accuracy")
    available = formats_available()
    files = [
        file
        for doc in CorpusGenerator(seed).documents(documents)
        for file in render(doc, available)
    ]
    report = evaluate(engine, files, seed, documents)
    return report, render_report(report, specs)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    report, text = run()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0 if all(report.meets(i) for i in report.tallies) else 1


if __name__ == "__main__":
    raise SystemExit(main())
