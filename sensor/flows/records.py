"""Flow records: one line per connection in ``flows.jsonl``, in the spirit of Zeek's conn.log.

Field names follow conn.log where it has one (``history``, ``conn_state``, ``missed_bytes``), so
analysts who know Zeek can read them without a manual. docs/flows.md lists every field.
"""

from __future__ import annotations

import datetime
from typing import Any

from sensor.flows.table import Flow

FLOW_SCHEMA_VERSION = "0.1"  # sensor/outputs/schema/egress-records.schema.json


def conn_state(history: str) -> str:
    """Zeek's connection state summary from the history letters.

    S0 attempt, no reply; REJ attempt rejected; S1 established, not closed; SF normal close;
    RSTO/RSTR established then reset by originator/responder; SH/SHR one side's SYN then FIN or
    RST, never answered; OTH no SYN and no SYN-ACK seen (picked up mid-stream). A SYN-ACK without
    its SYN counts as established.
    """
    syn, synack = "S" in history, "h" in history
    fin_o, fin_r = "F" in history, "f" in history
    rst_o, rst_r = "R" in history, "r" in history
    if not syn and not synack:
        return "OTH"
    if not syn:  # the SYN was missed but the SYN-ACK seen: established, as Zeek reads it
        syn = True
    if not synack:
        if rst_r:
            return "REJ"
        if fin_o or rst_o:
            return "SH"
        return "S0"
    if rst_o:
        return "RSTO"
    if rst_r:
        return "RSTR"
    if fin_o and fin_r:
        return "SF"
    return "S1"


def flow_record(flow: Flow, service: str, sensor_id: str, source: str) -> dict[str, Any]:
    """The flow record written to flows.jsonl when a flow ends."""
    orig, resp = flow.to_responder, flow.to_originator
    return {
        "schema_version": FLOW_SCHEMA_VERSION,
        "record_type": "flow",
        "uid": flow.uid,
        "@timestamp": datetime.datetime.fromtimestamp(flow.start, datetime.UTC).isoformat(
            timespec="microseconds"
        ),
        "observer": {"name": sensor_id, "input": source},
        "duration": round(flow.last - flow.start, 6),
        "orig_h": flow.orig_ip,
        "orig_p": flow.orig_port,
        "resp_h": flow.resp_ip,
        "resp_p": flow.resp_port,
        "proto": "tcp",
        "service": service or None,
        "vlan": list(flow.vlan),
        "orig_pkts": orig.packets,
        "orig_bytes": orig.bytes,
        "resp_pkts": resp.packets,
        "resp_bytes": resp.bytes,
        "orig_delivered_bytes": orig.stream.bytes_delivered,
        "resp_delivered_bytes": resp.stream.bytes_delivered,
        "orig_missed_bytes": orig.stream.bytes_missing,
        "resp_missed_bytes": resp.stream.bytes_missing,
        "missed_bytes": orig.stream.bytes_missing + resp.stream.bytes_missing,
        "history": flow.history,
        "conn_state": conn_state(flow.history),
        "close_reason": flow.close_reason,
    }
