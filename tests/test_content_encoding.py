"""Content-Encoding decoding: every coding whole, byte by byte and in random cuts; limits; failures."""

from __future__ import annotations

import gzip
import random
import zlib

import brotli  # type: ignore[import-untyped]
import pytest
import zstandard

from sensor.content.encoding import RATIO_GRACE_BYTES, ContentDecoder

DATA = b"name,id\n" + b"".join(b"person %d,%06d\n" % (i, i * 7) for i in range(3000))
DATA += random.Random(3).randbytes(2000)  # some incompressible bytes too


def _raw_deflate(data: bytes) -> bytes:
    co = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return co.compress(data) + co.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}


def _cuts(raw: bytes) -> list[list[bytes]]:
    rng = random.Random(11)
    cuts = sorted(rng.sample(range(1, len(raw)), min(12, len(raw) - 1)))
    random_cut = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return [[raw], [raw[i : i + 1] for i in range(len(raw))], random_cut]


def _decode(
    codings: list[str], chunks: list[bytes], max_output: int = 1 << 26
) -> tuple[bytes, ContentDecoder]:
    decoder = ContentDecoder(codings, max_output)
    out = b"".join(decoder.feed(c) for c in chunks) + decoder.finish()
    return out, decoder


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_each_coding_round_trips_in_any_cut(coding: str) -> None:
    encoded = ENCODERS[coding](DATA)
    for chunks in _cuts(encoded):
        out, decoder = _decode([coding], chunks)
        assert out == DATA
        assert not (decoder.error or decoder.limit or decoder.incomplete)
        assert decoder.input_bytes == len(encoded)


def test_raw_deflate_without_zlib_header() -> None:
    for chunks in _cuts(_raw_deflate(DATA)):
        assert _decode(["deflate"], chunks)[0] == DATA


def test_stacked_codings_are_undone_last_first() -> None:
    encoded = brotli.compress(gzip.compress(DATA))  # "gzip, br": gzip applied first
    for chunks in _cuts(encoded):
        out, decoder = _decode(["gzip", "br"], chunks)
        assert out == DATA and not decoder.error


def test_identity_is_ignored() -> None:
    assert _decode(["identity", "gzip"], [gzip.compress(b"abc")])[0] == b"abc"
    out, decoder = _decode(["identity"], [b"abc", b"def"])
    assert out == b"abcdef" and not decoder.error


def test_concatenated_gzip_members_and_trailing_garbage() -> None:
    encoded = gzip.compress(b"abc") + gzip.compress(b"def") + b"garbage"
    for chunks in _cuts(encoded):
        out, decoder = _decode(["gzip"], chunks)
        assert out == b"abcdef"
        assert decoder.trailing_bytes in (6, 7)  # a lone last byte may still wait for a magic


def test_body_that_is_not_encoded_falls_back_to_raw_bytes() -> None:
    out, decoder = _decode(["gzip"], [b"plain text, ", b"not gzip"])
    assert out == b"plain text, not gzip"
    assert decoder.fallback and decoder.error


def test_unknown_coding_keeps_raw_bytes() -> None:
    out, decoder = _decode(["compress"], [b"\x1f\x9dabc"])
    assert out == b"\x1f\x9dabc"
    assert decoder.fallback and "unsupported" in decoder.error


def test_corruption_after_output_keeps_what_was_decoded() -> None:
    encoded = gzip.compress(DATA) + b"\x1f\x8b\x63" + b"\xff" * 40  # second member: bad method
    out, decoder = _decode(["gzip"], [encoded[i : i + 100] for i in range(0, len(encoded), 100)])
    assert decoder.error and not decoder.fallback
    assert out == DATA


def test_truncated_stream_is_incomplete() -> None:
    encoded = gzip.compress(DATA)
    out, decoder = _decode(["gzip"], [encoded[: len(encoded) // 2]])
    assert decoder.incomplete and DATA.startswith(out)


def test_gap_stops_decoding() -> None:
    encoded = gzip.compress(DATA)
    decoder = ContentDecoder(["gzip"], 1 << 26)
    out = decoder.feed(encoded[:200])
    decoder.gap()
    out += decoder.feed(encoded[300:]) + decoder.finish()
    assert decoder.stopped_by_gap and DATA.startswith(out)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_decompression_bomb_is_stopped_by_ratio(coding: str) -> None:
    bomb = ENCODERS[coding](b"\0" * (16 << 20))
    out, decoder = _decode([coding], [bomb[i : i + 1460] for i in range(0, len(bomb), 1460)])
    assert decoder.limit == "ratio"
    assert RATIO_GRACE_BYTES < len(out) <= RATIO_GRACE_BYTES + 2 * 65536 + 1000 * len(bomb)
    assert len(out) < 16 << 20


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_size_limit_bounds_output(coding: str) -> None:
    encoded = ENCODERS[coding](DATA)
    out, decoder = _decode([coding], [encoded], max_output=1000)
    assert out == DATA[:1000]
    assert decoder.limit == "size"


def test_zstd_bomb_inside_stack_is_flagged() -> None:
    bomb = gzip.compress(zstandard.ZstdCompressor().compress(b"\0" * (64 << 20)))  # "zstd, gzip"
    out, decoder = _decode(["zstd", "gzip"], [bomb])
    assert decoder.limit == "ratio"
    assert len(out) < 64 << 20
