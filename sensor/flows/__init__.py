"""Flows and TCP stream reassembly.

``reassembly`` rebuilds one direction of a TCP connection into an ordered byte stream (Sans-IO:
segments in, data and gap events out). ``table`` keeps one ``Flow`` per connection, decides which
side originated it and hands each direction's stream events to the application layer.
"""

from sensor.flows.reassembly import StreamData, StreamEvent, StreamGap, StreamReassembler
from sensor.flows.table import Direction, Flow, FlowKey, FlowTable

__all__ = [
    "Direction",
    "Flow",
    "FlowKey",
    "FlowTable",
    "StreamData",
    "StreamEvent",
    "StreamGap",
    "StreamReassembler",
]
