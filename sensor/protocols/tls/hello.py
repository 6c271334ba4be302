"""TLS ClientHello and ServerHello decoders (pure functions over one handshake message's body).

What is read: the legacy version, cipher suites, extensions in order, server name (SNI), ALPN,
supported_versions, supported groups, EC point formats and signature algorithms, from which the
JA3 and JA4 fingerprints are built (GREASE values left out, as both definitions say); from the ServerHello the chosen version
(supported_versions wins over the legacy field in TLS 1.3), cipher and ALPN. A malformed message
raises ``HelloError`` with a short reason; the session counts it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_ALPN = 16
EXT_SIGNATURE_ALGORITHMS = 13
EXT_SUPPORTED_VERSIONS = 43
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}
VERSION_NAMES = {
    0x0300: "SSLv3",
    0x0301: "TLSv10",
    0x0302: "TLSv11",
    0x0303: "TLSv12",
    0x0304: "TLSv13",
}


class HelloError(ValueError):
    pass


def is_grease(value: int) -> bool:
    """RFC 8701 reserved values (0x0a0a, 0x1a1a, ... 0xfafa)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise HelloError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def number(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.number(length_bytes))


def _u16_list(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    ciphers: list[int]
    extensions: list[int]
    server_name: str = ""
    alpn: list[str] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The highest version offered (supported_versions, else the legacy field)."""
        offered = [v for v in self.supported_versions if not is_grease(v)]
        best = max(offered) if offered else self.legacy_version
        return VERSION_NAMES.get(best, f"0x{best:04x}")

    @property
    def ja3_string(self) -> str:
        def join(values: list[int]) -> str:
            return "-".join(str(v) for v in values if not is_grease(v))

        return ",".join(
            [
                str(self.legacy_version),
                join(self.ciphers),
                join(self.extensions),
                join(self.groups),
                "-".join(str(v) for v in self.point_formats),
            ]
        )

    @property
    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string.encode(), usedforsecurity=False).hexdigest()

    @property
    def ja4(self) -> str:
        """FoxIO JA4 (TCP): version, SNI, counts and ALPN; sorted ciphers; sorted extensions
        (without SNI and ALPN) and signature algorithms in wire order, each hash cut to 12."""
        ciphers = [c for c in self.ciphers if not is_grease(c)]
        extensions = [e for e in self.extensions if not is_grease(e)]
        offered = [v for v in self.supported_versions if not is_grease(v)]
        version = JA4_VERSIONS.get(max(offered) if offered else self.legacy_version, "00")
        sni = "d" if EXT_SERVER_NAME in extensions else "i"
        head = f"t{version}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}"
        head += _ja4_alpn(self.alpn[0] if self.alpn else "")
        cipher_part = _ja4_hash(",".join(f"{c:04x}" for c in sorted(ciphers)))
        listed = sorted(e for e in extensions if e not in (EXT_SERVER_NAME, EXT_ALPN))
        ext_text = ",".join(f"{e:04x}" for e in listed)
        algorithms = [a for a in self.signature_algorithms if not is_grease(a)]
        if algorithms:
            ext_text += "_" + ",".join(f"{a:04x}" for a in algorithms)
        ext_part = _ja4_hash(ext_text) if listed else "000000000000"
        return f"{head}_{cipher_part}_{ext_part}"


def _ja4_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"


def _ja4_alpn(value: str) -> str:
    """First and last character of the first ALPN value; hex digits when not alphanumeric."""
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if first.isascii() and first.isalnum() and last.isascii() and last.isalnum():
        return first + last
    raw = value.encode("latin-1", "replace").hex()
    return raw[0] + raw[-1]


@dataclass(slots=True)
class ServerHello:
    version: int
    cipher: int
    alpn: str = ""

    @property
    def version_name(self) -> str:
        return VERSION_NAMES.get(self.version, f"0x{self.version:04x}")


def _extensions(reader: _Reader) -> list[tuple[int, bytes]]:
    if reader.pos == len(reader.data):
        return []  # SSLv3-style hello without extensions
    block = _Reader(reader.vector(2))
    out = []
    while block.pos < len(block.data):
        kind = block.number(2)
        out.append((kind, block.vector(2)))
    return out


def _alpn(data: bytes) -> list[str]:
    reader = _Reader(_Reader(data).vector(2))
    names = []
    while reader.pos < len(reader.data):
        names.append(reader.vector(1).decode("ascii", "replace"))
    return names


def _server_name(data: bytes) -> str:
    reader = _Reader(_Reader(data).vector(2))
    while reader.pos < len(reader.data):
        kind = reader.number(1)
        name = reader.vector(2)
        if kind == 0:
            return name.decode("ascii", "replace")
    return ""


def parse_client_hello(body: bytes) -> ClientHello:
    """The body of a handshake message of type 1 (after its 4-byte header)."""
    reader = _Reader(body)
    version = reader.number(2)
    reader.take(32)  # random
    reader.vector(1)  # session id
    ciphers = _u16_list(reader.vector(2))
    reader.vector(1)  # compression methods
    hello = ClientHello(version, ciphers, [])
    for kind, data in _extensions(reader):
        hello.extensions.append(kind)
        if kind == EXT_SERVER_NAME and data:
            hello.server_name = _server_name(data)
        elif kind == EXT_ALPN and data:
            hello.alpn = _alpn(data)
        elif kind == EXT_SUPPORTED_VERSIONS and data:
            hello.supported_versions = _u16_list(_Reader(data).vector(1))
        elif kind == EXT_SUPPORTED_GROUPS and data:
            hello.groups = _u16_list(_Reader(data).vector(2))
        elif kind == EXT_EC_POINT_FORMATS and data:
            hello.point_formats = list(_Reader(data).vector(1))
        elif kind == EXT_SIGNATURE_ALGORITHMS and data:
            hello.signature_algorithms = _u16_list(_Reader(data).vector(2))
    return hello


def parse_server_hello(body: bytes) -> ServerHello:
    """The body of a handshake message of type 2."""
    reader = _Reader(body)
    version = reader.number(2)
    reader.take(32)
    reader.vector(1)
    cipher = reader.number(2)
    reader.take(1)  # compression method
    hello = ServerHello(version, cipher)
    for kind, data in _extensions(reader):
        if kind == EXT_SUPPORTED_VERSIONS and len(data) == 2:
            hello.version = int.from_bytes(data, "big")
        elif kind == EXT_ALPN and data:
            names = _alpn(data)
            hello.alpn = names[0] if names else ""
    return hello
