"""The mail/FTP parser bounds from the configuration (``mail_ftp`` section) as parser limits."""

from __future__ import annotations

from sensor.config import EgressConfig
from sensor.content.mime import MimeLimits
from sensor.protocols.ftp.expect import FtpDataLimits


def mime_limits(config: EgressConfig) -> MimeLimits:
    section = config.mail_ftp
    return MimeLimits(section.mime_max_depth, section.mime_max_parts, section.mime_max_head_bytes)


def ftp_data_limits(config: EgressConfig) -> FtpDataLimits:
    section = config.mail_ftp
    return FtpDataLimits(
        max_expectations=section.ftp_max_expectations,
        expect_seconds=section.ftp_expect_seconds,
        max_parked_flows=section.ftp_max_parked_flows,
        max_parked_bytes_per_flow=section.ftp_max_parked_bytes_per_flow,
        max_parked_bytes_total=section.ftp_max_parked_bytes_total,
    )
