"""Attach evidence to a capture's alerts: the object at once, the flow's packets after a second pass.

An offline audit holds each capture's alerts until the capture has been read to the end (spooled to
a hidden file in the case folder, so memory stays flat however many alerts there are), then reads
the capture again for the alerted flows' frames (``flowpcap.collect_flows``), stores one pcap per
flow and releases the alerts, in their original order, with references::

    "evidence": {"object": {"path", "sha256", "size", "encrypted"},
                 "pcap":   {"path", "sha256", "size", "encrypted", "packets", "truncated"} | null}

Stdin cannot be read twice: its alerts get no pcap (``evidence.pcap_unavailable_stdin``); nor do
live capture's (``egress sensor`` releases after every ring lap: ``evidence.pcap_unavailable_live``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sensor.anomalies import AnomalyCounter
from sensor.capture.source import STDIN
from sensor.flows.table import Flow
from sensor.objects import TransferObject
from sensor.outputs.evidence import EvidenceStore
from sensor.outputs.flowpcap import FlowPackets, canonical, collect_flows

PENDING_NAME = ".pending-alerts.jsonl"


class AlertEvidence:
    """Holds alerts until their evidence is stored; ``store`` None keeps no evidence at all."""

    def __init__(
        self,
        store: EvidenceStore | None,
        anomalies: AnomalyCounter,
        spool_dir: Path,
        max_pcap_bytes_per_flow: int,
    ) -> None:
        self.store = store
        self._anomalies = anomalies
        self._max_pcap = max_pcap_bytes_per_flow
        self._spool_path = spool_dir / PENDING_NAME
        self._spool: IO[str] | None = None
        self._flows: dict[str, FlowPackets] = {}
        self.pcaps = 0

    def hold(self, alert: dict[str, Any], obj: TransferObject) -> None:
        """Store the object now and keep the alert until ``release``."""
        if self.store is not None:
            alert["evidence"] = {"object": self.store.put("objects", bytes(obj.body)), "pcap": None}
            flow = obj.flow
            if flow.uid not in self._flows:
                key = canonical(flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port)
                self._flows[flow.uid] = FlowPackets(flow.uid, key)
        if self._spool is None:
            self._spool = self._spool_path.open("w+", encoding="utf-8")
        self._spool.write(json.dumps(alert, ensure_ascii=False) + "\n")

    def flow_ended(self, flow: Flow) -> None:
        """Note an alerted flow's time span, which tells it apart from a later reuse of its ports."""
        wanted = self._flows.get(flow.uid)
        if wanted is not None:
            wanted.start, wanted.end = flow.start, flow.last

    def release(self, capture: Path | None) -> Iterator[dict[str, Any]]:
        """After ``capture`` is fully read: store the alerted flows' pcaps, yield the held alerts."""
        refs = self._store_pcaps(capture)
        spool, self._spool = self._spool, None
        if spool is None:
            return
        try:
            spool.seek(0)
            for line in spool:
                alert: dict[str, Any] = json.loads(line)
                if "evidence" in alert:
                    alert["evidence"]["pcap"] = refs.get(alert["flow"]["id"])
                yield alert
        finally:
            spool.close()
            self._spool_path.unlink(missing_ok=True)

    def _store_pcaps(self, capture: Path | None) -> dict[str, dict[str, Any]]:
        flows, self._flows = list(self._flows.values()), {}
        if self.store is None or not flows:
            return {}
        if capture is None:  # live capture (egress sensor): no file to read the frames again
            self._anomalies.count("evidence.pcap_unavailable_live", n=len(flows))
            return {}
        if capture == STDIN:
            self._anomalies.count("evidence.pcap_unavailable_stdin", n=len(flows))
            return {}
        refs = {}
        # The frames wait in an anonymous file (owner-only, gone when closed) next to the alert
        # spool, so one flow's pcap at a time is in memory, not every alerted flow's frames.
        with tempfile.TemporaryFile(dir=self._spool_path.parent, prefix=".pcap-spool-") as spool:
            collect_flows(capture, flows, self._anomalies, self._max_pcap, spool)
            for flow in flows:
                if not flow.packets:
                    continue
                if flow.mixed_linktype:
                    self._anomalies.count("evidence.pcap_mixed_linktype", flow.uid)
                ref = self.store.put("pcap", flow.pcap(spool), suffix=".pcap")
                ref["packets"] = flow.packets
                ref["truncated"] = flow.truncated
                refs[flow.uid] = ref
                self.pcaps += 1
        return refs
