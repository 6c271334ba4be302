"""``egress sensor``: the pipeline of ``egress audit`` on live traffic from a SPAN port.

``supervisor`` (parent: single writer, metrics, signals) forks ``worker`` processes that each read
an AF_PACKET ring (``sensor/capture/afpacket.py``) in one fan-out group; ``metrics`` serves the
Prometheus and health endpoints; ``cli`` is the command. docs/live-sensor.md covers operation.
"""
