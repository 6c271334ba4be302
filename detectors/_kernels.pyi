"""Type stub of the C validator kernels (detectors/_kernels.c)."""

from typing import Any

Buffer = Any  # bytes or a C-contiguous numpy array (the buffer protocol)

def email(
    buf: Buffer,
    starts: Buffer,
    ends: Buffer,
    width: int,
    local: Buffer,
    domain: Buffer,
    denied: Buffer,
    valid: Buffer,
    values: Buffer,
) -> None: ...
def gb11643(
    buf: Buffer,
    starts: Buffer,
    check: Buffer,
    provinces: Buffer,
    weights: Buffer,
    min_year: int,
    max_year: int,
    valid: Buffer,
    values: Buffer,
) -> None: ...
def sort_strings(values: Buffer, n: int, width: int, order: Buffer) -> None: ...
def run_before(buf: Buffer, ends: Buffer, table: Buffer, limit: int, run: Buffer) -> None: ...
def mobile(
    buf: Buffer, starts: Buffer, ends: Buffer, prefixes: Buffer, valid: Buffer, values: Buffer
) -> None: ...
def person_name(
    buf: Buffer, starts: Buffer, ends: Buffer, valid: Buffer, values: Buffer
) -> None: ...
def search_sorted(haystack: Buffer, needles: Buffer, right: bool, out: Buffer) -> None: ...
def positions(buf: Buffer, byte: int, out: Buffer | None) -> int: ...
def group_sorted(
    values: Buffer, n: int, width: int, order: Buffer, inverse: Buffer, firsts: Buffer
) -> int: ...
def hex_rows(raw: Buffer, width: int, rows: Buffer) -> tuple[str, ...]: ...
def uscc(
    buf: Buffer,
    starts: Buffer,
    first: Buffer,
    second: Buffer,
    provinces: Buffer,
    value: Buffer,
    weights: Buffer,
    chars: Buffer,
    valid: Buffer,
    values: Buffer,
) -> None: ...
def distinct_strings(
    values: Buffer, n: int, width: int, inverse: Buffer, firsts: Buffer, max_probes: int
) -> int: ...
def row_minimum(codes: Buffer, rows: Buffer, bounds: Buffer, primary: Buffer) -> int: ...
def row_aliases(
    codes: Buffer, rows: Buffer, primary: Buffer, rounds: int, alias: Buffer
) -> None: ...
def longest_valid(starts: Buffer, ends: Buffer, valid: Buffer, keep: Buffer) -> int: ...
def merge_spans(
    starts: Buffer, ends: Buffer, bounds: Buffer, merged: Buffer, reach: Buffer
) -> bool: ...
def card(
    buf: Buffer, starts: Buffer, ends: Buffer, ranges: Buffer, valid: Buffer, values: Buffer
) -> None: ...
