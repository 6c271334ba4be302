"""Genetic data recognised by file format (detectors/genetic.py) and counted through inspection."""

from __future__ import annotations

import random

import pytest

from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine
from detectors.genetic import sniff_genetic
from sensor.inspection import inspect_part

ENGINE = DetectionEngine(load_catalogue((), frozenset()), identity_key=b"g" * 16)
RNG = random.Random(27)


def _bases(n: int) -> str:
    return "".join(RNG.choice("ACGT") for _ in range(n))


def vcf(samples: list[str], variants: int) -> bytes:
    lines = ["##fileformat=VCFv4.2", "##source=synthetic", "##FORMAT=<ID=GT,Number=1,Type=String>"]
    lines.append(
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        )
    )
    for i in range(variants):
        genotypes = [RNG.choice(["0/0", "0/1", "1/1"]) for _ in samples]
        lines.append(
            "\t".join(
                [
                    f"chr{1 + i % 22}",
                    str(10_000 + i * 37),
                    f"rs{100 + i}",
                    "A",
                    "G",
                    "50",
                    "PASS",
                    ".",
                    "GT",
                    *genotypes,
                ]
            )
        )
    return ("\n".join(lines) + "\n").encode()


FASTQ = "".join(f"@read{i}\n{_bases(100)}\n+\n{'I' * 100}\n" for i in range(5)).encode()
FASTA = "".join(f">seq{i} synthetic\n{_bases(60)}\n{_bases(60)}\n" for i in range(3)).encode()
SAM = (
    "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:248956422\n"
    "@RG\tID:g1\tSM:P001\n@RG\tID:g2\tSM:P002\n@RG\tID:g3\tSM:P001\n"
    + "".join(
        f"r{i}\t0\tchr1\t{100 + i}\t60\t20M\t*\t0\t0\t{_bases(20)}\t{'I' * 20}\n" for i in range(4)
    )
).encode()
GENOTYPE = (
    b"# rsid\tchromosome\tposition\tgenotype\nrs4477212\t1\t82154\tAA\nrs3094315\t1\t752566\tAG\n"
)


@pytest.mark.parametrize(
    ("data", "fmt", "records", "samples"),
    [
        (vcf(["P001", "P002", "P003"], 12), "vcf", 12, 3),
        (FASTQ, "fastq", 5, 0),
        (FASTA, "fasta", 3, 0),
        (SAM, "sam", 4, 2),
        (GENOTYPE, "genotype", 2, 0),
    ],
)
def test_formats_are_recognised_with_their_size(
    data: bytes, fmt: str, records: int, samples: int
) -> None:
    found = sniff_genetic(data)
    assert found is not None
    assert (found.format, found.records, len(found.samples)) == (fmt, records, samples)


@pytest.mark.parametrize(
    "data",
    [
        b"chrom,pos,value\n1,100,5\n2,200,7\n",
        b"@channel please review\nACGT is a band name\n+1\n",  # looks like FASTQ, is not
        b">quoted reply\nthanks\n",
    ],
)
def test_ordinary_text_is_not_genetic(data: bytes) -> None:
    assert sniff_genetic(data) is None


def test_samples_are_people_counted_once_by_keyed_hash() -> None:
    result = inspect_part(ENGINE, vcf(["P001", "P002", "P003", "P002"], 4))
    (finding,) = [f for f in result.findings if f.identifier == "genetic_data"]
    assert finding.data_class.value == "sensitive_personal_information"
    assert finding.count == 4 and finding.masked_samples == ("vcf: 4 records, 4 samples",)
    assert result.distinct_individuals == 3  # P002 twice is one person
    assert all("P00" not in key for key in result.individual_keys)


def test_a_consumer_export_is_one_person() -> None:
    result = inspect_part(ENGINE, GENOTYPE)
    assert result.distinct_individuals == 1
    assert [f.identifier for f in result.findings] == ["genetic_data"]


def test_vcf_samples_are_sensitive_people() -> None:
    result = inspect_part(ENGINE, vcf(["P001", "P002"], 3))
    assert result.individuals_by_class == {"personal": 2, "sensitive": 2, "account_or_medical": 0}
