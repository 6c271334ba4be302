"""ZIP archives without their central directory (sensor/content/ziplocal.py): members read from
their local headers agree with zipfile on whole archives, a cut archive gives every member before
the cut and what there is of the cut one, and an upload cut by the object limit is counted."""

from __future__ import annotations

import io
import random
import zipfile
import zlib
from pathlib import Path

import pytest

from bench.traffic.people import SyntheticPeople
from sensor.content.extract import extract
from sensor.content.ziplocal import DEFLATED, STORED, local_members
from tests.test_stream_audit import _audit, _capture, _people


def _csv(people: int, seed: int) -> bytes:
    gen = SyntheticPeople(seed)
    rows = ["姓名,身份证号,手机号"] + [
        f"{p.name},{p.resident_id},{p.mobile}" for p in gen.people(people)
    ]
    return ("\n".join(rows) + "\n").encode()


MEMBERS = {
    "a/people.csv": (_csv(60, 1), zipfile.ZIP_DEFLATED),
    "b/notes.txt": (b"no personal data here\n" * 40, zipfile.ZIP_STORED),
    "c/more.csv": (_csv(60, 2), zipfile.ZIP_DEFLATED),
}


def _zip(streamed: bool = False, zip64: bool = False) -> bytes:
    """The members written by zipfile; ``streamed``: to a pipe-like stream (sizes in data
    descriptors after the data, flag bit 3)."""
    target: io.RawIOBase | io.BytesIO = _Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w") as archive:
        for name, (data, method) in MEMBERS.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = method
            with archive.open(info, "w", force_zip64=zip64) as member:
                member.write(data)
    return target.getvalue()


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def getvalue(self) -> bytes:
        return bytes(self.buffer)


def _inflated(member_data: memoryview, method: int) -> bytes:
    if method == STORED:
        return bytes(member_data)
    assert method == DEFLATED
    return zlib.decompressobj(-zlib.MAX_WBITS).decompress(member_data)


@pytest.mark.parametrize(("streamed", "zip64"), [(False, False), (True, False), (False, True)])
def test_local_headers_give_what_zipfile_gives(streamed: bool, zip64: bool) -> None:
    data = _zip(streamed, zip64)
    members = list(local_members(data))
    assert [m.name for m in members] == list(MEMBERS)
    for member in members:
        assert not member.truncated and not member.resynced and not member.encrypted
        assert _inflated(member.data, member.method) == MEMBERS[member.name][0]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_cut_archive_gives_the_members_before_the_cut(streamed: bool) -> None:
    data = _zip(streamed)
    whole = list(local_members(data))
    second_end = data.find(b"PK\x03\x04", data.find(b"b/notes.txt"))  # the third header
    cut = data[: second_end + 400]  # inside the third member's data
    members = list(local_members(cut))
    assert [m.name for m in members] == [m.name for m in whole]
    assert [m.truncated for m in members] == [False, False, True]
    partial = _inflated(members[2].data, members[2].method)
    assert 0 < len(partial) < len(MEMBERS["c/more.csv"][0])
    assert MEMBERS["c/more.csv"][0].startswith(partial)


def test_bytes_between_members_are_skipped() -> None:
    data = _zip()
    third = data.find(b"PK\x03\x04", data.find(b"b/notes.txt"))
    damaged = data[:third] + b"\x00garbage" + data[third:]
    members = list(local_members(damaged))
    assert [m.resynced for m in members] == [False, False, True]
    assert _inflated(members[2].data, members[2].method) == MEMBERS["c/more.csv"][0]


def test_extraction_of_a_cut_archive_reads_its_members() -> None:
    data = _zip()
    cut = data[: data.find(b"PK\x01\x02") - 100]  # no central directory, the last member cut
    result = extract(cut)
    flags = result.flags
    assert "zip:local-headers" in flags and "zip:truncated" in flags
    assert "error:zip" not in flags
    paths = [p.path for p in result.parts]
    assert paths[:2] == ["a/people.csv", "b/notes.txt"]
    assert result.parts[0].text == MEMBERS["a/people.csv"][0]


def test_random_damage_never_escapes() -> None:
    data = _zip(streamed=True)
    rng = random.Random(4)
    for _ in range(400):
        damaged = bytearray(data[: rng.randint(0, len(data))])
        for _ in range(rng.randint(0, 6)):
            if damaged:
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        list(local_members(bytes(damaged)))
        extract(bytes(damaged))


def test_a_zip_upload_cut_by_the_object_limit_is_counted(tmp_path: Path) -> None:
    """A deflated CSV export in a ZIP larger than the limit: the kept head used to be an
    unreadable archive (no central directory), 0 people; now its complete members count."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for k in range(6):
            archive.writestr(f"export-{k}.csv", _csv(100, 10 + k))
    body = buffer.getvalue()
    limit = len(body) // 2
    request = (
        b"POST /upload HTTP/1.1\r\nHost: files.example\r\nContent-Type: application/zip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    pcap = _capture(body, request=request)
    whole, _ = _audit(tmp_path, "whole", pcap, max_object_bytes=len(body) + 1)
    cut, obj = _audit(tmp_path, "cut", pcap, max_object_bytes=limit)
    assert _people(whole) == 600
    complete = sum(1 for m in local_members(body[:limit]) if not m.truncated)
    assert complete >= 2
    assert 100 * complete <= _people(cut) < 600
    assert "content:zip:local-headers" in obj["object"]["flags"]
