"""Distinct individuals in one object, and keyed hashes of them for the yearly ledger.

The export thresholds are counted in people, not in identifiers: 10 000 rows with a resident ID, a
mobile number and an e-mail each are 10 000 people, not 30 000. Identifiers that name one person
carry an ``individual_rank`` in their signature (resident ID 1, passports and other identity
documents 2, mobile 3, e-mail 4, financial accounts 5); landlines, plates and coordinates have none,
because families, fleets and offices share them.

* In a table (``detectors.layout``) every row is one person, known by the strongest identifier on
  it. A weaker identifier that appears elsewhere with exactly one stronger one is an alias of it,
  so a later row that only has the e-mail is still the same person; a weak value seen with several
  different strong ones (a shared family mailbox) is not followed.
* In free text there are no rows, so the people are the distinct values of the identifier kind with
  the most distinct values (the stronger kind on a tie): a lower bound that is exact when every
  record carries that kind, and does not collapse 500 e-mails to one because a single passport
  number is also present.

Each person is also marked by class, for the yearly ledger's three counts (``PersonClasses``):
*sensitive* when the person's record holds a sensitive-PI identifier (``class:
sensitive_personal_information`` in its signature, ranked or not: coordinates count), and
*account_or_medical* when that identifier is a bank, payment or insurance account or medical data
(taxonomy ``PI.financial.*``, ``PI.account.*``, ``PI.health.*``, ``PI.medical.*``).

* In a table the record is the row: a person is sensitive when any of their rows (after aliasing)
  holds a sensitive value, and keyed by their person node as above, so the class keys are a subset
  of the personal keys.
* In free text there is no record boundary. If the object names exactly one person, every class
  found in it is theirs. Otherwise the sensitive people are the distinct values of the ranked
  sensitive kind with the most distinct values (a lower bound, like the personal count), keyed in
  that kind's namespace; unranked sensitive values (coordinates) cannot be tied to anyone and mark
  nobody. The same for account_or_medical with the ranked account kinds.

Keys are HMAC-SHA256 over ``namespace:normalised value`` with the engine's secret, truncated to\n128 bits: stable across
objects for one secret, useless to anyone without it (a resident ID has too little entropy for an
unkeyed hash to protect it). The identifiers themselves never leave this module.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from detectors.layout import Layout
from detectors.vectors import (
    IntArray,
    distinct_strings,
    native_kernels,
    search_sorted,
    unique_ints,
    unique_strings,
)
from sensor.native import optional_extension

if TYPE_CHECKING:  # the extension may not be built; see _native_hasher
    from detectors import _keyhash

ALIAS_ROUNDS = 4  # alias chains longer than e-mail -> mobile -> passport -> resident ID are noise


@dataclass(frozen=True, slots=True)
class Evidence:
    """Accepted values of one identifier that names a person."""

    rank: int
    namespace: str
    starts: IntArray
    values: npt.NDArray[np.bytes_]
    sensitive: bool = False
    account_or_medical: bool = False
    # ``distinct_strings(values)`` (distinct values by first appearance, inverse) when the caller
    # already has it (the engine computes it once per identifier for the finding's distinct
    # count); None: computed here
    distinct: tuple[npt.NDArray[np.bytes_], IntArray] | None = None


@dataclass(frozen=True, slots=True)
class ClassMarks:
    """Byte offsets of values that make their record sensitive / account-or-medical."""

    sensitive: IntArray
    account_or_medical: IntArray


NO_MARKS = ClassMarks(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class People:
    count: int
    keys: tuple[str, ...]  # hex HMAC-SHA256, sorted
    sensitive_keys: tuple[str, ...] = ()  # sorted; people whose record holds sensitive PI
    account_or_medical_keys: tuple[str, ...] = ()  # sorted; ... bank/financial account or medical


KEY_BYTES = 16  # 128 bits of the HMAC: no collisions among billions of people, half the storage


def _native_hasher(secret: bytes) -> _keyhash.Hasher | None:
    """The C loop (``detectors._keyhash``), unless it was not built or ``EGRESS_NATIVE_HASH=0``."""
    module = optional_extension("detectors._keyhash", "EGRESS_NATIVE_HASH")
    return module.Hasher(secret) if module is not None else None


class KeyedHasher:
    """HMAC-SHA256 (RFC 2104) with the key pads hashed once, truncated to ``KEY_BYTES``.

    ``hmac.digest`` re-derives the pads on every call (3.5 us per value measured); copying the two
    prepared SHA-256 states costs a third of that, which matters at 10 000 people per megabyte.
    The C extension ``detectors._keyhash`` does the same with plain struct copies and no
    interpreter in the loop (0.19 us per value against 0.8 us); this class falls back to hashlib
    when it is not built.
    """

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._native = _native_hasher(secret)

    @property
    def native(self) -> bool:
        return self._native is not None

    def __call__(self, message: bytes) -> str:
        return self.many(b"", [message])[0]

    def many(self, prefix: bytes, values: list[bytes]) -> list[str]:
        """Keys of ``prefix + value`` for every value: one loop, no Python call per value."""
        if self._native is not None:
            return self._native.many(prefix, values, KEY_BYTES)
        return self.many_python(prefix, values)

    def many_python(self, prefix: bytes, values: list[bytes]) -> list[str]:
        """The hashlib reference of ``many`` (also the path without the C extension)."""
        return [raw.hex() for raw in self._raw_python(prefix, values)]

    def digests(self, prefix: bytes, values: npt.NDArray[np.bytes_]) -> bytes:
        """The keys of ``many`` as raw ``KEY_BYTES`` digests, concatenated, for the values of a
        fixed-width bytes array (each without its trailing NULs, as numpy reads it)."""
        width = values.dtype.itemsize
        if self._native is not None and values.size and width:
            return self._native.digests(prefix, np.ascontiguousarray(values), width, KEY_BYTES)
        return b"".join(self._raw_python(prefix, values.tolist()))

    def _raw_python(self, prefix: bytes, values: list[bytes]) -> list[bytes]:
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        out = []
        for value in values:
            inner = inner_copy()
            inner.update(prefix + value)
            outer = outer_copy()
            outer.update(inner.digest())
            out.append(outer.digest()[:KEY_BYTES])
        return out


def person_key(secret: bytes, namespace: str, value: bytes) -> str:
    """The key of one person, as ``count_people`` makes it (reference form, for tests and tools)."""
    return hmac.digest(secret, namespace.encode() + b":" + value, "sha256")[:KEY_BYTES].hex()


@dataclass(frozen=True, slots=True)
class _Nodes:
    """Every distinct (namespace, value) numbered, stronger ranks first; within a namespace in
    order of first appearance (``distinct_strings``: no sort, nothing but ``_rows`` reads the
    order, and it restores the byte order where it matters)."""

    codes: IntArray  # node number of each occurrence
    offsets: IntArray  # byte offset of each occurrence
    namespaces: tuple[str, ...]
    first_code: IntArray  # first node number of each namespace
    values: tuple[npt.NDArray[np.bytes_], ...]  # distinct values of each namespace
    sensitive: tuple[bool, ...] = ()  # namespace holds sensitive PI
    account_or_medical: tuple[bool, ...] = ()

    def key_digests(self, nodes: IntArray, hasher: KeyedHasher) -> bytes:
        """Raw keyed hashes of ``nodes`` (ascending, distinct), in their order, concatenated: one
        C-level HMAC call per namespace, the namespaces being numbered in order."""
        out: list[bytes] = []
        for k, namespace in enumerate(self.namespaces):
            first = int(self.first_code[k])
            lo, hi = np.searchsorted(nodes, [first, first + len(self.values[k])])
            mine = nodes[lo:hi] - first
            if mine.size:
                out.append(hasher.digests(namespace.encode() + b":", self.values[k][mine]))
        return b"".join(out)


def _nodes(evidence: list[Evidence]) -> _Nodes:
    by_namespace: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_namespace.setdefault(item.namespace, []).append(item)
    ordered = sorted(by_namespace.items(), key=lambda kv: (min(e.rank for e in kv[1]), kv[0]))
    codes, offsets, firsts, uniques = [], [], [], []
    total = 0
    for _namespace, items in ordered:
        if len(items) == 1 and items[0].distinct is not None:
            uniq, inverse = items[0].distinct
        else:
            width = max(e.values.dtype.itemsize for e in items)
            values = np.concatenate([e.values.astype(f"S{width}") for e in items])
            uniq, inverse = distinct_strings(values)
        codes.append(inverse.astype(np.int64).ravel() + total)
        offsets.append(
            items[0].starts if len(items) == 1 else np.concatenate([e.starts for e in items])
        )
        firsts.append(total)
        uniques.append(uniq)
        total += len(uniq)
    return _Nodes(
        np.concatenate(codes),
        np.concatenate(offsets),
        tuple(ns for ns, _ in ordered),
        np.array(firsts, dtype=np.int64),
        tuple(uniques),
        tuple(any(e.sensitive for e in items) for _, items in ordered),
        tuple(any(e.account_or_medical for e in items) for _, items in ordered),
    )


def _rows(nodes: _Nodes, rows: IntArray, n_nodes: int) -> tuple[IntArray, IntArray]:
    """Rows that name a person, and the person node of each after weak-to-strong aliases.

    With ``detectors._kernels`` built, the passes over every occurrence (lowest node per row,
    the partner of each weak node, the alias rounds) are two C loops (``row_minimum``,
    ``row_aliases``) without a sort; ``_rows_python`` is the reference."""
    native = native_kernels()
    if native is None:
        return _rows_python(nodes, rows, n_nodes)
    codes = np.ascontiguousarray(nodes.codes, dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    empty = np.iinfo(np.int64).max
    primary = np.full(int(rows.max()) + 1, empty, dtype=np.int64)
    bounds = np.append(nodes.first_code, n_nodes).astype(np.int64)
    if native.row_minimum(codes, rows, bounds, primary):
        _smallest_value_first(nodes, rows, primary)
    alias = np.empty(n_nodes, dtype=np.int64)
    native.row_aliases(codes, rows, primary, ALIAS_ROUNDS, alias)
    named = np.flatnonzero(primary != empty).astype(np.int64)
    result: IntArray = alias[primary[named]]
    return named, result


def _rows_python(nodes: _Nodes, rows: IntArray, n_nodes: int) -> tuple[IntArray, IntArray]:
    """``_rows`` in numpy (the reference, and the path without the C kernels)."""
    codes = nodes.codes
    empty = np.iinfo(np.int64).max
    primary = np.full(int(rows.max()) + 1, empty, dtype=np.int64)
    np.minimum.at(primary, rows, codes)  # strongest node of each row (lowest code)
    _smallest_value_first(nodes, rows, primary)
    occ_primary = primary[rows]
    weak = codes != occ_primary
    alias = np.arange(n_nodes, dtype=np.int64)
    if weak.any():
        pairs = unique_ints(codes[weak] * n_nodes + occ_primary[weak])  # (weak, strong) as one int
        weak_nodes, strong_nodes = pairs // n_nodes, pairs % n_nodes
        # the pairs are sorted, so each weak node's pairs are adjacent: it has one strong partner
        # when it differs from both neighbours
        change = weak_nodes[1:] != weak_nodes[:-1]
        single = np.concatenate([[True], change]) & np.concatenate([change, [True]])
        alias[weak_nodes[single]] = strong_nodes[single]
        for _ in range(ALIAS_ROUNDS):
            alias = alias[alias]
    named = np.flatnonzero(primary != empty).astype(np.int64)
    result: IntArray = alias[primary[named]]
    return named, result


def _smallest_value_first(nodes: _Nodes, rows: IntArray, primary: IntArray) -> None:
    """A row with two values of its strongest namespace (two mobiles) is known by the smaller
    value in byte order, whichever comes first: the person a row names does not depend on the
    order of its columns. ``primary`` holds the lowest node of each row (first appearance within
    a namespace, see ``_Nodes``); the few rows with such a tie get the byte-smallest instead."""
    codes = nodes.codes
    ends = np.append(nodes.first_code[1:], int(nodes.first_code[-1]) + len(nodes.values[-1]))
    occ_primary = primary[rows]
    namespace_end = ends[np.searchsorted(nodes.first_code, occ_primary, "right") - 1]
    rival = (codes != occ_primary) & (codes < namespace_end)  # same namespace, another value
    if not rival.any():
        return
    tied_rows = unique_ints(rows[rival])
    contenders = np.isin(rows, tied_rows) & (codes < namespace_end)
    cand_rows, cand_codes = rows[contenders], codes[contenders]
    cand_nodes = unique_ints(cand_codes)
    namespace = np.searchsorted(nodes.first_code, cand_nodes, "right") - 1
    width = max(v.dtype.itemsize for v in nodes.values)
    strings = np.empty(cand_nodes.size, dtype=f"S{width}")
    for k in np.unique(namespace).tolist():
        mine = namespace == k
        strings[mine] = nodes.values[k][cand_nodes[mine] - nodes.first_code[k]]
    # distinct ranks in byte order within each namespace (a row's contenders share one)
    _, by_bytes = unique_strings(strings)
    rank = np.empty(cand_nodes.size, dtype=np.int64)
    rank[np.lexsort((namespace, by_bytes))] = np.arange(cand_nodes.size)
    best = np.full(primary.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, cand_rows, rank[np.searchsorted(cand_nodes, cand_codes)])
    by_rank = np.empty(cand_nodes.size, dtype=np.int64)
    by_rank[rank] = cand_nodes
    primary[tied_rows] = by_rank[best[tied_rows]]


def _marked(row_ids: IntArray, persons: IntArray, marked_rows: IntArray) -> IntArray:
    """Distinct persons with at least one row among ``marked_rows``."""
    if marked_rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    result: IntArray = unique_ints(persons[np.isin(row_ids, marked_rows)])
    return result


def _largest(nodes: _Nodes, wanted: tuple[bool, ...]) -> IntArray:
    """Nodes of the wanted namespace with the most distinct values (stronger on a tie)."""
    sizes = np.array([len(v) if w else -1 for v, w in zip(nodes.values, wanted, strict=True)])
    best = int(np.argmax(sizes))
    if sizes[best] <= 0:
        return np.zeros(0, dtype=np.int64)
    result: IntArray = nodes.first_code[best] + np.arange(sizes[best], dtype=np.int64)
    return result


def count_people(
    evidence: list[Evidence],
    layout: Layout,
    hasher: KeyedHasher,
    marks: ClassMarks = NO_MARKS,
) -> People:
    """Distinct individuals among ``evidence``, their keyed hashes, and which are sensitive."""
    evidence = [e for e in evidence if e.values.size]
    if not evidence:
        return People(0, ())
    nodes = _nodes(evidence)
    n_nodes = int(nodes.first_code[-1]) + len(nodes.values[-1])
    if layout.rows:
        row_ids, persons = _rows(nodes, layout.row_of(nodes.offsets), n_nodes)
        people = unique_ints(persons)
        sensitive = _marked(row_ids, persons, unique_ints(layout.row_of(marks.sensitive)))
        account = _marked(row_ids, persons, unique_ints(layout.row_of(marks.account_or_medical)))
    else:
        people = _largest(nodes, tuple(True for _ in nodes.values))
        if people.size == 1:  # one person's document: everything in it is about them
            sensitive = people if marks.sensitive.size else people[:0]
            account = people if marks.account_or_medical.size else people[:0]
        else:
            sensitive = _largest(nodes, nodes.sensitive)
            account = _largest(nodes, nodes.account_or_medical)
    wanted = unique_ints(np.concatenate([people, sensitive, account]))
    keys = _SortedKeys(nodes.key_digests(wanted, hasher), wanted)
    people_keys = keys.of(people)
    return People(
        len(people_keys),
        people_keys,
        people_keys if _same(sensitive, people) else keys.of(sensitive),
        people_keys if _same(account, people) else keys.of(account),
    )


def _same(a: IntArray, b: IntArray) -> bool:
    return a.size == b.size and bool(np.array_equal(a, b))


class _SortedKeys:
    """The keys of ``nodes`` (ascending, distinct) as raw digests and, for any subset of the
    nodes, its hex keys sorted.

    Lower-case hex of equal length sorts as the bytes it encodes, so the digests are ordered as
    big-endian 64-bit words by numpy's sort and a subset's keys are cut, in that order, from the
    hex of its rows: one hex string per person instead of one from the hasher and then
    ``sorted`` over 125,000 of them (50 ms against 15 on the dense CSV). Two keys sharing their
    first 64 bits (never seen) are ordered on all their words."""

    def __init__(self, raw: bytes, nodes: IntArray) -> None:
        self.nodes = nodes
        words = -(-KEY_BYTES // 8)
        self.raw = np.frombuffer(raw, dtype=np.uint8).reshape(nodes.size, KEY_BYTES)
        padded = np.zeros((nodes.size, 8 * words), dtype=np.uint8)
        padded[:, :KEY_BYTES] = self.raw
        keys = padded.view(">u8").astype(np.uint64)
        order: IntArray = np.argsort(keys[:, 0]).astype(np.int64)
        first = keys[order, 0]
        if words > 1 and bool(np.any(first[1:] == first[:-1])):
            order = np.lexsort(keys.T[::-1]).astype(np.int64)
        self.order = order

    def of(self, subset: IntArray) -> tuple[str, ...]:
        """Sorted hex keys of ``subset`` (distinct nodes, all among ``nodes``)."""
        if subset.size == 0:
            return ()
        chosen = np.zeros(self.nodes.size, dtype=bool)
        chosen[search_sorted(self.nodes, subset)] = True
        picked = self.order[chosen[self.order]]
        native = native_kernels()
        if native is not None:
            keys: tuple[str, ...] = native.hex_rows(self.raw, KEY_BYTES, picked)
            return keys
        text = self.raw[picked].tobytes().hex()
        width = 2 * KEY_BYTES
        return tuple([text[i : i + width] for i in range(0, len(text), width)])


def digest_secret(secret: bytes) -> str:
    """A fingerprint of the key (not the key) so records can say which key hashed them."""
    return hashlib.sha256(b"egress-person-key\0" + secret).hexdigest()[:16]
