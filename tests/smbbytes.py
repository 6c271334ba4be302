"""Hand-built SMB2/SMB1 messages for parser tests, laid out as [MS-SMB2] and [MS-CIFS] define them.

Independent of ``sensor.protocols.smb.records``: offsets here are written from the specification's
field tables so a decoder bug is not mirrored by the builder.
"""

from __future__ import annotations

import struct

FLAG_RESPONSE, FLAG_RELATED = 0x1, 0x4


def nbss(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def smb2(
    command: int,
    message_id: int,
    body: bytes,
    *,
    response: bool = False,
    status: int = 0,
    tree_id: int = 1,
    session_id: int = 0x1234,
    flags: int = 0,
    next_command: int = 0,
    credit_charge: int = 1,
) -> bytes:
    flags |= FLAG_RESPONSE if response else 0
    header = struct.pack(
        "<4sHHIHHIIQIIQ16s",
        b"\xfeSMB",
        64,
        credit_charge,
        status,
        command,
        1,
        flags,
        next_command,
        message_id,
        0,
        tree_id,
        session_id,
        b"\x00" * 16,
    )
    return header + body


def compound(pdus: list[bytes]) -> bytes:
    """Chain PDUs with NextCommand, each padded to 8 bytes (the last unpadded)."""
    out = b""
    for i, pdu in enumerate(pdus):
        if i < len(pdus) - 1:
            pdu += b"\x00" * (-len(pdu) % 8)
            pdu = pdu[:20] + struct.pack("<I", len(pdu)) + pdu[24:]
        out += pdu
    return out


def negotiate_response(mid: int, dialect: int) -> bytes:
    body = struct.pack("<HHH", 65, 1, dialect) + b"\x00" * 58
    return smb2(0, mid, body, response=True, tree_id=0)


def ntlmssp_authenticate(user: str, domain: str) -> bytes:
    dom, usr, host = domain.encode("utf-16-le"), user.encode("utf-16-le"), b"H\x00"
    payload_at = 72
    fields = b""
    pos = payload_at
    for item in (b"", b"", dom, usr, host, b""):  # Lm, Nt, Domain, User, Workstation, Session
        fields += struct.pack("<HHI", len(item), len(item), pos)
        pos += len(item)
    head = b"NTLMSSP\x00" + struct.pack("<I", 3) + fields + struct.pack("<I", 0x1)  # UNICODE
    head += b"\x00" * (payload_at - len(head))
    return head + dom + usr + host


def session_setup_request(mid: int, blob: bytes) -> bytes:
    body = struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 64 + 24, len(blob), 0)
    return smb2(1, mid, body + blob, tree_id=0)


def tree_connect_request(mid: int, path: str) -> bytes:
    raw = path.encode("utf-16-le")
    body = struct.pack("<HHHH", 9, 0, 64 + 8, len(raw))
    return smb2(3, mid, body + raw, tree_id=0)


def tree_connect_response(mid: int, tree_id: int, share_type: int = 1) -> bytes:
    body = struct.pack("<HBBIII", 16, share_type, 0, 0, 0, 0x1F01FF)
    return smb2(3, mid, body, response=True, tree_id=tree_id)


def create_request(mid: int, name: str, tree_id: int = 1, **kw: int) -> bytes:
    raw = name.encode("utf-16-le")
    body = struct.pack(
        "<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x12019F, 0x80, 7, 5, 0x40, 64 + 56, len(raw), 0, 0
    )
    return smb2(5, mid, body + (raw or b"\x00"), tree_id=tree_id, **kw)


def create_response(
    mid: int, file_id: bytes, eof: int = 0, tree_id: int = 1, directory: bool = False
) -> bytes:
    body = struct.pack(
        "<HBBIQQQQQQII16sII",
        89,
        0,
        0,
        2,
        0,
        0,
        0,
        0,
        eof,
        eof,
        0x10 if directory else 0x80,
        0,
        file_id,
        0,
        0,
    )
    return smb2(5, mid, body, response=True, tree_id=tree_id)


def write_request(mid: int, file_id: bytes, offset: int, data: bytes, **kw: int) -> bytes:
    body = struct.pack("<HHIQ16sIIHHI", 49, 64 + 48, len(data), offset, file_id, 0, 0, 0, 0, 0)
    return smb2(9, mid, body + data, **kw)


def read_request(mid: int, file_id: bytes, offset: int, length: int, **kw: int) -> bytes:
    body = struct.pack("<HBBIQ16sIIIHH", 49, 0, 0, length, offset, file_id, 0, 0, 0, 0, 0)
    return smb2(8, mid, body + b"\x00", **kw)


def read_response(mid: int, data: bytes, **kw: int) -> bytes:
    body = struct.pack("<HBBIII", 17, 64 + 16, 0, len(data), 0, 0)
    return smb2(8, mid, body + data, response=True, **kw)


def close_request(mid: int, file_id: bytes, **kw: int) -> bytes:
    return smb2(6, mid, struct.pack("<HHI16s", 24, 0, 0, file_id), **kw)


def close_response(mid: int, status: int = 0) -> bytes:
    return smb2(6, mid, struct.pack("<HHI", 60, 0, 0) + b"\x00" * 52, response=True, status=status)


def transform(session_id: int, ciphertext: bytes) -> bytes:
    return (
        b"\xfdSMB"
        + b"\x11" * 16
        + b"\x22" * 16
        + struct.pack("<IHHQ", len(ciphertext), 0, 1, session_id)
        + ciphertext
    )
