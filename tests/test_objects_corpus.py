"""Objects rebuilt from the shared real-capture corpus against what Suricata and Zeek extracted.

Every capture whose manifest lists ``http`` runs through ``Audit`` (with object extraction); each
file the reference tools report with a sha256 or a size must be among our objects, and each Zeek
HTTP transaction with a body length must have an object of that size for its URI. Where we
cannot match yet, ``EXCEPTIONS`` names the expected item and says why; a listed item that starts
matching is fine (the list is then out of date, not wrong). A few captures are also compared with
``tshark --export-objects http`` when tshark is installed.

The corpus lives outside the repository (``../shared/corpus/real``); the tests skip without it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sensor.audit import Audit
from sensor.config import EgressConfig

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "real"
MANIFEST = CORPUS / "manifest.json"


# capture -> {expected sha256, size, or host+URI of a transaction: why we do not reproduce it}
EXCEPTIONS: dict[str, dict[str | int, str]] = {
    "zeek/http-byteranges-hole.pcap": {
        54229: "Zeek reports the 54,229 bytes it saw of a 605 MB file as one file with a 4 MB "
        "hole; egress stitches ranged files up to limits.max_object_bytes (64 MiB) and inspects "
        "the 20 pieces of this one one by one (http.range_file_too_large)"
    },
    "suricata/http-gap-simple.pcap": {
        14: "Suricata counts 2 bytes the HTTP/1.0 server sent past Content-Length: 12 before "
        "closing; we keep the 12 declared bytes (the gapped 70-byte file does match)",
    },
}

# The reference tool stopped the file early: our object's first ``length`` bytes must have its hash.
# capture -> {sha256: (length, why)}
PREFIX_CHECKS: dict[str, dict[str, tuple[int, str]]] = {
    "suricata/http-multipart-truncated.pcap": {
        "0adad78526c1b9c35f349a2cc7014c458aa87adcb9ec86f052fd8a9a80584e39": (
            101422,
            "Suricata ran with request-body-limit 100kb and cut the uploaded part at 101422 "
            "bytes; we keep the whole part (133722 bytes)",
        ),
    },
    "suricata/http-rst-unacked-10.pcap": {
        "8ff57c7fc0d4babd27e2e914ad9b556b1b980a69710d3917266ec1cb4edbb782": (
            49585,
            "the download has holes (the capture lost segments before the RST); Suricata closes "
            "the file part-way, after 49585 bytes, while we keep every byte we have (52161, "
            "6440 missing, flagged gap)",
        ),
    },
}

TSHARK_CAPTURES = [
    "zeek/http-pipelined-mozilla.pcap",
    "zeek/http-post-body.pcap",
    "suricata/http-brotli-content-encoding.pcap",
    "suricata/http-pdf-download-filestore.pcap",
    "zeek/http-x-gzip.pcap",
    "zeek/http-deflate-no-zlib-header.pcap",
    "zeek/http-100-continue-post.pcap",
]


def _manifest() -> list[dict[str, Any]]:
    if not MANIFEST.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text())
    return [e for e in entries if "http" in e.get("protocols", [])]


def _files(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Expected files that say what to compare: a sha256 or a size."""
    return [f for f in entry["expected"].get("files", []) if "sha256" in f or "size" in f]


def _transactions(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Zeek HTTP transactions with a body (HTTP/0.9 has no request line or headers we parse)."""
    return [
        h
        for h in entry["expected"].get("http", [])
        if h["by"] == "zeek"
        and (h.get("response_body_len") or h.get("request_body_len"))
        and h.get("version") != "0.9"
    ]


HTTP_CAPTURES = _manifest()
WITH_FILES = [e for e in HTTP_CAPTURES if _files(e)]
WITH_TRANSACTIONS = [e for e in HTTP_CAPTURES if _transactions(e)]
pytestmark = pytest.mark.skipif(not HTTP_CAPTURES, reason=f"no corpus at {CORPUS}")

_cache: dict[str, tuple[list[dict[str, Any]], Path]] = {}


def _objects(name: str, tmp_root: Path) -> tuple[list[dict[str, Any]], Path]:
    """objects.jsonl records of one capture and the case folder (one audit per capture)."""
    if name not in _cache:
        out = tmp_root / name.replace("/", "_")
        Audit(EgressConfig(), out, extract_objects=True).run([CORPUS / name])
        lines = (out / "objects.jsonl").read_text().splitlines()
        _cache[name] = ([json.loads(line)["object"] for line in lines], out)
    return _cache[name]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def _file_matches(expected: dict[str, Any], objects: list[dict[str, Any]]) -> int:
    def hit(obj: dict[str, Any]) -> bool:
        size = obj["size"] + obj["gap_bytes"] if expected.get("gaps") else obj["size"]
        return ("sha256" not in expected or obj["sha256"] == expected["sha256"]) and (
            "size" not in expected or size == expected["size"]
        )

    return sum(1 for obj in objects if hit(obj))


@pytest.mark.parametrize("entry", WITH_FILES, ids=[e["file"] for e in WITH_FILES])
def test_expected_files_are_reproduced(entry: dict[str, Any], tmp_root: Path) -> None:
    name = entry["file"]
    files = _files(entry)
    objects, case = _objects(name, tmp_root)
    excepted = EXCEPTIONS.get(name, {})
    missing = []
    for expected in files:
        key = expected.get("sha256", expected.get("size"))
        prefix = PREFIX_CHECKS.get(name, {}).get(expected.get("sha256", ""))
        if prefix is not None:
            length, why = prefix
            bodies = [(case / o["extracted"]).read_bytes() for o in objects if o["extracted"]]
            assert expected["sha256"] in {hashlib.sha256(b[:length]).hexdigest() for b in bodies}, (
                why
            )
            continue
        if _file_matches(expected, objects) < expected.get("count", 1) and key not in excepted:
            missing.append(expected)
    assert not missing, f"not reproduced: {missing}"


@pytest.mark.parametrize("entry", WITH_TRANSACTIONS, ids=[e["file"] for e in WITH_TRANSACTIONS])
def test_zeek_transactions_have_objects_of_their_body_length(
    entry: dict[str, Any], tmp_root: Path
) -> None:
    transactions = _transactions(entry)
    objects, _ = _objects(entry["file"], tmp_root)
    excepted = EXCEPTIONS.get(entry["file"], {})
    have = {(o["direction"], o["url"]["path"], o["size"]) for o in objects}
    missing = []
    for tx in transactions:
        path = urlsplit(tx["uri"]).path
        wanted = []
        if tx.get("request_body_len"):
            wanted.append(("upload", path, tx["request_body_len"]))
        if tx.get("response_body_len"):
            wanted.append(("download", path, tx["response_body_len"]))
        key = tx.get("host", "") + tx["uri"]
        missing += [w for w in wanted if w not in have and key not in excepted]
    assert not missing, f"no object for {missing}"


def _tshark_objects(capture: Path, out: Path) -> set[str]:
    out.mkdir()
    subprocess.run(
        ["tshark", "-r", str(capture), "-q", "--export-objects", f"http,{out}"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", TSHARK_CAPTURES)
def test_tshark_export_objects_agree(name: str, tmp_root: Path, tmp_path: Path) -> None:
    if not (CORPUS / name).exists():
        pytest.skip("capture not in this corpus")
    theirs = _tshark_objects(CORPUS / name, tmp_path / "tshark")
    ours = {o["sha256"] for o in _objects(name, tmp_root)[0]}
    assert theirs and theirs <= ours
