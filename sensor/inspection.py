"""One object through content extraction and detection: what the audit and the sensor call.

    TransferObject -> extract (archives, Office, PDF, charsets) -> DetectionEngine per part
                   -> combined ObjectFindings + where in the object they were found

Extraction flags (``limit:size``, ``encrypted``, ``error:zip``...) are put on the object as
``content:<flag>`` so objects.jsonl and alerts show what could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from detectors.combine import PartFindings, combine
from detectors.engine import DetectionEngine, ObjectFindings
from detectors.genetic import genetic_finding, sniff_genetic
from detectors.streaming import ObjectScanner
from sensor.content.extract import ExtractionLimits, extract
from sensor.content.stream_decoding import DecodingOverflow
from sensor.content.zip_stream import ZipStreamDecoder
from sensor.objects import TransferObject

GENETIC_NAMESPACE = "genetic_sample"  # person keys of VCF/SAM sample names
IMPORTANT_DATA_FLAG = "important_data:"  # + the subclass code, e.g. important_data:JSFTZ-14


@dataclass(frozen=True, slots=True)
class Inspection:
    findings: ObjectFindings
    parts: tuple[PartFindings, ...]  # every part read, in object order
    flags: tuple[str, ...]  # extraction flags, also added to the object's flags

    def located(self) -> list[dict[str, object]]:
        """The parts that had findings, for the alert: path, kind, charset, identifiers."""
        return [
            {
                "path": p.path,
                "kind": p.kind,
                "encoding": p.encoding,
                "identifiers": {f.identifier: f.count for f in p.findings.findings if f.count},
            }
            for p in self.parts
            if p.findings
        ]


def inspect_part(engine: DetectionEngine, text: bytes) -> ObjectFindings:
    """Pattern detection, plus genetic data recognised by its file format."""
    findings = engine.inspect(text)
    genetic = sniff_genetic(text)
    if genetic is None:
        return findings
    samples = engine.person_keys(GENETIC_NAMESPACE, list(genetic.samples))
    keys = tuple(sorted(set(findings.individual_keys) | set(samples)))
    people = len(keys) + (1 if genetic.single_person and not keys else 0)
    return replace(  # genetic data is sensitive (biometric), not account or medical data
        findings,
        findings=(*findings.findings, genetic_finding(genetic)),
        individual_keys=keys,
        sensitive_keys=tuple(sorted(set(findings.sensitive_keys) | set(samples))),
        distinct_individuals=max(people, findings.distinct_individuals),
    )


def inspect_content(
    engine: DetectionEngine, data: bytes, limits: ExtractionLimits | None = None
) -> Inspection:
    """Extract ``data``'s readable parts (archives, Office, PDF, charsets), detect in each and
    combine: what the audit does with an object's bytes, for files on disk (``egress scan``)."""
    extraction = extract(data, limits)
    parts = tuple(
        PartFindings(p.path, p.kind, p.encoding, len(p.text), inspect_part(engine, p.text))
        for p in extraction.parts
    )
    combined = combine(list(parts), engine.max_samples)
    return Inspection(combined, parts, tuple(extraction.flags))


def inspect_object(
    engine: DetectionEngine, obj: TransferObject, limits: ExtractionLimits | None = None
) -> Inspection:
    """``inspect_content`` of ``obj``'s bytes plus what was streamed past its size limit (flags
    go on ``obj``)."""
    if obj.encrypted:
        obj.overflow = None  # detection cannot see inside; the streamed bytes are dropped
        return Inspection(ObjectFindings((), 0), (), ())
    stream = _stream_part(obj)
    content = inspect_content(engine, obj.inspection_bytes(), limits)
    for flag in content.flags:
        obj.flag(f"content:{flag}")
    if stream is None:
        combined = content.findings
    else:
        combined = combine([*content.parts, stream], engine.max_samples)
    for indication in combined.important:  # tag the object: objects.jsonl and alerts carry it
        obj.flag(f"{IMPORTANT_DATA_FLAG}{indication.code}")
    parts = content.parts if stream is None else (*content.parts, stream)
    return Inspection(combined, parts, content.flags)


STREAM_PART = "#stream"  # the part path of the bytes inspected in stream mode


def _stream_part(obj: TransferObject) -> PartFindings | None:
    """Findings of the bytes past the object limit (``detectors.streaming``), and flags that say
    which bytes were read how: ``inspected:block=0-N`` (extracted and scanned whole) and
    ``inspected:stream=N-M`` (scanned raw as they arrived), ``stream:gaps=K`` for holes in it,
    ``stream:table=csv|jsonl`` when the stream part was read as the rest of the kept table."""
    scanner = obj.overflow
    if isinstance(scanner, DecodingOverflow) and isinstance(scanner.decoder, ZipStreamDecoder):
        for name in sorted(scanner.decoder.flags):  # an archive's members, inflated as they came
            obj.flag(f"stream:{name}")
        obj.flag(f"stream:zip_members={scanner.decoder.members}")
        scanner = scanner.close()
    if not isinstance(scanner, ObjectScanner):
        return None
    findings = scanner.close()
    obj.overflow = None
    stats = scanner.stats
    obj.flag(f"inspected:block=0-{stats.start}")
    obj.flag(f"inspected:stream={stats.start}-{stats.end}")
    if stats.gaps:
        obj.flag(f"stream:gaps={stats.gaps}")
    if stats.table:
        obj.flag(f"stream:table={stats.table}")
    if stats.values_dropped:
        obj.flag("limit:stream_values")
    return PartFindings(STREAM_PART, "stream", "", stats.end - stats.start, findings)
