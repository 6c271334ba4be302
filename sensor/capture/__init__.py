"""Capture front ends: turn capture files (and later live interfaces) into link-layer records."""

from sensor.capture.pcap import CaptureRecord, PcapReader, open_capture

__all__ = ["CaptureRecord", "PcapReader", "open_capture"]
