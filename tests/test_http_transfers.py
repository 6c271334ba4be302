"""HTTP connections -> objects through the flow table and the application layer.

Sessions are built as TCP segments (handshake, data in 700-byte segments, FIN) and run through
``FlowTable`` with ``AppLayerHandler``, so sniffing, direction, orientation and decoding are
exercised together.
"""

from __future__ import annotations

import gzip
import hashlib
import json

import brotli  # type: ignore[import-untyped]
import zstandard

from sensor.anomalies import AnomalyCounter
from sensor.app import AppLayerHandler
from sensor.decode.packet import TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, TcpSegment
from sensor.flows.table import Flow, FlowTable
from sensor.objects import TransferObject, object_record

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 8080)
SEGMENT = 700


def _run(
    exchanges: list[tuple[bytes, bytes]],
    *,
    handshake: bool = True,
    max_object_bytes: int = 1 << 20,
    client: tuple[str, int] = CLIENT,
    server: tuple[str, int] = SERVER,
) -> tuple[list[TransferObject], AnomalyCounter, list[AppLayerHandler]]:
    objects: list[TransferObject] = []
    anomalies = AnomalyCounter()
    handlers: list[AppLayerHandler] = []

    def factory(flow: Flow) -> AppLayerHandler:
        handler = AppLayerHandler(flow, objects.append, anomalies, max_object_bytes)
        handlers.append(handler)
        return handler

    table = FlowTable(factory, anomalies)
    t = 1_700_000_000.0
    cseq, sseq = 1000, 5000

    def send(src: tuple[str, int], dst: tuple[str, int], seq: int, flags: int, data: bytes) -> None:
        nonlocal t
        t += 0.001
        table.process(TcpSegment(t, src[0], dst[0], src[1], dst[1], seq, 0, flags, data, ()))

    if handshake:
        send(client, server, cseq - 1, TCP_SYN, b"")
        send(server, client, sseq - 1, TCP_SYN | TCP_ACK, b"")
    for up, down in exchanges:
        for i in range(0, len(up), SEGMENT):
            send(client, server, cseq, TCP_ACK | TCP_PSH, up[i : i + SEGMENT])
            cseq += len(up[i : i + SEGMENT])
        for i in range(0, len(down), SEGMENT):
            send(server, client, sseq, TCP_ACK | TCP_PSH, down[i : i + SEGMENT])
            sseq += len(down[i : i + SEGMENT])
    send(client, server, cseq, TCP_FIN | TCP_ACK, b"")
    send(server, client, sseq, TCP_FIN | TCP_ACK, b"")
    table.flush()
    return objects, anomalies, handlers


def _response(body: bytes, headers: str = "", status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


def _request(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return (
        f"{method} {target} HTTP/1.1\r\nHost: example.com\r\n{length}{headers}\r\n".encode() + body
    )


BOUNDARY = "xYzZY"
MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="comment"\r\n\r\nhello\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="upload"; filename="staff.csv"\r\n'
    f"Content-Type: text/csv\r\n\r\nname,id\nzhang,11010519491231002X\n\r\n--{BOUNDARY}--\r\n"
).encode()


def test_upload_and_download_directions_and_orientation() -> None:
    objects, _, handlers = _run([(_request("POST", "/u", b"up data"), _response(b"down data"))])
    up, down = objects
    assert (up.direction, bytes(up.body), up.method, up.url) == (
        "upload",
        b"up data",
        "POST",
        "http://example.com/u",
    )
    assert (up.flow.src_ip, up.flow.dst_ip, up.flow.dst_port) == ("10.0.0.1", "10.0.0.2", 8080)
    assert (down.direction, bytes(down.body), down.status) == ("download", b"down data", 200)
    assert (down.method, down.url) == ("POST", "http://example.com/u")  # from its request
    assert (down.flow.src_ip, down.flow.src_port, down.flow.dst_ip) == (
        "10.0.0.2",
        8080,
        "10.0.0.1",
    )
    assert [o.index for o in objects] == [0, 1]
    assert up.sha256 == hashlib.sha256(b"up data").hexdigest()
    assert up.complete and down.complete
    assert handlers[0].protocol == "http"


def test_multipart_upload_becomes_one_object_per_part() -> None:
    request = _request(
        "POST", "/form", MULTIPART, f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    )
    objects, _, _ = _run([(request, _response(b"ok"))])
    parts = [o for o in objects if o.direction == "upload"]
    assert [(p.field_name, p.filename, bytes(p.body)) for p in parts] == [
        ("comment", "", b"hello"),
        ("upload", "staff.csv", b"name,id\nzhang,11010519491231002X\n"),
    ]
    assert parts[1].content_type == "text/csv" and parts[1].detected_type == "csv"
    assert all(p.complete and p.method == "POST" for p in parts)


def test_multipart_without_final_boundary_is_flagged() -> None:
    body = MULTIPART[: MULTIPART.rindex(b"\r\n--")]
    request = _request(
        "POST", "/form", body, f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
    )
    objects, anomalies, _ = _run([(request, b"")])
    last = objects[-1]
    assert "multipart_unterminated" in last.flags and not last.complete
    assert anomalies["content.multipart_missing_final_boundary"] == 1


def test_encoded_downloads_are_decoded_in_every_coding() -> None:
    data = b"id,name\n" * 500
    codings = {
        "gzip": gzip.compress(data),
        "x-gzip": gzip.compress(data),
        "br": brotli.compress(data),
        "zstd": zstandard.ZstdCompressor().compress(data),
        "gzip, br": brotli.compress(gzip.compress(data)),
    }
    exchanges = [
        (_request("GET", f"/{i}"), _response(body, f"Content-Encoding: {coding}\r\n"))
        for i, (coding, body) in enumerate(codings.items())
    ]
    objects, anomalies, _ = _run(exchanges)
    assert [(o.url[-2:], o.content_encoding, bytes(o.body) == data) for o in objects] == [
        (f"/{i}", coding, True) for i, coding in enumerate(codings)
    ]
    assert all(o.encoded_bytes == len(codings[o.content_encoding]) for o in objects)
    assert all(o.sha256 == hashlib.sha256(data).hexdigest() for o in objects)
    assert anomalies.total() == 0


def test_chunked_gzip_upload_is_decoded() -> None:
    encoded = gzip.compress(b"secret export " * 100)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(encoded[i : i + 50]), encoded[i : i + 50])
        for i in range(0, len(encoded), 50)
    )
    request = (
        b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
        + chunked
        + b"0\r\n\r\n"
    )
    objects, _, _ = _run([(request, _response(b""))])
    assert bytes(objects[0].body) == b"secret export " * 100


def test_undecodable_body_keeps_raw_bytes_and_is_flagged() -> None:
    objects, anomalies, _ = _run(
        [(_request("GET", "/"), _response(b"plain, not gzip", "Content-Encoding: gzip\r\n"))]
    )
    assert bytes(objects[0].body) == b"plain, not gzip"
    assert "undecoded" in objects[0].flags
    assert anomalies["content.decode_error"] == 1


def test_decompression_bomb_is_flagged_and_counted() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20), 9)
    objects, anomalies, _ = _run(
        [(_request("GET", "/b"), _response(bomb, "Content-Encoding: gzip\r\n"))],
        max_object_bytes=64 << 20,
    )
    obj = objects[0]
    assert "decompression_ratio_limit" in obj.flags and obj.truncated
    assert anomalies["content.decompression_ratio_limit"] == 1
    assert obj.size < 8 << 20


def test_decoded_size_limit_truncates() -> None:
    body = gzip.compress(b"a" * 50_000)
    objects, anomalies, _ = _run(
        [(_request("GET", "/"), _response(body, "Content-Encoding: gzip\r\n"))],
        max_object_bytes=4096,
    )
    assert objects[0].truncated and len(objects[0].body) == 4096
    assert "decompression_size_limit" in objects[0].flags
    assert anomalies["content.decompressed_size_limit"] == 1


def test_form_and_json_uploads_get_text_views() -> None:
    form = _request(
        "POST",
        "/f",
        b"name=%E5%BC%A0%E4%B8%89&id=1",
        "Content-Type: application/x-www-form-urlencoded\r\n",
    )
    payload = _request(
        "POST", "/j", b'{"name": "\\u5f20\\u4e09"}', "Content-Type: application/json\r\n"
    )
    objects, _, _ = _run([(form, _response(b"")), (payload, _response(b""))])
    assert objects[0].inspection_bytes() == "name=张三\nid=1\n".encode()
    assert (
        bytes(objects[0].body) == b"name=%E5%BC%A0%E4%B8%89&id=1"
    )  # the object keeps what was sent
    assert objects[1].inspection_bytes() == '{"name": "张三"}'.encode()


def test_range_response_records_content_range() -> None:
    response = _response(b"%PDF-", "Content-Range: bytes 0-4/100\r\n", status="206 Partial Content")
    objects, _, _ = _run([(_request("GET", "/doc.pdf", headers="Range: bytes=0-4\r\n"), response)])
    obj = objects[0]
    assert (obj.status, obj.content_range, obj.detected_type) == (206, "bytes 0-4/100", "pdf")
    assert "partial_content" in obj.flags


def test_byteranges_response_is_split_per_range() -> None:
    body = (
        b"--R\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/10\r\n\r\nabc\r\n"
        b"--R\r\nContent-Type: text/plain\r\nContent-Range: bytes 7-9/10\r\n\r\nhij\r\n--R--\r\n"
    )
    response = _response(
        body, "Content-Type: multipart/byteranges; boundary=R\r\n", "206 Partial Content"
    )
    objects, _, _ = _run([(_request("GET", "/f"), response)])
    assert [(o.content_range, bytes(o.body)) for o in objects] == [
        ("bytes 0-2/10", b"abc"),
        ("bytes 7-9/10", b"hij"),
    ]


def test_attachment_filename_and_head_response_without_body() -> None:
    download = _response(b"data", 'Content-Disposition: attachment; filename="report.xlsx"\r\n')
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
    objects, anomalies, _ = _run(
        [(_request("HEAD", "/x"), head), (_request("GET", "/r"), download)]
    )
    assert [(o.method, o.filename) for o in objects] == [("GET", "report.xlsx")]
    assert anomalies.total() == 0


def test_http10_close_delimited_download() -> None:
    objects, _, _ = _run([(b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 2000)])
    assert bytes(objects[0].body) == b"x" * 2000 and objects[0].complete


def test_connect_tunnel_is_recorded_not_parsed() -> None:
    hello = b"\x16\x03\x01\x00\x05hello" + b"GET /secret HTTP/1.1\r\n\r\n"
    objects, _, _ = _run([
        (b"CONNECT bank.example:443 HTTP/1.1\r\nHost: bank.example:443\r\n\r\n", b"HTTP/1.1 200 Connection established\r\n\r\n"),
        (hello, b"\x16\x03\x03\x00\x02ok"),
    ])  # fmt: skip
    assert sorted((o.direction, o.tunnel, o.encoded_bytes, o.encrypted) for o in objects) == [
        ("download", "connect", 7, True),
        ("upload", "connect", len(hello), True),
    ]
    assert all(o.url == "bank.example:443" and not o.body for o in objects)


def test_reversed_orientation_keeps_client_roles() -> None:
    """No handshake and the client on the lower port: the table takes the server as originator."""
    objects, anomalies, _ = _run(
        [(_request("POST", "/u", b"up"), _response(b"down"))],
        handshake=False,
        client=("10.0.0.1", 80),
        server=("10.0.0.2", 50000),
    )
    assert [(o.direction, bytes(o.body), o.flow.src_ip) for o in objects] == [
        ("upload", b"up", "10.0.0.1"),
        ("download", b"down", "10.0.0.2"),
    ]
    assert anomalies["app.http_roles_swapped"] == 1


def test_protocol_is_sniffed_not_taken_from_the_port() -> None:
    objects, _, handlers = _run(
        [(b"\x16\x03\x01 not http at all\r\n", b"HTTP/1.1 200 OK\r\n\r\n")], server=("10.0.0.2", 80)
    )
    assert objects == [] and handlers[0].protocol == ""
    objects, _, _ = _run([(b"220 smtp banner\r\n", b"")], server=("10.0.0.2", 25))
    assert objects == []


def test_object_record_has_no_body_and_no_query() -> None:
    request = _request("POST", "/submit?id=11010519491231002X", b"id=11010519491231002X")
    objects, _, _ = _run([(request, _response(b""))])
    record = object_record(objects[0], sensor_id="s", source="cap.pcap")
    text = json.dumps(record)
    assert "11010519491231002X" not in text
    assert record["object"]["url"] == {
        "domain": "example.com",
        "path": "/submit",
        "has_query": True,
    }
    assert record["object"]["sha256"] == hashlib.sha256(b"id=11010519491231002X").hexdigest()
    assert record["object"]["flags"] == ["complete"]
    assert record["source"]["ip"] == "10.0.0.1"
