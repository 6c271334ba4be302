"""egress sensor: the packet-to-alert pipeline.

The pipeline has one shape for offline captures and live capture::

    capture  ->  decode  ->  flows (TCP reassembly)  ->  protocols  ->  detection  ->  policy  ->  outputs
    sensor.capture  sensor.decode  sensor.flows        sensor.protocols  detectors   geoip / sensor.policy  sensor.outputs

* ``sensor.capture`` reads capture files and yields raw link-layer records.
* ``sensor.decode`` turns records into TCP segments (addresses, ports, sequence numbers, payload).
* ``sensor.flows`` keeps one state per connection and rebuilds each direction's byte stream,
  reporting gaps explicitly instead of stitching over them.
* ``sensor.protocols`` holds Sans-IO parsers: bytes and gaps in, events out, no I/O.
* ``sensor.objects`` is the unit the detectors see: one transferred object (an HTTP body, later a
  mail attachment or an SMB file) with its flow context.
* ``detectors`` (top-level package) finds personal data in objects.
* ``geoip`` (top-level package) places addresses in countries; ``sensor.policy`` decides whether an
  object crossed the border.
* ``sensor.outputs`` writes alerts (JSON lines, human-readable text).
* ``sensor.audit`` wires the stages together for ``egress audit``; ``sensor.cli`` is the command line.

Every stage counts what it could not handle in ``sensor.anomalies.AnomalyCounter`` rather than
raising, so bad input never stops an audit silently or loudly.
"""

__version__ = "0.1.0"
