"""The live sensor's memory and spool gauges (sensor/live/metrics.py, FlowTable.buffered_bytes)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from sensor.anomalies import AnomalyCounter
from sensor.decode.packet import TCP_ACK, TCP_SYN, TcpSegment
from sensor.flows.table import FlowTable
from sensor.live.metrics import SensorCollector


class _Null:
    protocol = ""

    def on_data(self, *args: object) -> None: ...

    def on_gap(self, *args: object) -> None: ...

    def on_close(self, *args: object) -> None: ...


def _seg(t: float, flags: int, seq: int, payload: bytes = b"") -> TcpSegment:
    return TcpSegment(t, "10.0.0.1", "10.0.0.2", 40000, 80, seq, 0, flags, payload)


def test_out_of_order_bytes_are_counted_until_delivered() -> None:
    table = FlowTable(lambda flow: _Null(), AnomalyCounter())
    table.process(_seg(0, TCP_SYN, 100))
    table.process(_seg(1, TCP_ACK, 111, b"x" * 40))  # 10 bytes early: waits
    assert table.buffered_bytes() == 40
    table.process(_seg(2, TCP_ACK, 101, b"y" * 10))  # fills the hole: both delivered
    assert table.buffered_bytes() == 0


def test_gauges_reach_the_metrics_page() -> None:
    snapshots = {0: {"reassembly_bytes": 4096, "active_flows": 3}}
    registry = CollectorRegistry()
    registry.register(
        SensorCollector(snapshots, lambda: 2, lambda: [(5, 1500, 12.5), (1, 10, 3.0)])
    )
    page = generate_latest(registry).decode()
    assert 'egress_reassembly_bytes{worker="0"} 4096.0' in page
    assert "egress_spool_records 6.0" in page
    assert "egress_spool_bytes 1510.0" in page
    assert "egress_spool_oldest_seconds 12.5" in page
    assert "egress_output_queue 2.0" in page
