"""Finding the records of a block of classic pcap: the C walker and its Python reference.

Classic pcap has no index: the only way to the next record is the captured length of this one.
``PcapReader.blocks`` reads 4 MiB at a time and needs the offsets of the whole records in it; in
Python that loop costs ~0.6 us per record, so ``sensor/capture/_walk.c`` does it when it was built
(``setup.py``, optional: no compiler, no extension). ``EGRESS_NATIVE_WALK=0`` forces the Python
version, which stays the reference (``tests/test_walk.py`` runs both on odd captures). The same
extension parses the block's packet headers for ``sensor.decode.headers`` and rebuilds records
with new headers for the evidence pass (``gather``).
"""

from __future__ import annotations

import struct
from types import ModuleType

import numpy as np
import numpy.typing as npt

from sensor.native import optional_extension

__all__ = ["I64", "Walk", "gather", "native", "walk"]

I64 = npt.NDArray[np.int64]
RECORD_HEADER_LEN = 16
# Largest frame any link we support can carry (jumbo frames, TSO-coalesced captures): a captured
# length above this means the record header is garbage, not a big packet.
MAX_SANE_CAPLEN = 262_144

# (record-header offsets, where the walk stopped, the absurd captured length that stopped it or
# -1, [(record number in the block, captured length) of whole records above the limit])
Walk = tuple[I64, int, int, list[tuple[int, int]]]


def native() -> ModuleType | None:
    """The C walker, unless it was not built or ``EGRESS_NATIVE_WALK=0``."""
    return optional_extension("sensor.capture._walk", "EGRESS_NATIVE_WALK")


def walk(buf: bytes, limit: int, order: str, module: ModuleType | None) -> Walk:
    """The whole records at the start of ``buf``: stops before a record that does not fit, or at
    one whose captured length is above ``MAX_SANE_CAPLEN``. Records above ``limit`` (the snaplen)
    are kept and reported. ``module``: the C walker, or None for the Python one."""
    if module is None:
        return walk_python(buf, limit, order)
    packed, pos, absurd, over = module.walk(buf, limit, MAX_SANE_CAPLEN, order != "<")
    return np.frombuffer(packed, dtype=np.int64), pos, absurd, over


def walk_python(buf: bytes, limit: int, order: str) -> Walk:
    """The reference walk: one captured length per record, compared once in the common case."""
    caplen_at = struct.Struct(order + "8xI").unpack_from
    pos, last = 0, len(buf) - RECORD_HEADER_LEN  # a record header must start at or before last
    starts: list[int] = []
    over: list[tuple[int, int]] = []
    append, absurd = starts.append, -1
    while pos <= last:
        (caplen,) = caplen_at(buf, pos)
        if caplen > limit:
            if caplen > MAX_SANE_CAPLEN:
                absurd = caplen
                break
            if pos + caplen > last:
                break
            over.append((len(starts), caplen))
        elif pos + caplen > last:
            break
        append(pos)
        pos += RECORD_HEADER_LEN + caplen
    return np.array(starts, dtype=np.int64), pos, absurd, over


def gather(data: bytes, starts: I64, sizes: I64, heads: bytes, module: ModuleType | None) -> bytes:
    """For each record k: ``heads[16k : 16k + 16]``, then its frame ``data[starts[k] + 16 :
    starts[k] + 16 + sizes[k]]``, all in one bytes object. ``module``: the C version, or None."""
    if module is not None:
        gathered: bytes = module.gather(
            data,
            np.ascontiguousarray(starts, dtype=np.int64),
            np.ascontiguousarray(sizes, dtype=np.int64),
            heads,
        )
        return gathered
    parts = []
    for k, (at, size) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
        parts.append(heads[16 * k : 16 * k + 16])
        parts.append(data[at + 16 : at + 16 + size])
    return b"".join(parts)
