"""The application layer takes coalesced runs only where that changes nothing (``quiet``).

The batch path hands a flow direction's in-order run of segments in a block to a coalescing
handler as one chunk, at the place of the run's last segment, as far as the handler's ``quiet``
budget read when the block starts allows (``sensor.decode.plan``). These tests feed the real
``AppLayerHandler`` the same segments both ways, one by one at their own time and the batch
path's way over random block boundaries, and compare every object record (timestamps included),
body, text view and anomaly. The audits in tests/test_batch_decode.py check the same end to end.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.anomalies import AnomalyCounter
from sensor.app import AppContext, AppLayerHandler
from sensor.flows.reassembly import StreamReassembler
from sensor.flows.table import Direction, Flow, FlowSide
from sensor.objects import TransferObject, object_record
from sensor.protocols.ftp.expect import DataExpectations
from sensor.protocols.ftp_transfers import FtpTransfers
from sensor.protocols.http import Side

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 8080)
UP, DOWN = Direction.TO_RESPONDER, Direction.TO_ORIGINATOR
T0 = 1_700_000_000.0

Events = list[tuple[Direction, bytes]]
Outcome = tuple[list[tuple[Any, ...]], list[tuple[float, str, str]], str]
Sink = Callable[[TransferObject], None]
Setup = Callable[[Flow, Sink, AnomalyCounter], AppLayerHandler]


class _Watch(AnomalyCounter):
    """Objects and anomalies with the wire position (``Flow.last``) at which they happened: a
    coalesced run must not move one past another flow's segment."""

    def __init__(self, flow: Flow) -> None:
        super().__init__()
        self.flow = flow
        self.objects: list[tuple[float, TransferObject]] = []
        self.log: list[tuple[float, str, str]] = []

    def sink(self, obj: TransferObject) -> None:
        self.objects.append((self.flow.last, obj))

    def count(self, name: str, detail: str = "", n: int = 1) -> None:
        super().count(name, detail, n)
        self.log.append((self.flow.last, name, detail))


def _flow(uid: str = "F1", orig: tuple[str, int] = CLIENT, resp: tuple[str, int] = SERVER) -> Flow:
    anomalies = AnomalyCounter()
    return Flow(
        uid,
        *orig,
        *resp,
        (),
        T0,
        T0,
        FlowSide(StreamReassembler(anomalies)),
        FlowSide(StreamReassembler(anomalies)),
    )


def _http(max_bytes: int) -> Setup:
    return lambda flow, sink, anomalies: AppLayerHandler(flow, sink, anomalies, max_bytes)


def _outcome(watch: _Watch, protocol: str) -> Outcome:
    objects = [
        (at, object_record(o, sensor_id="s", source="c"), bytes(o.body), o.text_view)
        for at, o in watch.objects
    ]
    return objects, watch.log, protocol


def _one_by_one(events: Events, setup: Setup, end: Callable[[], None] = lambda: None) -> Outcome:
    """Every segment at its own place and time, as the per-packet path delivers them."""
    flow = _flow()
    watch = _Watch(flow)
    handler = setup(flow, watch.sink, watch)
    for i, (direction, data) in enumerate(events):
        flow.last = T0 + i
        handler.on_data(flow, direction, 0, data)
    flow.last = T0 + len(events)
    handler.on_close(flow)
    end()
    return _outcome(watch, handler.protocol)


def _in_blocks(
    events: Events, setup: Setup, blocks: list[int], end: Callable[[], None] = lambda: None
) -> tuple[Outcome, int]:
    """The batch path's delivery (``sensor.decode.plan._in_order``): per block and direction,
    the first segments that fit in the ``quiet`` budget read at the block's start go as one
    chunk at the place and time of the last of them, when there are two or more; the others at
    their own place. Also returns how many calls the runs saved."""
    flow = _flow()
    watch = _Watch(flow)
    handler = setup(flow, watch.sink, watch)
    saved = 0
    bounds = [0, *sorted(b for b in set(blocks) if 0 < b < len(events)), len(events)]
    for lo, hi in pairwise(bounds):
        runs: dict[int, list[int]] = {}  # the run's last position -> its positions
        members: set[int] = set()
        for direction in (UP, DOWN):
            budget, total, fits = handler.quiet(direction), 0, []
            for i in (i for i in range(lo, hi) if events[i][0] is direction):
                total += len(events[i][1])
                if total > budget:
                    break
                fits.append(i)
            if len(fits) > 1:
                runs[fits[-1]] = fits
                members.update(fits)
                saved += len(fits) - 1
        for i in range(lo, hi):
            direction, data = events[i]
            if i in members and i not in runs:
                continue
            flow.last = T0 + i
            if i in runs:
                data = b"".join(events[k][1] for k in runs[i])
            handler.on_data(flow, direction, 0, data)
    flow.last = T0 + len(events)
    handler.on_close(flow)
    end()
    return _outcome(watch, handler.protocol), saved


def _body(size: int, salt: int) -> bytes:
    return bytes((k * 7 + salt) % 251 for k in range(size))


def _chunked(body: bytes, rng: random.Random) -> bytes:
    out, at = b"", 0
    while at < len(body):
        size = rng.randint(1, 900)
        out += b"%x\r\n" % len(body[at : at + size]) + body[at : at + size] + b"\r\n"
        at += size
    return out + b"0\r\n\r\n"


def _request(kind: str, body: bytes, rng: random.Random) -> bytes:
    if kind == "get":
        return b"GET /page HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    if kind == "chunked":
        head = b"POST /up HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head + _chunked(body, rng)
    if kind == "form":
        part = b"--XyZ\r\nContent-Disposition: form-data; name=%s; filename=%s.csv\r\n\r\n"
        half = len(body) // 2
        form = b"".join(
            part % (name, name) + piece + b"\r\n"
            for name, piece in ((b"a", body[:half]), (b"b", body[half:]))
        )
        form += b"--XyZ--\r\n"
        return (
            b"POST /form HTTP/1.1\r\nHost: shop.example\r\n"
            b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
            b"Content-Length: %d\r\n\r\n" % len(form) + form
        )
    return (
        b"POST /up HTTP/1.1\r\nHost: shop.example\r\nContent-Type: text/csv\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body
    )


def _response(kind: str, body: bytes, rng: random.Random) -> bytes:
    if kind == "chunked":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, rng)
    if kind == "gzip":
        packed = gzip.compress(body, mtime=0)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(packed) + packed
        )
    if kind == "close":  # no framing: the body runs until the connection closes
        return b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def _segments(stream: bytes, rng: random.Random, largest: int) -> list[bytes]:
    out, at = [], 0
    while at < len(stream):
        size = rng.randint(1, largest)
        out.append(stream[at : at + size])
        at += size
    return out


def _interleave(up: list[bytes], down: list[bytes], rng: random.Random) -> Events:
    events: Events = []
    i = j = 0
    while i < len(up) or j < len(down):
        if j >= len(down) or (i < len(up) and rng.random() < 0.5):
            events.append((UP, up[i]))
            i += 1
        else:
            events.append((DOWN, down[j]))
            j += 1
    return events


@st.composite
def _exchanges(draw: st.DrawFn) -> tuple[Events, list[int], int]:
    rng = draw(st.randoms(use_true_random=False))
    up, down = b"", b""
    count = draw(st.integers(1, 4))
    for n in range(count):
        kinds = ["length", "chunked", "gzip"] + (["close"] if n == count - 1 else [])
        up_body = _body(draw(st.integers(0, 4000)), n)
        up += _request(draw(st.sampled_from(["get", "length", "chunked", "form"])), up_body, rng)
        down += _response(draw(st.sampled_from(kinds)), _body(draw(st.integers(0, 6000)), n), rng)
    largest = draw(st.integers(1, 1500))
    events = _interleave(_segments(up, rng, largest), _segments(down, rng, largest), rng)
    blocks = draw(st.lists(st.integers(0, len(events)), max_size=40))
    max_bytes = draw(st.sampled_from([700, 5000, 1 << 20]))
    return events, blocks, max_bytes


@settings(max_examples=150, deadline=None)
@given(_exchanges())
def test_quiet_runs_give_the_per_segment_objects(case: tuple[Events, list[int], int]) -> None:
    events, blocks, max_bytes = case
    expected = _one_by_one(events, _http(max_bytes))
    got, _ = _in_blocks(events, _http(max_bytes), blocks)
    assert got == expected


def test_runs_form_inside_bodies_and_stop_before_what_is_not_quiet() -> None:
    rng = random.Random(5)
    body = _body(90_000, 3)
    up = _segments(_request("length", body, rng) + _request("get", b"", rng), rng, 1400)
    down = _segments(_response("length", body, rng) + _response("close", body, rng), rng, 1400)
    events = _interleave(up, down, rng)
    blocks = list(range(0, len(events), 12))
    for max_bytes in (1 << 20, 40_000):  # 40 000: the size limit falls inside the bodies
        expected = _one_by_one(events, _http(max_bytes))
        got, saved = _in_blocks(events, _http(max_bytes), blocks)
        assert got == expected
        assert saved > len(events) // (2 if max_bytes > len(body) else 4)
        objects = expected[0]
        assert len(objects) == 3 and all(o[1]["object"]["size"] == len(body) for o in objects)
        truncated = ["truncated" in o[1]["object"]["flags"] for o in objects]
        assert truncated == [max_bytes < len(body)] * 3


def test_small_segments_over_parts_and_decoded_bodies() -> None:
    """Multipart parts and content-decoded bodies are not quiet: a part's head read in a run
    would take the run's time, decoder limits its counts."""
    rng = random.Random(9)
    form = _request("form", _body(300, 1), rng) + _request("length", _body(50, 2), rng)
    answer = _response("gzip", _body(3000, 3), rng) + _response("chunked", _body(2000, 4), rng)
    events = _interleave(_segments(form, rng, 9), _segments(answer, rng, 9), rng)
    for every in (2, 3, 5, 8):
        blocks = list(range(0, len(events), every))
        for max_bytes in (100, 1 << 20):
            got, saved = _in_blocks(events, _http(max_bytes), blocks)
            assert got == _one_by_one(events, _http(max_bytes)) and saved


def test_quiet_is_zero_where_bytes_mean_more_than_body() -> None:
    flow, found, anomalies = _flow(), [], AnomalyCounter()
    handler = AppLayerHandler(flow, found.append, anomalies, 1 << 20)
    assert handler.quiet(UP) == handler.quiet(DOWN) == 0  # protocol not known yet
    handler.on_data(flow, UP, 0, b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
    assert handler.quiet(UP) == 9  # the last byte ends the message: an object is emitted
    handler.on_data(flow, UP, 0, b"12345")
    assert handler.quiet(UP) == 4 and handler.quiet(DOWN) == 0  # no response head yet
    handler.on_data(flow, DOWN, 0, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n")
    handler.on_data(flow, DOWN, 0, b"Content-Length: 99\r\n\r\n")
    assert handler.quiet(DOWN) == 0  # decoded bodies are not split-independent: per segment
    handler.on_data(flow, UP, 0, b"67890GET / HTTP/1.1\r\n")
    assert handler.quiet(UP) == 0  # a head is being read
    assert len(found) == 1


def test_ftp_data_is_quiet_once_its_object_exists() -> None:
    data = [b"id,name\n"] + [b"%06d,person\n" % i for i in range(300)]
    for blocks in ([], list(range(0, 301, 7)), [1, 2, 3]):
        outcomes = []
        for coalesce in (False, True):
            control = _Watch(_flow("C1"))  # objects and the size limit are the control's
            table = DataExpectations(control)
            ftp = FtpTransfers(
                uid="C1",
                vlan=(),
                client=CLIENT,
                server=SERVER,
                clock=lambda: T0,
                sink=control.sink,
                anomalies=control,
                max_object_bytes=2000,
                expectations=table,
            )
            ftp.data(Side.SERVER, b"220 ready\r\n")
            ftp.data(Side.CLIENT, b"PASV\r\n")
            ftp.data(Side.SERVER, b"227 Entering Passive Mode (10,0,0,2,19,137).\r\n")
            ftp.data(Side.CLIENT, b"STOR staff.csv\r\n")
            ftp.data(Side.SERVER, b"150 ok\r\n")

            def setup(flow: Flow, sink: Sink, counter: AnomalyCounter) -> AppLayerHandler:
                flow.orig_port, flow.resp_port = 50000, 5001
                control.flow = flow  # noqa: B023 - used within this iteration
                context = AppContext(expectations=table)  # noqa: B023
                handler = AppLayerHandler(flow, sink, counter, 2000, context)
                assert handler.protocol == "ftp-data" and handler.quiet(UP) == 0
                return handler

            def end() -> None:
                ftp.data(Side.SERVER, b"226 done\r\n")  # noqa: B023

            events = [(UP, chunk) for chunk in data]
            if coalesce:
                outcome, saved = _in_blocks(events, setup, blocks, end)
                assert saved > 0 or blocks == []
            else:
                outcome = _one_by_one(events, setup, end)
            outcomes.append((outcome, _outcome(control, "")))
        assert outcomes[0] == outcomes[1]
        ((_, record, body, _),) = outcomes[0][1][0]
        assert record["object"]["size"] == sum(map(len, data)) and len(body) == 2000
        assert [name for _, name, _ in outcomes[0][1][1]] == ["objects.truncated_at_size_limit"]
