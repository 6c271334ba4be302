"""ZIP archives without their central directory (sensor/content/ziplocal.py) and past the object
limit (sensor/content/zip_stream.py): members read from their local headers agree with zipfile, a
cut archive gives every member before the cut and what there is of the cut one, the stream decoder
inflates members in any pieces and after holes, and an upload twice the limit is counted whole."""

from __future__ import annotations

import io
import random
import zipfile
import zlib
from pathlib import Path

import pytest

from bench.traffic.people import SyntheticPeople
from sensor.content.extract import extract
from sensor.content.zip_stream import ZipStreamDecoder
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


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        step = rng.choice([1, 7, 30, 100, 1000, 5000])
        out.append(data[at : at + step])
        at += step
    return out


@pytest.mark.parametrize(("streamed", "zip64"), [(False, False), (True, False), (False, True)])
def test_the_stream_decoder_inflates_every_member_in_any_pieces(
    streamed: bool, zip64: bool
) -> None:
    data = _zip(streamed, zip64)
    want = b"".join(member for member, _method in MEMBERS.values())
    rng = random.Random(2)
    for _ in range(20):
        decoder = ZipStreamDecoder(1 << 30)
        got = b"".join(b"".join(decoder.feed(c)) for c in _chunks(data, rng))
        got += b"".join(decoder.finish())
        assert got == want
        assert decoder.members == 3 and not decoder.flags


def test_after_a_hole_the_stream_decoder_goes_on_at_the_next_member() -> None:
    data = _zip()
    hole_at = data.find(b"a/people.csv") + 500  # inside the first member's deflated data
    hole_end = hole_at + 300
    decoder = ZipStreamDecoder(1 << 30)
    got = b"".join(decoder.feed(data[:hole_at])) + b"".join(decoder.gap(hole_end - hole_at))
    got += b"".join(decoder.feed(data[hole_end:])) + b"".join(decoder.finish())
    first = MEMBERS["a/people.csv"][0]
    rest = MEMBERS["b/notes.txt"][0] + MEMBERS["c/more.csv"][0]
    assert got.endswith(rest)
    head = got[: len(got) - len(rest)]
    assert 0 < len(head) < len(first) and first.startswith(head)  # what was before the hole
    assert "zip:gap" in decoder.flags


def test_the_stream_decoder_stops_at_its_output_limit() -> None:
    decoder = ZipStreamDecoder(1000)
    got = b"".join(decoder.feed(_zip())) + b"".join(decoder.finish())
    assert len(got) == 1000 and "limit:zip_stream" in decoder.flags
    assert got == MEMBERS["a/people.csv"][0][:1000]


def test_the_stream_decoder_skips_an_encrypted_member() -> None:
    data = bytearray(_zip())
    second = data.find(b"PK\x03\x04", 1)
    data[second + 6] |= 0x01  # the stored notes member marked encrypted
    decoder = ZipStreamDecoder(1 << 30)
    got = b"".join(decoder.feed(bytes(data))) + b"".join(decoder.finish())
    assert got == MEMBERS["a/people.csv"][0] + MEMBERS["c/more.csv"][0]
    assert "encrypted" in decoder.flags


def test_the_stream_decoder_survives_random_damage() -> None:
    data = _zip(streamed=True)
    rng = random.Random(6)
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        decoder = ZipStreamDecoder(1 << 20)
        for chunk in _chunks(bytes(damaged), rng):
            decoder.feed(chunk)
            if rng.random() < 0.05:
                decoder.gap(10)
        decoder.finish()
        assert decoder.output <= 1 << 20


def test_a_zip_upload_past_the_object_limit_is_counted(tmp_path: Path) -> None:
    """A deflated CSV export in a ZIP twice the limit: block mode reads the kept head from its
    local headers (it used to be an unreadable archive: 0 people), stream mode inflates the
    members past the limit, and the alert counts all 600 people."""
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
    streamed, obj = _audit(tmp_path, "streamed", pcap, max_object_bytes=limit)
    head, _ = _audit(tmp_path, "head", pcap, max_object_bytes=limit, stream_past_limit=False)
    assert _people(whole) == 600
    assert _people(streamed) == 600
    complete = sum(1 for m in local_members(body[:limit]) if not m.truncated)
    assert complete >= 2
    assert 100 * complete <= _people(head) < 600
    flags = obj["object"]["flags"]
    assert "content:zip:local-headers" in flags and "stream:table=csv" in flags
    assert any(f.startswith("stream:zip_members=") for f in flags)
