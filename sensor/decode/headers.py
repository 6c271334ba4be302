"""Header fields of a whole block of classic-pcap Ethernet records, parsed at once (C or numpy).

``BlockHeaders`` reads the record headers, Ethernet, up to two 802.1Q/802.1ad tags, IPv4 without
options or fragments, IPv6 without extension headers and the TCP header of every record of a
block at once; ``fast`` says which records are such TCP segments (everything else goes to the
per-packet decoder). The C extension of the record walk (``sensor/capture/_walk.c``) does it in
one pass when it was built; the numpy version is the reference and the fallback
(``EGRESS_NATIVE_WALK=0``). Used by the batch path (``sensor.decode.batch``) and the hyperscan peer of
the bench.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt

from sensor.capture.walk import native

__all__ = ["BlockHeaders"]

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_PAD = 128  # bytes appended to a block: the furthest fixed-offset read past a record's start
_COLUMNS = 12  # int64 columns the C parser fills (the order of its C_* enum)
_MIX = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
    np.uint64(0x27D4EB2F165667C5),
)


def _be16(a: U8, at: I64) -> I64:
    return (a[at].astype(np.int64) << 8) | a[at + 1]


def _be32(a: U8, at: I64) -> I64:
    return (_be16(a, at) << 16) | _be16(a, at + 2)


class BlockHeaders:
    """Header fields of the fast-path TCP records of one block, as arrays (record order).

    Records that are not fast-path TCP segments (``fast`` false) have ports, sequence numbers,
    flags, payload offset and length 0, no VLAN tags (``tags`` 0, ``vlan1``/``vlan2`` -1) and
    zero addresses; only ``timestamps`` is read for every record."""

    def __init__(self, block: bytes, starts: I64, order: str, divisor: int) -> None:
        module = native()
        if module is None:
            sec, frac = self._numpy(block, starts, order)
        else:
            sec, frac = self._native(module, block, starts, order)
        self.timestamps = sec + frac / divisor
        # Addresses as 16 bytes (IPv4 in the last four) read as two 64-bit halves, for grouping.
        s64, d64 = self.src16.view(np.uint64), self.dst16.view(np.uint64)
        self.src_hi, self.src_lo = s64[:, 0], s64[:, 1]
        self.dst_hi, self.dst_lo = d64[:, 0], d64[:, 1]

    def _native(self, module: ModuleType, block: bytes, starts: I64, order: str) -> tuple[I64, I64]:
        """One pass in C (``sensor/capture/_walk.c``): every column at once."""
        n = len(starts)
        ints = np.empty((_COLUMNS, n), np.int64)
        flags = np.empty((2, n), np.bool_)
        addresses = np.empty((2, n, 16), np.uint8)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        module.headers(block, starts, order != "<", ints, flags, addresses)
        sec, frac, self.sport, self.dport, self.seq, self.ack, self.flags = ints[:7]
        self.payload_start, self.payload_len, self.tags, self.vlan1, self.vlan2 = ints[7:]
        self.fast, self.v6 = flags
        self.src16, self.dst16 = addresses
        return sec, frac

    def _numpy(self, block: bytes, starts: I64, order: str) -> tuple[I64, I64]:
        """The reference: the same fields with numpy, a few dozen passes over the records."""
        # Padded so that reads for records too short for the fast path stay inside the array.
        a = np.frombuffer(block + bytes(_PAD), dtype=np.uint8)
        n = len(starts)
        words = np.dtype(np.uint32).newbyteorder("<" if order == "<" else ">")
        head = a[starts[:, None] + np.arange(16)].copy().view(words).reshape(n, 4).astype(np.int64)
        caplen = head[:, 2]
        d = starts + 16
        end = d + caplen
        ok = caplen >= 54  # Ethernet + IPv4 + TCP at the least
        safe = np.where(ok, d, 0)
        et = _be16(a, safe + 12)
        tags = np.zeros(n, np.int64)
        vlan1 = np.full(n, -1, np.int64)
        vlan2 = np.full(n, -1, np.int64)
        for level, vlan in ((0, vlan1), (1, vlan2)):
            tagged = ok & np.isin(et, _VLAN_TPIDS) & (tags == level)
            at = np.where(tagged, safe + 14 + 4 * level, 0)
            ok &= ~tagged | (at + 4 + 40 <= end)
            at = np.where(ok & tagged, at, 0)
            vlan[:] = np.where(tagged, _be16(a, at) & 0x0FFF, vlan)
            et = np.where(tagged, _be16(a, at + 2), et)
            tags += tagged
        ok &= ~np.isin(et, _VLAN_TPIDS)  # a third tag: the per-packet walker handles it
        ip = d + 14 + 4 * tags
        v4 = ok & (et == 0x0800)
        v6 = ok & (et == 0x86DD)
        ip4 = np.where(v4 & (ip + 40 <= end), ip, 0)
        v4 &= ip4 > 0
        total = _be16(a, ip4 + 2)
        v4 &= (a[ip4] == 0x45) & (total >= 40) & (ip4 + total <= end)
        v4 &= ((_be16(a, ip4 + 6) & 0x3FFF) == 0) & (a[ip4 + 9] == 6)
        ip6 = np.where(v6 & (ip + 60 <= end), ip, 0)
        v6 &= ip6 > 0
        plen = _be16(a, ip6 + 4)
        v6 &= ((a[ip6] >> 4) == 6) & (a[ip6 + 6] == 6) & (plen >= 20) & (ip6 + 40 + plen <= end)
        fast = v4 | v6
        tcp = np.where(v4, ip + 20, ip + 40)
        stop = np.where(v4, ip + total, ip + 40 + plen)
        tcp = np.where(fast, tcp, 0)
        header_len = (a[tcp + 12] >> 4).astype(np.int64) * 4
        fast &= (header_len >= 20) & (tcp + header_len <= stop)
        self.fast = fast
        self.v6 = v6 & fast
        t = np.where(fast, tcp, 0)
        self.sport = np.where(fast, _be16(a, t), 0)
        self.dport = np.where(fast, _be16(a, t + 2), 0)
        self.seq = np.where(fast, _be32(a, t + 4), 0)
        self.ack = np.where(fast, _be32(a, t + 8), 0)
        self.flags = np.where(fast, a[t + 13].astype(np.int64), 0)
        self.payload_start = np.where(fast, t + header_len, 0)
        self.payload_len = np.where(fast, stop - self.payload_start, 0)
        self.tags = np.where(fast, tags, 0)
        self.vlan1, self.vlan2 = np.where(fast, vlan1, -1), np.where(fast, vlan2, -1)
        src16 = np.zeros((n, 16), np.uint8)
        dst16 = np.zeros((n, 16), np.uint8)
        i4, i6 = np.nonzero(v4 & fast)[0], np.nonzero(self.v6)[0]
        src16[i4, 12:] = a[(ip[i4] + 12)[:, None] + np.arange(4)]
        dst16[i4, 12:] = a[(ip[i4] + 16)[:, None] + np.arange(4)]
        src16[i6] = a[(ip[i6] + 8)[:, None] + np.arange(16)]
        dst16[i6] = a[(ip[i6] + 24)[:, None] + np.arange(16)]
        self.src16, self.dst16 = src16, dst16
        return head[:, 0], head[:, 1]

    def flow_hash(self) -> U64:
        """Direction-independent hash of the 5-tuple and VLAN tags (grouping only, verified)."""
        m0, m1, m2, m3 = _MIX
        with np.errstate(over="ignore"):
            a = self.src_hi * m0 ^ self.src_lo * m1 ^ self.sport.astype(np.uint64) * m2
            b = self.dst_hi * m0 ^ self.dst_lo * m1 ^ self.dport.astype(np.uint64) * m2
            v = (self.vlan1 + 2).astype(np.uint64) * m3 + (self.vlan2 + 2).astype(np.uint64)
            hashed: U64 = (a ^ b) + v * m1 + self.v6.astype(np.uint64)
            return hashed
