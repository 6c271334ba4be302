"""Build the bundled sample capture and its truth file: ``python -m bench.traffic.sample OUT.pcap``.

The sample is what ``egress audit`` runs on by default and what end-to-end tests compare against,
so it must contain each case the sensor has to get right, with exactly known answers: a
cross-border CSV upload with duplicates and decoys whose TCP segments are retransmitted and
reordered, a JSON upload to Hong Kong (outside mainland China for the export rules), a domestic
upload that is not an export, and an upload with only decoys. Everything is synthetic and seeded:
rerunning the command rewrites identical bytes.

The truth file (OUT with ``.truth.json``) is computed from the bytes written, with the test-side
oracle in :mod:`bench.traffic.people`, not from the product.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.traffic.people import (
    Decoy,
    Person,
    SyntheticPeople,
    find_resident_ids,
    mask_resident_id,
)
from bench.traffic.tcp_session import Frame, tcp_session, write_pcap

SEED = 20231114
START_TIME = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SESSION_GAP = 1.0  # seconds between the starts of successive sessions
TIME_STEP = 0.001

CLIENT_IP = "10.20.30.40"  # internal, RFC 1918
CLIENT_MAC = "02:00:0a:14:1e:28"
GATEWAY_MAC = "02:00:00:00:00:fe"  # every server is off-link, so frames go to the gateway

# Server addresses, checked against Debian's tor-geoipdb (/usr/share/tor/geoip, IPFire Location
# export generated 2026-06-25): each lies in exactly one range of that file, the range has the
# expected country and covers the whole /24 around the address. The ranges were
# 63.0.0.0-63.31.255.255 US, 219.76.0.0-219.79.255.255 HK, 61.128.0.0-61.191.255.255 CN.
# Not documentation or private space, on purpose: the sensor must see routable addresses.
# verify_server_countries() re-checks this; the tests run it when the file is installed.
US_SERVER = "63.10.20.30"
HK_SERVER = "219.76.10.20"
CN_SERVER = "61.152.10.20"
SERVER_COUNTRIES: dict[str, str] = {US_SERVER: "US", HK_SERVER: "HK", CN_SERVER: "CN"}
TOR_GEOIP = Path("/usr/share/tor/geoip")

CSV_HEADER = "姓名,身份证号,手机号"


@dataclass
class Upload:
    """One HTTP POST in the sample and what a correct sensor must find in it."""

    server_ip: str
    host: str
    path: str
    content_type: str
    body: bytes
    client_port: int
    decoys: list[Decoy] = field(default_factory=list)
    mss: int = 536
    retransmit: tuple[int, ...] = ()
    swap: tuple[tuple[int, int], ...] = ()

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    def request(self) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}\r\n"
            "User-Agent: sync-agent/2.3\r\n"
            "Accept: */*\r\n"
            f"Content-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\n"
            "Connection: close\r\n"
            "\r\n"
        )
        return head.encode("ascii") + self.body


def http_ok(body: bytes = b'{"status":"ok"}') -> bytes:
    """The small "200 OK" every server answers with."""
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    lines = [CSV_HEADER, *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _json_people(key: str, people: list[Person]) -> bytes:
    records = [
        {"name": p.name, "id_number": p.resident_id, "mobile": p.mobile, "email": p.email}
        for p in people
    ]
    return json.dumps({key: records}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def build_uploads(seed: int = SEED) -> list[Upload]:
    """The four POSTs of the sample, in capture order."""
    gen = SyntheticPeople(seed, allocated_mobiles=False)  # the bundled bytes predate the fix
    rng = gen.rng

    # (a) US: 40 people, 5 of them twice, 6 decoy rows, shuffled together.
    people = gen.people(40)
    twice = rng.sample(people, 5)
    decoys_a = gen.decoys(6)
    rows = [(p.name, p.resident_id, p.mobile) for p in people + twice]
    rows += [(gen.name()[0], d.value, gen.mobile()) for d in decoys_a]
    rng.shuffle(rows)
    customers = Upload(
        US_SERVER,
        "crm-sync.example-us.com",
        "/api/v1/customers/upload",
        "text/csv",
        _csv(rows),
        50001,
        decoys_a,
        retransmit=(1,),
        swap=((2, 3),),
    )

    # (b) Hong Kong: JSON with 8 people.
    staff_hk = Upload(
        HK_SERVER,
        "files.example-hk.com",
        "/upload",
        "application/json",
        _json_people("employees", gen.people(8)),
        50002,
    )

    # (c) mainland China: 5 people, domestic, not an export.
    staff_cn = Upload(
        CN_SERVER,
        "hr.example-cn.com",
        "/hr/sync",
        "application/json",
        _json_people("staff", gen.people(5)),
        50003,
    )

    # (d) US again: order list whose only ID-shaped strings are decoys.
    decoys_d = gen.decoys(10, ("wrong_check", "month13", "day32", "feb30", "long_run"))
    order_rows = [f"{i + 1},{d.value},{rng.randint(1, 9)}" for i, d in enumerate(decoys_d)]
    orders = Upload(
        US_SERVER,
        "crm-sync.example-us.com",
        "/api/v1/orders/upload",
        "text/csv",
        ("line,reference,quantity\n" + "\n".join(order_rows) + "\n").encode("ascii"),
        50004,
        decoys_d,
    )
    return [customers, staff_hk, staff_cn, orders]


def build_frames(uploads: list[Upload], seed: int = SEED) -> list[Frame]:
    """One TCP session per upload, one after the other; ISNs drawn from ``seed``."""
    rng = random.Random(seed ^ 0x5EED)
    frames: list[Frame] = []
    for k, up in enumerate(uploads):
        frames += tcp_session(
            up.request(),
            http_ok(),
            mss=up.mss,
            retransmit=up.retransmit,
            swap=up.swap,
            start_time=START_TIME + k * SESSION_GAP,
            time_step=TIME_STEP,
            client_mac=CLIENT_MAC,
            server_mac=GATEWAY_MAC,
            client_ip=CLIENT_IP,
            server_ip=up.server_ip,
            client_port=up.client_port,
            server_port=80,
            client_isn=rng.getrandbits(32),
            server_isn=rng.getrandbits(32),
        )
    return frames


def truth_for(uploads: list[Upload], pcap_name: str, pcap_sha256: str) -> dict[str, Any]:
    """Expected sensor results per POST, computed from the bodies with the test-side oracle."""
    posts = []
    for index, up in enumerate(uploads):
        found = find_resident_ids(up.body.decode("utf-8"))
        distinct = list(dict.fromkeys(found))
        posts.append(
            {
                "index": index,
                "client_ip": CLIENT_IP,
                "client_port": up.client_port,
                "server_ip": up.server_ip,
                "server_port": 80,
                "expected_country": SERVER_COUNTRIES[up.server_ip],
                "cross_border": SERVER_COUNTRIES[up.server_ip] != "CN",
                "method": "POST",
                "url": up.url,
                "content_type": up.content_type,
                "content_length": len(up.body),
                "body_sha256": hashlib.sha256(up.body).hexdigest(),
                "resident_ids_found": len(found),
                "distinct_individuals": len(distinct),
                "masked_samples": [mask_resident_id(v) for v in distinct[:3]],
                "resident_ids": distinct,
                "decoys": [{"value": d.value, "kind": d.kind} for d in up.decoys],
                "tcp": {
                    "mss": up.mss,
                    "retransmitted_segments": list(up.retransmit),
                    "swapped_segments": [list(p) for p in up.swap],
                },
            }
        )
    return {
        "WARNING": "SYNTHETIC TEST DATA for tests only. Every name, ID number, phone number and "
        "e-mail address is made up by bench/traffic/people.py; none belongs to a real person.",
        "synthetic": True,
        "generated_by": "python -m bench.traffic.sample OUT.pcap (bench/traffic/sample.py)",
        "seed": SEED,
        "pcap": pcap_name,
        "pcap_sha256": pcap_sha256,
        "mask": "first 6 digits + 8 asterisks + last 4",
        "posts": posts,
    }


def truth_path(pcap: Path) -> Path:
    """OUT.pcap -> OUT.truth.json, next to it."""
    return pcap.with_suffix(".truth.json")


def build_sample(out: Path) -> dict[str, Any]:
    """Write the sample pcap and its truth file; returns the truth."""
    uploads = build_uploads()
    write_pcap(out, build_frames(uploads))
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    truth = truth_for(uploads, out.name, digest)
    text = json.dumps(truth, ensure_ascii=False, indent=2) + "\n"
    truth_path(out).write_text(text, encoding="utf-8")
    return truth


def verify_server_countries(geoip: Path = TOR_GEOIP) -> dict[str, str]:
    """Re-check SERVER_COUNTRIES against a tor-geoipdb file; returns {address: problem}.

    An address passes when exactly one "INTLOW,INTHIGH,CC" line contains it, with the expected
    country, and that range covers the address's whole /24 (so a small reallocation next door
    does not flip the answer). An empty result means every address is unambiguous.
    """
    wanted = {int(ipaddress.IPv4Address(a)): a for a in SERVER_COUNTRIES}
    hits: dict[str, list[tuple[int, int, str]]] = {a: [] for a in SERVER_COUNTRIES}
    with geoip.open(encoding="ascii") as lines:
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            low_s, high_s, cc = line.strip().split(",")
            low, high = int(low_s), int(high_s)
            for number, address in wanted.items():
                if low <= number <= high:
                    hits[address].append((low, high, cc))
    problems: dict[str, str] = {}
    for address, expected in SERVER_COUNTRIES.items():
        found = hits[address]
        net = ipaddress.IPv4Network(f"{address}/24", strict=False)
        if len(found) != 1:
            problems[address] = f"in {len(found)} ranges: {found}"
        elif found[0][2] != expected:
            problems[address] = f"country {found[0][2]}, expected {expected}"
        elif (
            not found[0][0] <= int(net.network_address) <= int(net.broadcast_address) <= found[0][1]
        ):
            problems[address] = f"range {found[0]} does not cover {net}"
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].endswith(".pcap"):
        print("usage: python -m bench.traffic.sample OUT.pcap", file=sys.stderr)
        return 2
    out = Path(args[0])
    truth = build_sample(out)
    size = out.stat().st_size
    print(f"wrote {out} ({size} bytes) and {truth_path(out)}")
    for post in truth["posts"]:
        print(
            f"  {post['expected_country']} {post['url']}: {post['resident_ids_found']} IDs, "
            f"{post['distinct_individuals']} distinct"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
