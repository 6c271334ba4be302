"""One compiled hyperscan database for all active identifiers.

hyperscan has no look-around, so each identifier's pattern is wrapped as
``(?:^|B)(?:PATTERN)(?:B|$)`` where ``B`` is the complement of the identifier's boundary class: a
match can then only start and end where no boundary character touches it, and a run of 25 digits
yields no candidate at all instead of eight overlapping ones. Because the wrapper consumes at most one
character on the left, the identifier's start is ``from + 1`` except for a match at the very start of
the buffer (the ``^`` branch). Identifiers have a fixed ``length`` in format version 1, which gives
the end.

Matches are collected into numpy arrays so validation runs once per object, not once per match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import hyperscan
import numpy as np

from detectors.catalogue import IdentifierSpec
from detectors.validators import ByteArray, IntArray
from sensor.errors import SignatureError


def _negate_class(boundary: str) -> str:
    if not (boundary.startswith("[") and boundary.endswith("]")) or boundary.startswith("[^"):
        raise SignatureError(f"boundary must be a positive character class like [0-9]: {boundary}")
    return "[^" + boundary[1:]


@dataclass(frozen=True, slots=True)
class Candidates:
    """Candidate start offsets per identifier index (into the matcher's spec tuple)."""

    starts: dict[int, IntArray]


class Matcher:
    """Scans buffers with every identifier's pattern at once."""

    def __init__(self, specs: tuple[IdentifierSpec, ...]) -> None:
        self.specs = specs
        self._db: hyperscan.Database | None = None
        self._boundary_tables: list[np.ndarray] = []
        expressions = []
        for spec in specs:
            outside = _negate_class(spec.boundary)
            expressions.append(f"(?:^|{outside})(?:{spec.pattern})(?:{outside}|$)".encode())
            self._boundary_tables.append(self._class_table(spec.boundary))
        # The fingerprint lets a later cache key compiled databases by signature content.
        self.fingerprint = hashlib.sha256(b"\0".join(expressions)).hexdigest()
        if not expressions:
            return
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            db.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(expressions),
            )
        except hyperscan.error as exc:
            raise SignatureError(
                f"a signature pattern does not compile in hyperscan: {exc}"
            ) from None
        self._db = db

    @staticmethod
    def _class_table(boundary: str) -> np.ndarray:
        """A 256-entry lookup of which byte values belong to the boundary class."""
        compiled = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        compiled.compile(expressions=[boundary.encode()], ids=[0], elements=1, flags=[0])
        hits: list[int] = []
        compiled.scan(
            bytes(range(256)), match_event_handler=lambda _i, _f, to, _fl, _c: hits.append(to - 1)
        )
        table = np.zeros(256, dtype=bool)
        table[hits] = True
        return table

    def scan(self, data: bytes) -> tuple[ByteArray, Candidates]:
        """Return the buffer as uint8 and the candidate starts of each identifier."""
        buf = np.frombuffer(data, dtype=np.uint8)
        if self._db is None or not data:
            return buf, Candidates({})
        froms: dict[int, list[int]] = {}

        def on_match(ident: int, start: int, _end: int, _flags: int, _ctx: object) -> None:
            froms.setdefault(ident, []).append(start)

        self._db.scan(data, match_event_handler=on_match)
        starts: dict[int, IntArray] = {}
        for ident, positions in froms.items():
            arr = np.asarray(positions, dtype=np.int64)
            # Shift past the one boundary character the wrapper consumed, except at offset 0
            # when the buffer starts with the identifier itself.
            at_zero_inside = (arr == 0) & self._boundary_tables[ident][buf[0]]
            arr = np.where(at_zero_inside, arr, arr + 1)
            arr = arr[arr + self.specs[ident].length <= len(buf)]
            starts[ident] = np.unique(arr)
        return buf, Candidates(starts)
