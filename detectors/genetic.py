"""Genetic data recognised by file format, not by pattern.

A base sequence has no check digit and a variant line looks like any tab-separated numbers, but
the formats bioinformatics uses announce themselves: VCF (``##fileformat=VCF``, one column per
sample after FORMAT), SAM (``@HD``/``@SQ`` headers, samples in ``@RG SM:``), FASTQ (four-line
reads), FASTA (``>`` headers over base lines) and consumer genotype exports (``# rsid
chromosome position genotype``, one person per file). Genetic data is sensitive personal
information (PIPL art. 28, biometrics; GB/T 35273 个人基因) and human genetic resources are
important data (Jiangsu FTZ subclass 27), so one finding says which format, how many records and,
where the format names them, how many people (samples).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detectors.catalogue import DataClass
from detectors.engine import Finding

IDENTIFIER = "genetic_data"
VERSION = 1
BASIS = (
    "个人信息保护法 第二十八条 (生物识别信息); GB/T 35273-2020 附录B 个人生物识别信息 (个人基因); "
    "人类遗传资源管理条例"
)
HEAD_BYTES = 64 * 1024  # formats are recognised from their first lines
_BASES = re.compile(rb"[ACGTUNacgtun]{20,}\r?")
_VCF_COLUMNS = 9  # CHROM POS ID REF ALT QUAL FILTER INFO FORMAT, then one column per sample
_GENOTYPE_HEADER = re.compile(
    rb"^#\s*rsid\s+chromosome\s+position\s+(?:genotype|allele1)", re.M | re.I
)


@dataclass(frozen=True, slots=True)
class GeneticContent:
    format: str  # vcf, sam, fastq, fasta, genotype
    records: int  # variants, alignments, reads, sequences or genotype calls
    samples: tuple[bytes, ...]  # sample names where the format has them
    single_person: bool = False  # a consumer export: the file is one person's genome


def _data_lines(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith((b"#", b"@")))


def sniff_genetic(text: bytes) -> GeneticContent | None:
    """The genetic format of ``text`` and its size, or None."""
    head = text[:HEAD_BYTES]
    if head.startswith(b"##fileformat=VCF"):
        samples: tuple[bytes, ...] = ()
        for line in head.splitlines():
            if line.startswith(b"#CHROM"):
                samples = tuple(line.rstrip(b"\r").split(b"\t")[_VCF_COLUMNS:])
                break
        return GeneticContent("vcf", _data_lines(text), samples)
    if head.startswith((b"@HD\t", b"@SQ\t")):
        groups = re.findall(rb"^@RG\t.*?\bSM:([^\t\r\n]+)", head, re.M)
        return GeneticContent("sam", _data_lines(text), tuple(dict.fromkeys(groups)))
    if _GENOTYPE_HEADER.search(head):
        return GeneticContent("genotype", _data_lines(text), (), single_person=True)
    lines = head.split(b"\n", 4)
    fastq = len(lines) >= 4 and lines[0].startswith(b"@") and lines[2].startswith(b"+")
    if fastq and _BASES.fullmatch(lines[1]):
        return GeneticContent("fastq", text.count(b"\n") // 4 or 1, ())
    if len(lines) >= 2 and lines[0].startswith(b">") and _BASES.fullmatch(lines[1]):
        return GeneticContent("fasta", text.count(b"\n>") + 1, ())
    return None


def genetic_finding(content: GeneticContent) -> Finding:
    """The finding for one genetic file; its sample is a description, not data."""
    people = len(content.samples) or (1 if content.single_person else 0)
    description = f"{content.format}: {content.records} records"
    if people:
        description += f", {people} {'person' if people == 1 else 'samples'}"
    return Finding(
        identifier=IDENTIFIER,
        rule=f"{IDENTIFIER}@{VERSION}",
        name_en="Genetic data (sequences, variants, genotypes)",
        name_zh="个人基因信息",
        data_class=DataClass.SENSITIVE_PERSONAL,
        basis=BASIS,
        count=content.records,
        distinct=people,
        rejected=0,
        masked_samples=(description,),
        offsets=(0,),
        taxonomy="PI.biometric.genetic",
        confidence=1.0,
    )
