"""The standard traffic mix: ``python -m bench.traffic.mix --size 1G --seed 1 OUT.pcap``.

Benchmarks need a capture that looks like an enterprise uplink, is big (100 MB to 2 GB) and is the
same file every time, so figures from different days compare. This generator writes one directly
(no packet is ever sent) from a seeded ``random.Random``: the same seed and options give the same
bytes. Sessions run concurrently (``CONCURRENT_SESSIONS`` at a time) and their frames are merged by
timestamp, as on a mirror port.

Session kinds, with their share of sessions started (``KIND_WEIGHTS``):

* ``http_upload``: a POST of a CSV or JSON body (20 KB-2 MB);
* ``http_download``: a GET answered with a CSV or HTML body (10 KB-1.5 MB);
* ``tls_bulk``: a ClientHello, a server handshake, then application-data records (100 KB-6 MB);
* ``smtp``: a plain SMTP dialogue submitting a mail with a CSV attachment;
* ``ftp``: a control connection and a passive-mode data connection storing a CSV;
* ``short_http``: one small GET (many short flows), 5% of them refused with a RST;
* ``dns``: a UDP query and its answer.

Cleartext bodies are rows; each row is a synthetic person (name, resident ID, mobile, e-mail;
about 70-80 bytes) with probability ``pi_density``, otherwise an order line without any
identifier. ``ipv6_share`` of sessions run over IPv6, ``vlan_share`` carry an 802.1Q tag (a tenth
of them QinQ), and ``disorder_share`` have a reordered pair of segments or a retransmission.
The client side is internal (10.0.0.0/8, fd00::/8); servers are in the US, Hong Kong and
mainland China (addresses from ``bench.traffic.sample``), so the sensor finds exports.
"""

from __future__ import annotations

import argparse
import heapq
import random
import re
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.traffic.frames import (
    ACK,
    FIN,
    PROTO_TCP,
    PROTO_UDP,
    PSH,
    RST,
    SYN,
    tcp_segment,
    udp_datagram,
)
from bench.traffic.frames import frame as build_frame
from bench.traffic.people import Person, SyntheticPeople
from bench.traffic.sample import CN_SERVER, HK_SERVER, US_SERVER
from bench.traffic.tcp_session import LINKTYPE_ETHERNET, PCAP_MAGIC_US, split_segments

CONCURRENT_SESSIONS = 48  # flows in progress at once; enough interleaving for a realistic table
START_TIME_US = 1_700_000_000_000_000
PEOPLE_POOL = 20_000  # distinct synthetic people drawn from; rows sample from this pool
KIND_WEIGHTS: dict[str, float] = {
    "http_upload": 0.10,
    "http_download": 0.10,
    "tls_bulk": 0.08,
    "smtp": 0.02,
    "ftp": 0.02,
    "short_http": 0.38,
    "dns": 0.30,
}
SERVERS_V4 = (US_SERVER, HK_SERVER, CN_SERVER, "63.10.20.31", "219.76.10.21", "61.152.10.21")
SERVERS_V6 = ("2600:1f18::10", "2001:c00::20", "240e:1::30")  # US, HK, CN allocations
# (from the client, line) of an FTP login in binary mode, up to the first transfer command
FTP_LOGIN: tuple[tuple[bool, bytes], ...] = (
    (False, b"220 FTP server ready\r\n"),
    (True, b"USER sync\r\n"),
    (False, b"331 Password required\r\n"),
    (True, b"PASS secret\r\n"),
    (False, b"230 Logged in\r\n"),
    (True, b"TYPE I\r\n"),
    (False, b"200 Type set to I\r\n"),
)
CLIENT_MAC = "02:00:0a:00:00:01"
GATEWAY_MAC = "02:00:00:00:00:fe"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)i?[bB]?\s*$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}

Packet = tuple[int, bytes]  # (timestamp in microseconds, Ethernet frame)


def parse_size(text: str) -> int:
    """``300M``, ``1G``, ``2GB``, ``1048576`` -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"size {text!r}: use a number with an optional K, M or G suffix")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass
class MixOptions:
    """What the mix contains; the defaults are the standard mix the benchmarks use."""

    pi_density: float = 0.05  # share of body rows that are a person
    ipv6_share: float = 0.15
    vlan_share: float = 0.20
    disorder_share: float = 0.05
    kinds: dict[str, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))


@dataclass
class MixStats:
    bytes_written: int = 0
    packets: int = 0
    sessions: dict[str, int] = field(default_factory=dict)


class _Rows:
    """Body rows: persons at ``density``, order lines otherwise."""

    def __init__(self, rng: random.Random, people: list[Person], density: float) -> None:
        self.rng, self.people, self.density = rng, people, density

    def csv(self, size: int) -> bytes:
        rng, out, n = self.rng, ["姓名,身份证号,手机号,邮箱"], 0
        while n < size:
            if rng.random() < self.density:
                p = rng.choice(self.people)
                line = f"{p.name},{p.resident_id},{p.mobile},{p.email}"
            else:
                line = (
                    f"SKU-{rng.randint(1000, 9999)},{rng.choice(_GOODS)},qty {rng.randint(1, 40)},"
                    f"price {rng.randint(1, 999)}.{rng.randint(0, 99):02d},{rng.choice(_CITIES)}"
                )
            out.append(line)
            n += len(line) + 6  # about the UTF-8 size; exact size does not matter
        return ("\n".join(out) + "\n").encode("utf-8")

    def html(self, size: int) -> bytes:
        rng, parts, n = self.rng, ["<html><body>"], 0
        while n < size:
            words = " ".join(rng.choice(_WORDS) for _ in range(12))
            parts.append(f"<p>{words}</p>")
            n += len(words) + 7
        parts.append("</body></html>")
        return "\n".join(parts).encode("utf-8")


_GOODS = ("widget blue", "cable 2m", "adapter", "notebook A5", "pen black", "box large", "tea 250g")
_CITIES = ("Shanghai", "Suzhou", "Nanjing", "Hangzhou", "Wuxi", "Ningbo")
_WORDS = ("quarterly", "report", "market", "growth", "the", "and", "service", "customer", "plan")


class _Session:
    """One TCP connection's frames, built lazily in wire order with their own clock."""

    def __init__(
        self,
        rng: random.Random,
        t0: int,
        client: str,
        server: str,
        cport: int,
        sport: int,
        vlans: tuple[int, ...],
        disorder: bool,
    ) -> None:
        self.rng, self.t = rng, t0
        self.client, self.server, self.cport, self.sport = client, server, cport, sport
        self.vlans, self.disorder = vlans, disorder
        self.mss = 1440 if ":" in client else 1460
        self.seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.ip_id = {True: rng.getrandbits(16), False: rng.getrandbits(16)}
        self.rtt = rng.randint(2_000, 40_000)  # microseconds
        self.gap = rng.choice((12, 12, 40, 120))  # microseconds between back-to-back segments

    def _packet(self, from_client: bool, flags: int, payload: bytes = b"", seq: int = -1) -> Packet:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        own = self.seq[from_client] if seq < 0 else seq
        mss = self.mss if flags & SYN else 0
        transport = tcp_segment(
            src, dst, sp, dp, own, self.seq[not from_client], flags, payload, mss_option=mss
        )
        self.ip_id[from_client] += 1
        data = build_frame(
            CLIENT_MAC if from_client else GATEWAY_MAC,
            GATEWAY_MAC if from_client else CLIENT_MAC,
            self.vlans,
            src,
            dst,
            PROTO_TCP,
            transport,
            self.ip_id[from_client],
            64 if from_client else 52,
        )
        return self.t, data

    def handshake(self) -> Iterator[Packet]:
        yield self._packet(True, SYN)
        self.seq[True] += 1
        self.t += self.rtt // 2
        yield self._packet(False, SYN | ACK)
        self.seq[False] += 1
        self.t += self.rtt // 2
        yield self._packet(True, ACK)
        self.t += self.gap

    def send(self, from_client: bool, data: bytes) -> Iterator[Packet]:
        """``data`` cut at the MSS, a delayed ACK every second segment, with optional disorder."""
        pieces = split_segments(data, self.mss)
        base = self.seq[from_client]
        starts = [base + i * self.mss for i in range(len(pieces))]
        order = list(range(len(pieces)))
        retransmit = -1
        if self.disorder and len(pieces) > 3:
            k = self.rng.randrange(len(pieces) - 1)
            if self.rng.random() < 0.5:
                order[k], order[k + 1] = order[k + 1], order[k]
            else:
                retransmit = k
        received: set[int] = set()
        contiguous = 0  # segments acknowledged so far
        for n, i in enumerate(order):
            flags = ACK | PSH if i == len(pieces) - 1 else ACK
            yield self._packet(from_client, flags, pieces[i], starts[i])
            received.add(i)
            self.t += self.gap
            if i == retransmit:
                self.t += self.rtt
                yield self._packet(from_client, ACK, pieces[i], starts[i])
                self.t += self.gap
            if n % 2 == 1 or n == len(order) - 1:
                while contiguous in received:
                    contiguous += 1
                self.seq[from_client] = base + min(contiguous * self.mss, len(data))
                self.t += self.rtt // 4
                yield self._packet(not from_client, ACK)
                self.t += self.gap
        self.seq[from_client] = base + len(data)
        self.t += self.rtt // 2

    def close(self) -> Iterator[Packet]:
        yield self._packet(True, FIN | ACK)
        self.seq[True] += 1
        self.t += self.rtt // 2
        yield self._packet(False, FIN | ACK)
        self.seq[False] += 1
        self.t += self.rtt // 2
        yield self._packet(True, ACK)

    def refused(self) -> Iterator[Packet]:
        yield self._packet(True, SYN)
        self.seq[True] += 1
        self.t += self.rtt // 2
        yield self._packet(False, RST | ACK)

    def dialogue(self, steps: list[tuple[bool, bytes]]) -> Iterator[Packet]:
        yield from self.handshake()
        for from_client, data in steps:
            yield from self.send(from_client, data)
        yield from self.close()


class MixGenerator:
    """Streams the standard mix as (timestamp, frame) pairs in capture order."""

    def __init__(self, seed: int, options: MixOptions | None = None) -> None:
        self.options = options or MixOptions()
        self.rng = random.Random(seed)
        self.people = SyntheticPeople(self.rng.getrandbits(32)).people(PEOPLE_POOL)
        self.rows = _Rows(self.rng, self.people, self.options.pi_density)
        self._kinds = list(self.options.kinds)
        self._weights = [self.options.kinds[k] for k in self._kinds]
        self._next_port = 20_000
        self.sessions: dict[str, int] = {}
        self._planned = 0  # capture bytes the sessions started so far will write (estimated)

    def packets(self, target_bytes: int) -> Iterator[Packet]:
        """Frames until about ``target_bytes`` of capture were produced (sessions end whole)."""
        heap: list[tuple[int, int, Packet, Iterator[Packet]]] = []
        serial = 0
        self._planned = 0
        clock = START_TIME_US

        def start(at: int) -> None:
            nonlocal serial
            it = self._session(at)
            first = next(it, None)
            if first is not None:
                heapq.heappush(heap, (first[0], serial, first, it))
                serial += 1

        for _ in range(CONCURRENT_SESSIONS):
            if self._planned >= target_bytes:
                break
            clock += self.rng.randint(0, 2_000)
            start(clock)
        while heap:
            _, _, packet, it = heapq.heappop(heap)
            yield packet
            following = next(it, None)
            if following is not None:
                heapq.heappush(heap, (max(following[0], packet[0]), serial, following, it))
                serial += 1
            elif self._planned < target_bytes:
                start(packet[0] + self.rng.randint(0, 3_000))

    # -- sessions ---------------------------------------------------------------------------

    def _endpoints(self) -> tuple[str, str, tuple[int, ...]]:
        rng, opt = self.rng, self.options
        if rng.random() < opt.ipv6_share:
            client = f"fd00:10::{rng.randint(1, 0xFFFF):x}"
            server = rng.choice(SERVERS_V6)
        else:
            client = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            server = rng.choice(SERVERS_V4)
        vlans: tuple[int, ...] = ()
        if rng.random() < opt.vlan_share:
            vlans = (100, rng.randint(2, 4000)) if rng.random() < 0.1 else (rng.randint(2, 4000),)
        return client, server, vlans

    def _plan(self, payload: int) -> None:
        """Account a session's payload plus headers and ACKs (about 7%) against the target."""
        self._planned += int(payload * 1.07) + 800

    def _port(self) -> int:
        self._next_port = 20_000 + (self._next_port - 20_000 + 1) % 40_000
        return self._next_port

    def _session(self, t0: int) -> Iterator[Packet]:
        rng = self.rng
        kind = rng.choices(self._kinds, self._weights)[0]
        self.sessions[kind] = self.sessions.get(kind, 0) + 1
        client, server, vlans = self._endpoints()
        if kind == "dns":
            self._plan(0)
            return self._dns(t0, client, vlans)
        port = {"tls_bulk": 443, "smtp": 25, "ftp": 21}.get(kind, 80)
        disorder = rng.random() < self.options.disorder_share
        s = _Session(rng, t0, client, server, self._port(), port, vlans, disorder)
        if kind == "http_upload":
            body = self.rows.csv(int(rng.uniform(20_000, 2_000_000)))
            self._plan(len(body))
            return s.dialogue([(True, _post(body, server)), (False, _ok(b'{"status":"ok"}'))])
        if kind == "http_download":
            size = int(rng.uniform(10_000, 1_500_000))
            csv = rng.random() < 0.6
            body = self.rows.csv(size) if csv else self.rows.html(size)
            self._plan(len(body))
            ctype = "text/csv; charset=utf-8" if csv else "text/html; charset=utf-8"
            name = "/export/customers.csv" if csv else "/news/index.html"
            return s.dialogue([(True, _get(name, server)), (False, _ok(body, ctype))])
        if kind == "tls_bulk":
            return self._tls(s)
        if kind == "smtp":
            steps = _smtp(self.rows.csv(int(rng.uniform(5_000, 300_000))))
            self._plan(sum(len(data) for _, data in steps))
            return s.dialogue(steps)
        if kind == "ftp":
            return self._ftp(s, client, server, vlans, t0)
        if rng.random() < 0.05:
            self._plan(0)
            return s.refused()
        page = self.rows.html(rng.randint(100, 3_000))
        self._plan(len(page))
        return s.dialogue([(True, _get("/favicon.ico", server)), (False, _ok(page, "text/html"))])

    def _tls(self, s: _Session) -> Iterator[Packet]:
        rng = self.rng
        total = int(rng.uniform(100_000, 6_000_000))
        self._plan(total + 3_500)
        upload = rng.random() < 0.3
        yield from s.handshake()
        yield from s.send(True, _client_hello(rng, "cdn.example.com"))
        # TLS 1.3: a real ServerHello, then everything (certificate, Finished) is encrypted
        server_flight = _server_hello(rng) + _tls_record(20, b"\x01")
        yield from s.send(False, server_flight + _tls_record(23, rng.randbytes(3_000)))
        yield from s.send(True, _tls_record(20, b"\x01") + _tls_record(23, rng.randbytes(53)))
        while total > 0:
            chunk = min(total, rng.randint(16_000, 200_000))
            total -= chunk
            records = b"".join(_tls_record(23, rng.randbytes(n)) for n in _cut(chunk, 16_384))
            yield from s.send(upload, records)
            yield from s.send(not upload, _tls_record(23, rng.randbytes(60)))
        yield from s.close()

    def _ftp(
        self, s: _Session, client: str, server: str, vlans: tuple[int, ...], t0: int
    ) -> Iterator[Packet]:
        """Control connection up to STOR, then the data connection, then the 226 reply."""
        body = self.rows.csv(int(self.rng.uniform(5_000, 500_000)))
        self._plan(len(body) + 1_500)
        data_port = self._port()
        yield from s.handshake()
        for from_client, text in (
            *FTP_LOGIN,
            *_passive_mode(server, data_port),
            (True, b"STOR customers.csv\r\n"),
            (False, b"150 Opening data connection\r\n"),
        ):
            yield from s.send(from_client, text)
        data = _Session(self.rng, s.t, client, server, self._port(), data_port, vlans, False)
        yield from data.handshake()
        yield from data.send(True, body)
        yield from data.close()
        s.t = data.t
        yield from s.send(False, b"226 Transfer complete\r\n")
        yield from s.send(True, b"QUIT\r\n")
        yield from s.send(False, b"221 Bye\r\n")
        yield from s.close()

    def _dns(self, t0: int, client: str, vlans: tuple[int, ...]) -> Iterator[Packet]:
        rng = self.rng
        resolver = "fd00:53::1" if ":" in client else "10.0.0.53"
        name = f"host{rng.randint(1, 5000)}.example.{rng.choice(('com', 'net', 'org'))}"
        ident, cport = rng.getrandbits(16), self._port()
        question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        question += struct.pack("!HH", 28 if ":" in client else 1, 1)
        query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
        rdata = rng.randbytes(16) if ":" in client else rng.randbytes(4)
        answer = b"\xc0\x0c" + question[-4:] + struct.pack("!IH", 300, len(rdata)) + rdata
        reply = struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer
        for t, src, dst, sp, dp, payload, mac in (
            (t0, client, resolver, cport, 53, query, CLIENT_MAC),
            (t0 + rng.randint(300, 20_000), resolver, client, 53, cport, reply, GATEWAY_MAC),
        ):
            other = GATEWAY_MAC if mac == CLIENT_MAC else CLIENT_MAC
            udp = udp_datagram(src, dst, sp, dp, payload)
            yield t, build_frame(mac, other, vlans, src, dst, PROTO_UDP, udp, rng.getrandbits(16))


def _passive_mode(server: str, port: int) -> tuple[tuple[bool, bytes], tuple[bool, bytes]]:
    """PASV and its RFC 959 reply (server address and port) over IPv4, EPSV and its RFC 2428
    reply over IPv6, as real clients do."""
    if ":" in server:
        return (True, b"EPSV\r\n"), (
            False,
            f"229 Entering Extended Passive Mode (|||{port}|)\r\n".encode(),
        )
    address = f"{server.replace('.', ',')},{port // 256},{port % 256}"
    return (True, b"PASV\r\n"), (False, f"227 Entering Passive Mode ({address})\r\n".encode())


def _cut(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def _tls_record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def _client_hello(rng: random.Random, sni: str) -> bytes:
    host = sni.encode()
    server_name = struct.pack("!HBH", len(host) + 3, 0, len(host)) + host
    extensions = struct.pack("!HH", 0, len(server_name)) + server_name
    suites = b"\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f"
    hello = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return struct.pack("!BHH", 22, 0x0301, len(handshake)) + handshake


def _server_hello(rng: random.Random) -> bytes:
    """A TLS 1.3 ServerHello record (supported_versions and an x25519 key share)."""
    extensions = (
        struct.pack("!HHH", 0x002B, 2, 0x0304)
        + struct.pack("!HHHH", 0x0033, 36, 0x001D, 32)
        + rng.randbytes(32)
    )
    hello = (
        b"\x03\x03"
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + b"\x13\x01\x00"  # TLS_AES_128_GCM_SHA256, no compression
        + struct.pack("!H", len(extensions))
        + extensions
    )
    return _tls_record(22, b"\x02" + len(hello).to_bytes(3, "big") + hello)


def _post(body: bytes, server: str) -> bytes:
    head = (
        "POST /api/v2/customers/import HTTP/1.1\r\n"
        f"Host: {server}\r\n"
        "User-Agent: sync-agent/2.3\r\nContent-Type: text/csv; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _get(path: str, server: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {server}\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n".encode()


def _ok(body: bytes, ctype: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _smtp(attachment: bytes) -> list[tuple[bool, bytes]]:
    message = (
        b"From: hr@corp.example\r\nTo: partner@example.com\r\nSubject: roster\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/csv; charset=utf-8\r\n\r\n"
        + attachment.replace(b"\n", b"\r\n")
        + b"\r\n.\r\n"
    )
    return [
        (False, b"220 mx.example.com ESMTP\r\n"),
        (True, b"EHLO corp.example\r\n"),
        (False, b"250-mx.example.com\r\n250 8BITMIME\r\n"),
        (True, b"MAIL FROM:<hr@corp.example>\r\n"),
        (False, b"250 OK\r\n"),
        (True, b"RCPT TO:<partner@example.com>\r\n"),
        (False, b"250 OK\r\n"),
        (True, b"DATA\r\n"),
        (False, b"354 go ahead\r\n"),
        (True, message),
        (False, b"250 queued\r\n"),
        (True, b"QUIT\r\n"),
        (False, b"221 bye\r\n"),
    ]


def write_mix(
    path: Path, size: int, seed: int, options: MixOptions | None = None, snaplen: int = 65535
) -> MixStats:
    """Write the mix to ``path`` as a classic microsecond pcap; returns what was written."""
    generator = MixGenerator(seed, options)
    stats = MixStats()
    header = struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)
    pack = struct.Struct("<IIII").pack
    with path.open("wb", buffering=8 << 20) as out:
        out.write(header)
        written = len(header)
        for ts, data in generator.packets(size):
            seconds, micros = divmod(ts, 1_000_000)
            out.write(pack(seconds, micros, len(data), len(data)))
            out.write(data)
            written += 16 + len(data)
            stats.packets += 1
    stats.bytes_written = written
    stats.sessions = dict(sorted(generator.sessions.items()))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.traffic.mix", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path, help="pcap file to write")
    parser.add_argument("--size", default="100M", help="target size, e.g. 300M, 1G (default 100M)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pi-density", type=float, default=MixOptions.pi_density)
    parser.add_argument("--ipv6-share", type=float, default=MixOptions.ipv6_share)
    parser.add_argument("--vlan-share", type=float, default=MixOptions.vlan_share)
    parser.add_argument("--disorder-share", type=float, default=MixOptions.disorder_share)
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    options = MixOptions(args.pi_density, args.ipv6_share, args.vlan_share, args.disorder_share)
    stats = write_mix(args.out, size, args.seed, options)
    print(
        f"{args.out}: {stats.bytes_written} bytes, {stats.packets} packets, sessions {stats.sessions}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
