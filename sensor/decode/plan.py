"""Which records of a block the batch path may account without ``FlowTable.process``.

The per-packet path's cost is Python per segment. ``plan_block`` looks at a whole block of parsed
headers (``BlockHeaders``) and the flow table as it is when the block starts, and marks records
whose effect it can reproduce more cheaply, with numpy over the block and a few Python
operations per flow:

* ``BULK``: pure ACKs (no payload, no SYN/FIN/RST) and payload of directions the application
  layer discarded; counted once per flow direction and block after the block's other records
  (``Bulk``), no Python object per packet, no byte copied.
* ``IN_ORDER``: data segments that continue their direction's stream exactly (the first starts at
  the reassembler's next expected byte, each starts where the previous one ended, nothing waits
  out of order); each is handed to ``FlowTable.in_order`` at its place in the capture, without a
  ``TcpSegment`` or the table's per-segment bookkeeping.
* ``MEMBER`` / ``RUN_END``: the same segments, for flows whose handler accepts coalesced
  delivery (``FlowHandler.coalesce``): a direction's first segments in the block, as many as fit
  in the handler's ``quiet`` budget read now (two at least), are delivered as one chunk (``Run``)
  at the place of the last of them; the direction's later ones are ``IN_ORDER``.
* ``NORMAL``: everything else (handshakes, FIN/RST and what follows them, the first packets of a
  flow, retransmissions, reordering, gaps, fallbacks): ``FlowTable.process`` one by one.

A block is planned only when that gives the per-packet path's results exactly: timestamps never
went backwards (checked by the caller), no flow can reach its idle timeout and the table cannot
fill up during the block. A flow takes part only if it existed before the block, is not closing,
has no SYN in the block (a reused 5-tuple ends it at once), only up to its first FIN or RST (and
only if the block is shorter than the close linger, so nothing it starts can end in the block),
and for a record only if the flow already shows the history letter the record would add.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensor.decode.headers import BlockHeaders
from sensor.decode.packet import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from sensor.flows.table import Direction, Flow, FlowTable

__all__ = ["BULK", "IN_ORDER", "MEMBER", "NORMAL", "RUN_END", "BlockPlan", "Bulk", "Run"]

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

NORMAL, BULK, IN_ORDER, MEMBER, RUN_END = 0, 1, 2, 3, 4
_CONTROL = TCP_SYN | TCP_FIN | TCP_RST
_DIRECTIONS = (Direction.TO_RESPONDER, Direction.TO_ORIGINATOR)  # index 0: the upload
_LETTERS = (("D", "A"), ("d", "a"))  # data and ACK history letters, per direction index
UNBOUNDED = 1 << 62  # the budget of a coalescing handler without ``quiet``


@dataclass(slots=True)
class Bulk:
    """One flow direction's bulk-accounted records of a block."""

    flow: Flow
    direction: Direction
    packets: int
    payload: int  # bytes carried, counted (not copied)
    last: int  # position of the last record in the block
    seqs: list[int]  # the payload-carrying records (discarded direction), in capture order
    lengths: list[int]


@dataclass(slots=True)
class Run:
    """A direction's contiguous data segments in a block, delivered as one chunk."""

    flow: Flow
    direction: Direction
    seq: int  # of the first segment
    rows: list[int]  # record positions in the block, in order
    starts: list[int]  # payload offsets in the block
    lengths: list[int]


@dataclass(slots=True)
class BlockPlan:
    kind: npt.NDArray[np.int8]  # per record: NORMAL, BULK, IN_ORDER, MEMBER or RUN_END
    bulk: list[Bulk] = field(default_factory=list)
    # IN_ORDER records in capture order: (flow, direction, seq, payload start, payload length)
    in_order: list[tuple[Flow, Direction, int, int, int]] = field(default_factory=list)
    runs: dict[int, Run] = field(default_factory=dict)  # by the position of the run's last record


@dataclass(slots=True)
class _Flows:
    """Per-group facts read from the flow table (arrays indexed by group number)."""

    ok: Bools
    first_is_orig: Bools
    discarding: Bools  # [group, direction index]
    data_letter: Bools
    ack_letter: Bools
    seen: Bools  # the direction had packets before the block
    next_seq: I64  # [group, direction index]; -1 when the stream cannot take data in order
    budget: I64  # [group, direction index]: bytes a run may carry (``FlowHandler.quiet``); 0: none
    flows: dict[int, Flow]


def plan_block(
    h: BlockHeaders, table: FlowTable, text: Callable[[bytes, bool], str]
) -> BlockPlan | None:
    """The plan for one block, or None when nothing in it may leave the per-packet path.
    ``text`` gives the text form of a 16-byte address slot (the runner's cache)."""
    times = h.timestamps
    n = len(times)
    # One second of margin keeps float rounding in the idle comparison out of the question.
    if table.earliest_idle_expiry() <= times[-1] + 1.0 or len(table) + n >= table.max_flows:
        return None
    fast = np.flatnonzero(h.fast)
    if not len(fast):
        return None
    _, first_pos, inverse = np.unique(h.flow_hash()[fast], return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    groups = len(first_pos)
    firsts = fast[first_pos][inverse]  # per fast record: the first record of its group
    src_hi, src_lo, sport = h.src_hi, h.src_lo, h.sport
    dst_hi, dst_lo, dport = h.dst_hi, h.dst_lo, h.dport
    same = (
        (src_hi[fast] == src_hi[firsts])
        & (src_lo[fast] == src_lo[firsts])
        & (sport[fast] == sport[firsts])
        & (dst_hi[fast] == dst_hi[firsts])
        & (dst_lo[fast] == dst_lo[firsts])
        & (dport[fast] == dport[firsts])
    )
    swapped = (
        (src_hi[fast] == dst_hi[firsts])
        & (src_lo[fast] == dst_lo[firsts])
        & (sport[fast] == dport[firsts])
        & (dst_hi[fast] == src_hi[firsts])
        & (dst_lo[fast] == src_lo[firsts])
        & (dport[fast] == sport[firsts])
    )
    exact = (
        (same | swapped)
        & (h.vlan1[fast] == h.vlan1[firsts])
        & (h.vlan2[fast] == h.vlan2[firsts])
        & (h.v6[fast] == h.v6[firsts])
    )
    flags = h.flags[fast]
    # A FIN or RST only starts the close linger: records before it may leave the per-packet path
    # if the block is shorter than the linger, so the flow cannot end inside the block.
    short = times[-1] - times[0] < table.close_linger
    stopper = (flags & ((TCP_FIN | TCP_RST) if short else _CONTROL)) != 0
    odd = ((flags & TCP_SYN) != 0) | ~exact  # a SYN, or a hash collision: the group stays normal
    bad = np.bincount(inverse, weights=odd, minlength=groups) > 0
    pre = _before_first(stopper, inverse, groups)
    wanted = ~bad & (np.bincount(inverse, weights=pre, minlength=groups) > 0)
    facts = _read_flows(h, table, text, fast[first_pos], np.flatnonzero(wanted), groups)
    if not facts.flows:
        return None
    valid = pre & facts.ok[inverse]
    up = same == facts.first_is_orig[inverse]
    d = (~up).astype(np.int64)
    length = h.payload_len[fast]
    data = length > 0
    plain_ack = (flags & TCP_ACK) == 0
    seen = facts.seen[inverse, d]  # so a VLAN-asymmetric reply still finds the direction unseen
    bulk_ack = valid & ~data & seen & (plain_ack | facts.ack_letter[inverse, d])
    lettered = valid & data & facts.data_letter[inverse, d]
    discarding = facts.discarding[inverse, d]
    bulk = bulk_ack | (lettered & discarding)
    candidate = lettered & ~discarding & (facts.next_seq[inverse, d] >= 0)
    plan = BlockPlan(np.zeros(n, np.int8))
    plan.kind[fast[bulk]] = BULK
    plan.bulk = _bulk(h, fast, np.flatnonzero(bulk), inverse, d, facts.flows)
    _in_order(h, plan, fast, np.flatnonzero(candidate), inverse, d, facts)
    return plan


def _before_first(stopper: Bools, inverse: I64, groups: int) -> Bools:
    """Per record: no stopper so far in its group (the stopper itself excluded)."""
    order = np.argsort(inverse, kind="stable")  # capture order kept inside each group
    counts = np.bincount(inverse, minlength=groups)
    stops = stopper[order].astype(np.int64)
    seen = np.cumsum(stops)
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    before_group = (seen - stops)[start] if len(start) else seen[:0]
    pre = np.empty(len(stopper), bool)
    pre[order] = (seen - np.repeat(before_group, counts)) == 0
    return pre


def _read_flows(
    h: BlockHeaders,
    table: FlowTable,
    text: Callable[[bytes, bool], str],
    first_rows: I64,
    wanted: I64,
    groups: int,
) -> _Flows:
    """Look up each wanted group's flow once, from its first record's fields."""
    facts = _Flows(
        np.zeros(groups, bool),
        np.zeros(groups, bool),
        np.zeros((groups, 2), bool),
        np.zeros((groups, 2), bool),
        np.zeros((groups, 2), bool),
        np.zeros((groups, 2), bool),
        np.full((groups, 2), -1, np.int64),
        np.zeros((groups, 2), np.int64),
        {},
    )
    rows = first_rows[wanted]
    src16, dst16 = h.src16[rows].tobytes(), h.dst16[rows].tobytes()
    found: list[int] = []
    first_is_orig: list[bool] = []
    per_direction: list[tuple[bool, bool, bool, bool, int]] = []  # group-major, then direction
    budgets: list[tuple[int, int]] = []
    for k, (g, v6, sp, dp, tags, vlan1, vlan2) in enumerate(
        zip(
            wanted.tolist(),
            h.v6[rows].tolist(),
            h.sport[rows].tolist(),
            h.dport[rows].tolist(),
            h.tags[rows].tolist(),
            h.vlan1[rows].tolist(),
            h.vlan2[rows].tolist(),
            strict=True,
        )
    ):
        at = 16 * k
        src, dst = text(src16[at : at + 16], v6), text(dst16[at : at + 16], v6)
        vlan = () if tags == 0 else (vlan1,) if tags == 1 else (vlan1, vlan2)
        flow = table.lookup(src, sp, dst, dp, vlan)
        if flow is None or flow.close_reason:
            continue
        facts.flows[g] = flow
        found.append(g)
        first_is_orig.append(src == flow.orig_ip and sp == flow.orig_port)
        history = flow.history
        for side, (data_letter, ack_letter) in zip(
            (flow.to_responder, flow.to_originator), _LETTERS, strict=True
        ):
            stream = side.stream
            per_direction.append(
                (
                    stream.discarding,
                    data_letter in history,
                    ack_letter in history,
                    side.packets > 0,
                    stream.in_order_seq(),
                )
            )
        budgets.append(_budget(flow))
    if found:
        where = np.asarray(found, np.int64)
        facts.ok[where] = True
        facts.first_is_orig[where] = first_is_orig
        columns = np.asarray(per_direction, np.int64).reshape(len(found), 2, 5)
        facts.discarding[where] = columns[:, :, 0] != 0
        facts.data_letter[where] = columns[:, :, 1] != 0
        facts.ack_letter[where] = columns[:, :, 2] != 0
        facts.seen[where] = columns[:, :, 3] != 0
        facts.next_seq[where] = columns[:, :, 4]
        facts.budget[where] = budgets
    return facts


def _budget(flow: Flow) -> tuple[int, int]:
    """Per direction, how many bytes from the block's first in-order segment on may go in one
    coalesced run: none for a handler without ``coalesce``, its ``quiet`` answer when it has
    one, any number otherwise (a stream consumer that takes any split)."""
    handler = flow.handler
    if not getattr(handler, "coalesce", False):
        return 0, 0
    quiet = getattr(handler, "quiet", None)
    if quiet is None:
        return UNBOUNDED, UNBOUNDED
    return quiet(_DIRECTIONS[0]), quiet(_DIRECTIONS[1])


def _bulk(
    h: BlockHeaders, fast: I64, chosen: I64, inverse: I64, d: I64, flows: dict[int, Flow]
) -> list[Bulk]:
    """Group the bulk records by flow direction (capture order inside each)."""
    if not len(chosen):
        return []
    key = inverse[chosen] * 2 + d[chosen]
    order = np.argsort(key, kind="stable")
    rows = fast[chosen][order]
    key = key[order]
    lengths = h.payload_len[rows]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    ends = np.concatenate((starts[1:], [len(key)]))
    totals = np.add.reduceat(lengths, starts)
    seq_list, length_list, row_list = h.seq[rows].tolist(), lengths.tolist(), rows.tolist()
    out: list[Bulk] = []
    for k, lo, hi, total in zip(
        key[starts].tolist(), starts.tolist(), ends.tolist(), totals.tolist(), strict=True
    ):
        seqs = [s for s, n in zip(seq_list[lo:hi], length_list[lo:hi], strict=True) if n]
        sizes = [n for n in length_list[lo:hi] if n]
        out.append(
            Bulk(flows[k >> 1], _DIRECTIONS[k & 1], hi - lo, total, row_list[hi - 1], seqs, sizes)
        )
    return out


def _in_order(
    h: BlockHeaders,
    plan: BlockPlan,
    fast: I64,
    candidate: I64,
    inverse: I64,
    d: I64,
    facts: _Flows,
) -> None:
    """Mark each direction's data segments that continue its stream exactly, from the first
    one on: ``IN_ORDER``, or ``MEMBER``/``RUN_END`` for handlers that accept coalescing."""
    if not len(candidate):
        return
    key = inverse[candidate] * 2 + d[candidate]
    order = np.argsort(key, kind="stable")
    rows = fast[candidate][order]
    key = key[order]
    seqs, lengths = h.seq[rows], h.payload_len[rows]
    first = np.concatenate(([True], key[1:] != key[:-1]))
    previous_end = np.empty_like(seqs)
    previous_end[1:] = (seqs[:-1] + lengths[:-1]) & 0xFFFFFFFF
    expected = np.where(first, facts.next_seq.ravel()[key], previous_end)
    broken = (seqs != expected).astype(np.int64)
    seen = np.cumsum(broken)
    run_id = np.cumsum(first) - 1
    before_run = (seen - broken)[first]
    keep = seen - before_run[run_id] == 0  # no break from the direction's first segment on
    rows, key = rows[keep], key[keep]
    if not len(rows):
        return
    # A run is the direction's first segments that fit in its budget, if there are two or more.
    lengths = lengths[keep]
    first = np.concatenate(([True], key[1:] != key[:-1]))
    group = np.cumsum(first) - 1
    total = np.cumsum(lengths)
    within = total - (total - lengths)[first][group]
    fits = within <= facts.budget.ravel()[key]
    coalesced = fits & (np.bincount(group, weights=fits)[group] > 1)
    single = rows[~coalesced]
    plan.kind[single] = IN_ORDER
    _singles(h, plan, single, key[~coalesced], facts.flows)
    if coalesced.any():
        _runs(h, plan, rows[coalesced], key[coalesced], facts.flows)


def _singles(h: BlockHeaders, plan: BlockPlan, rows: I64, key: I64, flows: dict[int, Flow]) -> None:
    order = np.argsort(rows)  # back to capture order
    rows, key = rows[order], key[order]
    plan.in_order = [
        (flows[k >> 1], _DIRECTIONS[k & 1], seq, start, length)
        for k, seq, start, length in zip(
            key.tolist(),
            h.seq[rows].tolist(),
            h.payload_start[rows].tolist(),
            h.payload_len[rows].tolist(),
            strict=True,
        )
    ]


def _runs(h: BlockHeaders, plan: BlockPlan, rows: I64, key: I64, flows: dict[int, Flow]) -> None:
    plan.kind[rows] = MEMBER
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    ends = np.concatenate((starts[1:], [len(key)]))
    row_list, seq_list = rows.tolist(), h.seq[rows].tolist()
    start_list, length_list = h.payload_start[rows].tolist(), h.payload_len[rows].tolist()
    for k, lo, hi in zip(key[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        last = row_list[hi - 1]
        plan.kind[last] = RUN_END
        plan.runs[last] = Run(
            flows[k >> 1],
            _DIRECTIONS[k & 1],
            seq_list[lo],
            row_list[lo:hi],
            start_list[lo:hi],
            length_list[lo:hi],
        )
