"""Live capture with Linux AF_PACKET and the TPACKET_V3 memory-mapped ring.

The kernel fills fixed-size blocks of a ring shared with us; a block is handed over when it is full
or when ``block_timeout_ms`` passes, so one ``poll`` wakes us for a whole block of frames rather
than one system call per frame. :meth:`AfPacketCapture.blocks` copies each ready block once, walks
its ``tpacket3_hdr`` chain into a :class:`FrameBatch` (numpy columns of offsets, lengths, times
and stripped VLAN tags over that copy, for a vectorised decoder) and gives the block straight back
to the kernel, so the ring is never held while the pipeline works; :meth:`AfPacketCapture.batches`
turns each batch into ``CaptureRecord`` values for the per-record pipeline.

VLAN tags the kernel stripped (``TP_STATUS_VLAN_VALID``) are put back at offset 12 in the records,
as libpcap does, so the decoder sees the frame as it was on the wire. ``PACKET_FANOUT`` in hash mode spreads flows
over worker processes (the kernel's flow hash is symmetric, so both directions reach one worker).
Kernel counters come from ``PACKET_STATISTICS`` (``tpacket_stats_v3``), which resets on each read:
:attr:`AfPacketCapture.stats` accumulates them.

Back-pressure: when the pipeline is slower than the link the ring fills, the kernel drops frames
and counts them (``kernel_drops``) and freezes the queue (``kernel_freezes``); nothing blocks the
wire and nothing is dropped silently.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import select
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensor.capture.record import CaptureRecord
from sensor.errors import EgressError

# <linux/if_packet.h>, <linux/if_ether.h>, <asm-generic/socket.h>
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
PACKET_MR_PROMISC = 1
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000  # fragments of one datagram go to one socket
TPACKET_V3 = 2
SO_ATTACH_FILTER = 26

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_8021Q = 0x8100

ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE
_LINKTYPES = {ARPHRD_ETHER: 1, ARPHRD_LOOPBACK: 1, ARPHRD_NONE: 101}  # pcap LINKTYPE_*

_REQ3 = struct.Struct("7I")  # tpacket_req3
_MREQ = struct.Struct("iHH8s")  # packet_mreq
_STATS3 = struct.Struct("3I")  # tpacket_stats_v3: packets, drops, freeze_q_cnt
_BLOCK_HDR = struct.Struct("=IIIIII")  # version, offset_to_priv, block_status, num_pkts,
#                                           offset_to_first_pkt, blk_len
_BLOCK_STATUS_OFFSET = 8
_VLAN_TAG = struct.Struct("!HH")
_PKT_HDR = struct.Struct("=IIIIIIHHIIH")  # next, sec, nsec, snaplen, len, status, mac, net,
#                                            rxhash, vlan_tci, vlan_tpid

DEFAULT_BLOCK_SIZE = 1 << 20  # 1 MiB blocks hold ~700 full-size frames: one wake-up per block
DEFAULT_BLOCK_COUNT = 64  # 64 MiB ring per socket absorbs ~0.5 s of a saturated 1 Gbit/s link
DEFAULT_BLOCK_TIMEOUT_MS = 100  # a quiet link still hands over its partial block every 100 ms
FRAME_SIZE = 2048  # tp_frame_size: only used by the kernel to check the ring geometry


class CaptureSetupError(EgressError):
    """Live capture could not start: privileges, interface, ring or filter."""


@dataclass(frozen=True, slots=True)
class RingConfig:
    """Geometry of one socket's ring: ``block_size`` (a power-of-two multiple of the page size)
    times ``block_count`` bytes of locked kernel memory."""

    block_size: int = DEFAULT_BLOCK_SIZE
    block_count: int = DEFAULT_BLOCK_COUNT
    block_timeout_ms: int = DEFAULT_BLOCK_TIMEOUT_MS

    def check(self) -> None:
        page = mmap.PAGESIZE
        if self.block_size < page or self.block_size & (self.block_size - 1):
            raise CaptureSetupError(
                f"ring block size {self.block_size} must be a power of two of at least {page}"
            )
        if self.block_count < 1 or self.block_timeout_ms < 1:
            raise CaptureSetupError("ring block count and block timeout must be at least 1")


@dataclass(slots=True)
class KernelStats:
    """Running totals of ``PACKET_STATISTICS``; ``packets`` includes ``drops`` (kernel semantics)."""

    packets: int = 0
    drops: int = 0
    freezes: int = 0


def compile_bpf(expression: str, linktype: str = "EN10MB") -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump filter expression to classic BPF with ``tcpdump -ddd``."""
    try:
        done = subprocess.run(
            ["tcpdump", "-ddd", "-y", linktype, expression],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        raise CaptureSetupError(
            "compiling a BPF filter needs tcpdump: install it (apt-get install tcpdump)"
        ) from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unknown error"
        raise CaptureSetupError(f"BPF filter {expression!r} does not compile: {reason}")
    lines = done.stdout.split()
    count = int(lines[0])
    numbers = [int(x) for x in lines[1:]]
    program = [
        (numbers[i], numbers[i + 1], numbers[i + 2], numbers[i + 3])
        for i in range(0, len(numbers), 4)
    ]
    if len(program) != count:
        raise CaptureSetupError(f"tcpdump -ddd gave {len(program)} instructions, said {count}")
    return program


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [
        ("len", ctypes.c_uint16),
        ("filter", ctypes.POINTER(_SockFilter)),
    ]


def attach_bpf(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    """``SO_ATTACH_FILTER`` a classic BPF program (the array lives until setsockopt returns)."""
    array = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    fprog = _SockFprog(len(program), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def _open_socket() -> socket.socket:
    try:
        # protocol 0: receive nothing until bound, so no frame slips past the filter
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise CaptureSetupError(
            "live capture needs root or the CAP_NET_RAW capability (and CAP_NET_ADMIN for "
            "promiscuous mode); run as root or grant them, e.g. systemd AmbientCapabilities="
        ) from None


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """One ring block's frames as columns over a single copy of the block.

    This is the shape a vectorised decoder wants (numpy over offsets and lengths, no Python object
    per frame); :meth:`records` gives the same frames as ``CaptureRecord`` values for the
    per-record pipeline. Frames are stored as the kernel delivered them: an outer VLAN tag the
    kernel stripped is in ``vlan_tpid``/``vlan_tci`` (tpid 0: none) and :meth:`records` puts it back
    at offset 12; ``wirelens`` already count it.
    """

    linktype: int
    first_index: int
    block: bytes
    offsets: npt.NDArray[np.int64]
    caplens: npt.NDArray[np.int64]
    wirelens: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.float64]
    vlan_tpid: npt.NDArray[np.uint16]
    vlan_tci: npt.NDArray[np.uint16]

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def captured_bytes(self) -> int:
        """Bytes of the frames as on the wire (reinserted tags included)."""
        return int(self.caplens.sum()) + 4 * int(np.count_nonzero(self.vlan_tpid))

    def records(self) -> list[CaptureRecord]:
        block, linktype, first = self.block, self.linktype, self.first_index
        out: list[CaptureRecord] = []
        columns = zip(
            self.offsets.tolist(),
            self.caplens.tolist(),
            self.wirelens.tolist(),
            self.timestamps.tolist(),
            self.vlan_tpid.tolist(),
            self.vlan_tci.tolist(),
            strict=True,
        )
        for n, (start, caplen, wire, ts, tpid, tci) in enumerate(columns):
            if tpid:
                data = (
                    block[start : start + 12]
                    + _VLAN_TAG.pack(tpid, tci)
                    + block[start + 12 : start + caplen]
                )
            else:
                data = block[start : start + caplen]
            out.append(CaptureRecord(first + n, ts, linktype, data, wire))
        return out


class _Ring:
    """One AF_PACKET socket on one interface with its mapped TPACKET_V3 ring."""

    def __init__(
        self,
        interface: str,
        ring: RingConfig,
        promiscuous: bool,
        bpf: list[tuple[int, int, int, int]] | None,
        fanout_group: int | None,
    ) -> None:
        try:
            self.ifindex = socket.if_nametoindex(interface)
        except OSError:
            raise CaptureSetupError(
                f"no network interface named {interface!r}; see `ip link` for the names"
            ) from None
        self.interface = interface
        self.ring = ring
        self.sock = _open_socket()
        try:
            self._setup(promiscuous, bpf, fanout_group)
        except BaseException:
            self.sock.close()
            raise
        self.block = 0

    def _setup(
        self,
        promiscuous: bool,
        bpf: list[tuple[int, int, int, int]] | None,
        fanout_group: int | None,
    ) -> None:
        sock, ring = self.sock, self.ring
        if bpf is not None:
            attach_bpf(sock, bpf)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        frames = ring.block_size // FRAME_SIZE * ring.block_count
        req = _REQ3.pack(
            ring.block_size, ring.block_count, FRAME_SIZE, frames, ring.block_timeout_ms, 0, 0
        )
        try:
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        except OSError as exc:
            raise CaptureSetupError(
                f"{self.interface}: the kernel refused a ring of {ring.block_count} x "
                f"{ring.block_size} bytes ({exc.strerror}); use fewer or smaller blocks"
            ) from None
        self.size = ring.block_size * ring.block_count
        self.map = mmap.mmap(
            sock.fileno(), self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self.view = memoryview(self.map)
        sock.bind((self.interface, ETH_P_ALL))
        hatype = sock.getsockname()[3]
        if hatype not in _LINKTYPES:
            raise CaptureSetupError(
                f"{self.interface}: link type ARPHRD {hatype} is not supported (Ethernet, "
                "loopback or raw IP)"
            )
        self.linktype = _LINKTYPES[hatype]
        if promiscuous:
            mreq = _MREQ.pack(self.ifindex, PACKET_MR_PROMISC, 0, b"")
            try:
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            except PermissionError:
                raise CaptureSetupError(
                    f"{self.interface}: promiscuous mode needs CAP_NET_ADMIN; grant it or "
                    "disable promiscuous mode"
                ) from None
        if fanout_group is not None:
            arg = (fanout_group & 0xFFFF) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("=I", arg))
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.EALREADY):
                    raise CaptureSetupError(
                        f"{self.interface}: fan-out group {fanout_group} is in use with other "
                        "settings; choose another live.fanout_group"
                    ) from None
                raise

    def ready(self) -> bool:
        status = _BLOCK_HDR.unpack_from(self.view, self.block * self.ring.block_size)[2]
        return bool(status & TP_STATUS_USER)

    def take(self, next_index: int) -> FrameBatch:
        """The frames of the current (ready) block, copied out; the block goes back to the kernel."""
        base = self.block * self.ring.block_size
        view = self.view
        _, _, _, count, first, used = _BLOCK_HDR.unpack_from(view, base)
        size = min(max(used, first), self.ring.block_size)
        block = bytes(view[base : base + size])  # one copy of the used part of the block
        offsets: list[int] = []
        caplens: list[int] = []
        wirelens: list[int] = []
        times: list[float] = []
        tpids: list[int] = []
        tcis: list[int] = []
        pos = first
        tagged = self.linktype == 1
        for _ in range(count):
            (nxt, sec, nsec, snaplen, wire, status, mac, _net, _hash, tci, tpid) = (
                _PKT_HDR.unpack_from(block, pos)
            )
            offsets.append(pos + mac)
            caplens.append(snaplen)
            times.append(sec + nsec / 1e9)
            if status & TP_STATUS_VLAN_VALID and tagged and snaplen >= 12:
                tpids.append(tpid if status & TP_STATUS_VLAN_TPID_VALID and tpid else ETH_P_8021Q)
                tcis.append(tci)
                wirelens.append(wire + 4)
            else:
                tpids.append(0)
                tcis.append(0)
                wirelens.append(wire)
            pos += nxt
        struct.pack_into("=I", view, base + _BLOCK_STATUS_OFFSET, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.ring.block_count
        return FrameBatch(
            linktype=self.linktype,
            first_index=next_index,
            block=block,
            offsets=np.array(offsets, dtype=np.int64),
            caplens=np.array(caplens, dtype=np.int64),
            wirelens=np.array(wirelens, dtype=np.int64),
            timestamps=np.array(times, dtype=np.float64),
            vlan_tpid=np.array(tpids, dtype=np.uint16),
            vlan_tci=np.array(tcis, dtype=np.uint16),
        )

    def kernel_stats(self) -> tuple[int, int, int]:
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS3.size)
        packets, drops, freezes = _STATS3.unpack(raw)
        return packets, drops, freezes

    def close(self) -> None:
        view = getattr(self, "view", None)
        if view is not None:
            view.release()
            self.map.close()
        self.sock.close()


class AfPacketCapture:
    """Frames from one or more interfaces, a ring block at a time.

    ``fanout_group`` joins each interface's socket to a hash fan-out group (group id plus the
    interface's position, since a group is per device), so N processes opening the same
    interfaces with the same group each get whole flows.
    """

    def __init__(
        self,
        interfaces: list[str],
        ring: RingConfig | None = None,
        promiscuous: bool = True,
        bpf: str | None = None,
        fanout_group: int | None = None,
    ) -> None:
        if not interfaces:
            raise CaptureSetupError("name at least one interface to capture on (--interface)")
        self.ring_config = ring or RingConfig()
        self.ring_config.check()
        program = compile_bpf(bpf) if bpf else None
        self.bpf_instructions = len(program) if program else 0
        self.name = "live:" + "+".join(interfaces)
        self.stats = KernelStats()
        self.packets = 0
        self.bytes = 0
        self._rings: list[_Ring] = []
        try:
            for i, interface in enumerate(interfaces):
                group = None if fanout_group is None else fanout_group + i
                self._rings.append(_Ring(interface, self.ring_config, promiscuous, program, group))
        except BaseException:
            self.close()
            raise
        self._poll = select.poll()
        for r in self._rings:
            self._poll.register(r.sock.fileno(), select.POLLIN | select.POLLERR)

    def blocks(self, timeout: float) -> Iterator[FrameBatch]:
        """Every block ready within ``timeout`` seconds, as a :class:`FrameBatch`."""
        if not any(r.ready() for r in self._rings):
            self._poll.poll(int(timeout * 1000))
        for ring in self._rings:
            # at most one lap of the ring per call, so a link that never pauses still lets the
            # caller act on signals and report its counters between laps
            for _ in range(ring.ring.block_count):
                if not ring.ready():
                    break
                batch = ring.take(self.packets)
                self.packets += len(batch)
                self.bytes += batch.captured_bytes
                yield batch

    def batches(self, timeout: float) -> Iterator[list[CaptureRecord]]:
        """Every block ready within ``timeout`` seconds, one list of records per block."""
        for batch in self.blocks(timeout):
            yield batch.records()

    def update_stats(self) -> KernelStats:
        """Fold the kernel's counters (reset on every read) into :attr:`stats`."""
        for ring in self._rings:
            packets, drops, freezes = ring.kernel_stats()
            self.stats.packets += packets
            self.stats.drops += drops
            self.stats.freezes += freezes
        return self.stats

    @property
    def linktypes(self) -> list[int]:
        return [r.linktype for r in self._rings]

    def close(self) -> None:
        for ring in self._rings:
            ring.close()
        self._rings.clear()
