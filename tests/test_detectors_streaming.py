"""Stream inspection of the bytes past the object limit (detectors.streaming)."""

from __future__ import annotations

import random

import pytest

from bench.traffic.people import SyntheticPeople
from detectors.catalogue import load_catalogue
from detectors.engine import DetectionEngine, ObjectFindings
from detectors.streaming import ObjectScanner, stream_margin

ENGINE = DetectionEngine(load_catalogue(), identity_key=b"stream-test-key-0123")


def _text(seed: int, people: int, filler: int = 300) -> tuple[bytes, list[str]]:
    """Free text with one person (resident ID, mobile) every few hundred bytes, and decoys."""
    rng = random.Random(seed)
    gen = SyntheticPeople(seed)
    parts: list[str] = []
    ids: list[str] = []
    for _ in range(people):
        person = gen.person()
        ids.append(person.resident_id)
        parts.append("lorem ipsum " * rng.randint(1, filler // 12))
        parts.append(f"身份证号 {person.resident_id}，手机 {person.mobile}。")
        parts.append(f"订单号 {gen.decoy_wrong_check().value} ")
    return "".join(parts).encode(), ids


def _streamed(data: bytes, cuts: list[int], **kw: int) -> tuple[ObjectFindings, ObjectScanner]:
    scanner = ObjectScanner(ENGINE, **kw)
    last = 0
    for cut in [*cuts, len(data)]:
        scanner.feed(data[last:cut])
        last = cut
    return scanner.close(), scanner


def _by_id(findings: ObjectFindings) -> dict[str, tuple[int, int]]:
    return {f.identifier: (f.count, f.rejected) for f in findings.findings if f.count or f.rejected}


def test_match_straddling_two_chunks_found_once_at_every_split() -> None:
    gen = SyntheticPeople(7)
    person = gen.person()
    data = f"客户资料 身份证号：{person.resident_id} 电话 {person.mobile} 结束".encode()
    block = ENGINE.inspect(data)
    assert _by_id(block)  # the sample has findings in block mode
    where = data.index(person.resident_id.encode())
    for split in range(where, where + len(person.resident_id) + 1):
        streamed, _ = _streamed(data, [split], batch=1)
        assert _by_id(streamed) == _by_id(block), split
        assert streamed.individual_keys == block.individual_keys, split
        assert [f.masked_samples for f in streamed.findings] == [
            f.masked_samples for f in block.findings
        ]


def test_every_byte_a_chunk_gives_block_results() -> None:
    data, _ = _text(3, 5)
    block = ENGINE.inspect(data)
    streamed, scanner = _streamed(data, list(range(1, len(data))), batch=64)
    assert _by_id(streamed) == _by_id(block)
    assert streamed.distinct_individuals == block.distinct_individuals == 5
    assert scanner.stats.rounds > 10


@pytest.mark.parametrize("batch", [97, 1000, 4096])
def test_large_object_same_people_as_block_with_bounded_memory(batch: int) -> None:
    data, ids = _text(11, 300)
    block = ENGINE.inspect(data)
    rng = random.Random(batch)
    cuts = sorted(rng.sample(range(1, len(data)), 400))
    streamed, scanner = _streamed(data, cuts, batch=batch)
    assert block.distinct_individuals == len(set(ids))
    assert streamed.distinct_individuals == block.distinct_individuals
    assert streamed.individual_keys == block.individual_keys
    assert _by_id(streamed) == _by_id(block)
    stats = scanner.stats
    longest_chunk = max(b - a for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))
    assert stats.max_buffer <= batch + 2 * stream_margin(ENGINE) + longest_chunk
    assert stats.max_buffer < len(data) // 4
    assert stats.kept_values == sum(f.count for f in block.findings if f.identifier in _RANKED)
    assert stats.values_dropped == 0


_RANKED = {s.id for s in ENGINE.specs if s.individual_rank is not None}


def test_value_cap_is_counted() -> None:
    data, _ = _text(5, 40)
    streamed, scanner = _streamed(data, [], batch=512, max_values=10)
    assert scanner.stats.kept_values == 10
    assert scanner.stats.values_dropped > 0
    block = ENGINE.inspect(data)
    assert _by_id(streamed) == _by_id(block)  # counts still cover every value
    assert streamed.distinct_individuals <= block.distinct_individuals


def test_gap_resets_the_stream_and_is_counted() -> None:
    gen = SyntheticPeople(9)
    rid = gen.person().resident_id.encode()
    head = b"ID " + rid[:9]
    tail = rid[9:] + b" end. "
    scanner = ObjectScanner(ENGINE, batch=1)
    scanner.feed(head)
    scanner.gap(1460)
    scanner.feed(tail)
    whole = b"x " + rid + b" y"
    scanner.feed(whole)
    findings = scanner.close()
    counts = _by_id(findings)
    assert counts.get("cn_resident_id", (0, 0))[0] == 1  # only the one after the hole
    stats = scanner.stats
    assert (stats.gaps, stats.gap_bytes) == (1, 1460)
    assert stats.end == len(head) + 1460 + len(tail) + len(whole)
    assert findings.findings[0].offsets == (len(head) + 1460 + len(tail) + 2,)


def test_history_lets_a_value_straddle_the_block_limit() -> None:
    gen = SyntheticPeople(4)
    rid = gen.person().resident_id.encode()
    data = b"filler text " * 40 + b"ID: " + rid + b" tail"
    limit = data.index(rid) + 7
    scanner = ObjectScanner(ENGINE, start=limit, history=data[:limit])
    scanner.feed(data[limit:])
    streamed = scanner.close()
    assert _by_id(streamed).get("cn_resident_id", (0, 0))[0] == 1
    found = next(f for f in streamed.findings if f.identifier == "cn_resident_id")
    assert found.offsets == (data.index(rid),)
    # block mode over the kept part does not own it (it ends past the limit)
    assert "cn_resident_id" not in _by_id(ENGINE.inspect(data[:limit]))


def _table(seed: int, people: int) -> tuple[bytes, int]:
    """A CSV export where a row names one person by ID, mobile and e-mail, by mobile only, or by
    e-mail only, with some rows repeated: read as free text (the kind with most distinct values)
    it undercounts; read by rows every person counts once."""
    gen = SyntheticPeople(seed)
    rng = random.Random(seed)
    lines = ["姓名,身份证号,手机号,邮箱"]
    rows: list[str] = []
    for i in range(people):
        p = gen.person()
        kind = i % 3
        if kind == 0:
            rows.append(f"{p.name},{p.resident_id},{p.mobile},{p.email}")
        elif kind == 1:
            rows.append(f"{p.name},,{p.mobile},")
        else:
            rows.append(f"{p.name},,,{p.email}")
        if rng.random() < 0.1:
            rows.append(rng.choice(rows))  # the same person again, later in the file
    lines.extend(rows)
    return ("\n".join(lines) + "\n").encode(), people


def _split_inspection(data: bytes, limit: int, cuts: list[int], batch: int) -> set[str]:
    """People keys of block mode over the kept part plus stream mode past ``limit``."""
    head = ENGINE.inspect(data[:limit])
    scanner = ObjectScanner(ENGINE, start=limit, history=data[:limit], batch=batch)
    last = limit
    for cut in [*sorted(c for c in cuts if c > limit), len(data)]:
        scanner.feed(data[last:cut])
        last = cut
    stream = scanner.close()
    assert scanner.stats.table == "csv"
    return set(head.individual_keys) | set(stream.individual_keys)


def test_a_table_past_the_limit_is_counted_by_rows_as_in_block_mode() -> None:
    data, people = _table(21, 600)
    block = ENGINE.inspect(data)
    assert block.distinct_individuals == people
    rng = random.Random(2)
    for limit in (1000, len(data) // 3, len(data) - 500):
        cuts = sorted(rng.sample(range(1, len(data)), 300))
        keys = _split_inspection(data, limit, cuts, batch=2048)
        assert keys == set(block.individual_keys)
    # the same stream read as free text (what it was before): the largest kind only
    free = ObjectScanner(ENGINE, start=0, history=b"", batch=2048)
    free.feed(data[data.index(b"\n") + 1 :])
    assert free.stats.table == "" and free.close().distinct_individuals < people


def test_a_row_straddling_rounds_is_one_record_at_every_split() -> None:
    data, _ = _table(8, 30)
    block = set(ENGINE.inspect(data).individual_keys)
    limit = data.index(b"\n", 200) + 1
    for batch in (1, 7, 64):
        assert _split_inspection(data, limit, list(range(limit, len(data), 5)), batch) == block


def test_column_names_of_the_kept_part_raise_confidence_past_the_limit() -> None:
    """Unseparated landlines need context (confidence 0.3): block mode takes it from the 电话
    column's name, stream mode from the kept part's header."""
    gen = SyntheticPeople(12)
    rows = ["姓名,电话,备注"] + [
        f"{gen.person().name},0{area}{5550000 + i},ok"
        for i, area in enumerate([755, 512, 571, 931] * 40)
    ]
    data = ("\n".join(rows) + "\n").encode()
    found = {f.identifier: f.count for f in ENGINE.inspect(data).findings}
    assert found.get("cn_landline") == 160  # every one, on the column name alone
    limit = len(data) // 4
    scanner = ObjectScanner(ENGINE, start=limit, history=data[:limit], batch=512)
    scanner.feed(data[limit:])
    streamed = {f.identifier: f.count for f in scanner.close().findings}
    head = {f.identifier: f.count for f in ENGINE.inspect(data[:limit]).findings}
    assert head.get("cn_landline", 0) + streamed.get("cn_landline", 0) == 160
    assert streamed.get("cn_landline", 0) > 100
    text = ObjectScanner(ENGINE, start=0, history=b"", batch=512)  # no kept header: no context
    text.feed(data[limit:])
    assert {f.identifier: f.count for f in text.close().findings}.get("cn_landline", 0) == 0


def test_records_after_a_hole_never_merge_with_those_before() -> None:
    data, _ = _table(4, 60)
    limit = data.index(b"\n", 300) + 1
    cut = data.index(b"\n", len(data) // 2) - 5  # mid-row
    scanner = ObjectScanner(ENGINE, start=limit, history=data[:limit], batch=256)
    scanner.feed(data[limit:cut])
    scanner.gap(40)
    scanner.feed(data[cut + 40 :])
    before = scanner._lines_before
    scanner.close()
    assert scanner.stats.gaps == 1 and before > data[:cut].count(b"\n")


def test_the_record_across_the_block_limit_is_one_person() -> None:
    """Block mode names a row cut by the limit by what it saw (the name); the stream part names
    that row by the same value, so the two parts agree on one person (found by the CSV upload
    audit test: 2,401 people for 2,400 before). That person's key is the name's, where a block
    scan of the whole file would use the mobile's: the one difference."""
    gen = SyntheticPeople(31)
    rows = ["姓名,身份证号,手机号,邮箱"]
    rows += [f"{p.name},{p.resident_id},{p.mobile},{p.email}" for p in gen.people(20)]
    person = gen.person()
    rows.append(f"{person.name},,{person.mobile},")
    rows += [f"{p.name},{p.resident_id},{p.mobile},{p.email}" for p in gen.people(20)]
    data = ("\n".join(rows) + "\n").encode()
    limit = data.index(person.mobile.encode()) + 4  # the mobile is cut, the name is kept
    block = set(ENGINE.inspect(data).individual_keys)
    split = _split_inspection(data, limit, [], batch=4096)
    assert len(split) == len(block) == 41
    assert len(split ^ block) == 2


def test_important_data_terms_past_the_limit_are_scored() -> None:
    """Survey terms only in the tail of a large object: block mode over the kept part sees none,
    stream mode scores the tail as block mode scores the whole (subclass JSFTZ-03)."""
    head = ("普通会议纪要，讨论下季度的工作安排。" * 200).encode()
    tail = (
        "本批测绘成果包括遥感影像、正射影像、数字高程模型和地形图，附等高线与大地坐标。" * 60
    ).encode()
    data = head + tail
    whole = {i.code for i in ENGINE.inspect(data).important}
    assert "JSFTZ-03" in whole
    assert "JSFTZ-03" not in {i.code for i in ENGINE.inspect(head).important}
    scanner = ObjectScanner(ENGINE, start=len(head), history=head, batch=1024)
    for at in range(len(head), len(data), 1000):
        scanner.feed(data[at : at + 1000])
    streamed = scanner.close()
    found = {i.code: i for i in streamed.important}
    assert "JSFTZ-03" in found
    tail_only = {i.code: i for i in ENGINE.inspect(tail).important}["JSFTZ-03"]
    assert found["JSFTZ-03"].hits == tail_only.hits  # each hit owned once across the rounds
