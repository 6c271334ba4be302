"""Pure decoders for SMB over TCP: NetBIOS session framing, SMB2/3 and the SMB1 file commands.

Every function takes a ``memoryview`` (or bytes) of one whole message and returns a small frozen
record, or ``None`` when the bytes are too short or a field points outside the message; nothing
here keeps state, logs or raises on bad input. Offsets inside SMB messages are relative to the
start of the SMB header, which is how the wire format defines them ([MS-SMB2] 2.2, [MS-CIFS] 2.2).
Callers decide what a ``None`` means (usually a counted anomaly).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

NBSS_HEADER = 4
SMB2_HEADER = 64
SMB1_HEADER = 32
TRANSFORM_HEADER = 52
SMB2_MAGIC = b"\xfeSMB"
SMB1_MAGIC = b"\xffSMB"
TRANSFORM_MAGIC = b"\xfdSMB"  # SMB 3 encrypted message
COMPRESSED_MAGIC = b"\xfcSMB"  # SMB 3.1.1 compressed message
MAGICS = (SMB2_MAGIC, SMB1_MAGIC, TRANSFORM_MAGIC, COMPRESSED_MAGIC)

# SMB2 commands ([MS-SMB2] 2.2.1)
NEGOTIATE, SESSION_SETUP, LOGOFF, TREE_CONNECT, TREE_DISCONNECT = 0, 1, 2, 3, 4
CREATE, CLOSE, FLUSH, READ, WRITE = 5, 6, 7, 8, 9
MAX_SMB2_COMMAND = 18  # OPLOCK_BREAK; anything above is not SMB2

FLAG_RESPONSE = 0x1
FLAG_ASYNC = 0x2
FLAG_RELATED = 0x4

STATUS_PENDING = 0x00000103
RELATED_FILE_ID = b"\xff" * 16  # "the file the previous compounded request opened"

# SMB1 commands ([MS-CIFS] 2.2.2.1)
SMB1_CLOSE = 0x04
SMB1_READ_ANDX = 0x2E
SMB1_WRITE_ANDX = 0x2F
SMB1_NEGOTIATE = 0x72
SMB1_SESSION_SETUP_ANDX = 0x73
SMB1_TREE_CONNECT_ANDX = 0x75
SMB1_NT_CREATE_ANDX = 0xA2
SMB1_NO_ANDX = 0xFF
SMB1_FLAGS_REPLY = 0x80
SMB1_FLAGS2_UNICODE = 0x8000

DIALECTS = {
    0x0202: "2.02",
    0x0210: "2.1",
    0x0300: "3.0",
    0x0302: "3.0.2",
    0x0311: "3.1.1",
    0x02FF: "2.???",
}

Buf = bytes | bytearray | memoryview

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def u16(buf: Buf, pos: int) -> int:
    return int(_U16.unpack_from(buf, pos)[0])


def u32(buf: Buf, pos: int) -> int:
    return int(_U32.unpack_from(buf, pos)[0])


def u64(buf: Buf, pos: int) -> int:
    return int(_U64.unpack_from(buf, pos)[0])


def utf16(buf: Buf) -> str:
    """UTF-16LE text as sent; unpaired surrogates and odd bytes replaced, trailing NULs dropped."""
    raw = bytes(buf)
    if len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", "replace").rstrip("\x00")


def within(total: int, offset: int, length: int) -> bool:
    """``[offset, offset + length)`` lies inside a message of ``total`` bytes."""
    return offset >= 0 and length >= 0 and offset + length <= total


# -- NetBIOS session service ----------------------------------------------------------------------


SESSION_MESSAGE = 0x00
SESSION_REQUEST = 0x81  # port 139: the client names the server before any SMB
# RFC 1002 session service packet types: message, request, positive / negative response,
# retarget, keep-alive. Only session messages carry SMB.
NBSS_TYPES = frozenset({SESSION_MESSAGE, SESSION_REQUEST, 0x82, 0x83, 0x84, 0x85})


def nbss_length(buf: Buf) -> int | None:
    """Length of the NetBIOS session service packet starting ``buf``; ``None`` for an unknown
    type. Direct TCP (port 445) uses type 0 and a 24-bit length; port 139 the same type with a
    17-bit length (the flags byte holds the top bit), so both parse alike."""
    if buf[0] not in NBSS_TYPES:
        return None
    return (buf[1] << 16) | (buf[2] << 8) | buf[3]


def looks_like_smb(buf: Buf) -> bool:
    """``buf`` starts with a NetBIOS session message carrying an SMB header, or with a port-139
    session request (68 bytes: two 34-byte encoded NetBIOS names), for protocol detection."""
    if len(buf) < NBSS_HEADER + 4:
        return False
    if buf[0] == SESSION_REQUEST:
        return nbss_length(buf) == 68 and buf[NBSS_HEADER] == 0x20
    if buf[0] != SESSION_MESSAGE:
        return False
    return bytes(buf[NBSS_HEADER : NBSS_HEADER + 4]) in MAGICS and (nbss_length(buf) or 0) >= 32


# -- SMB2 header ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Smb2Header:
    credit_charge: int
    status: int
    command: int
    flags: int
    next_command: int
    message_id: int
    tree_id: int  # 0 for async messages, which carry an async id instead
    session_id: int

    @property
    def response(self) -> bool:
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def related(self) -> bool:
        return bool(self.flags & FLAG_RELATED)


def smb2_header(msg: memoryview) -> Smb2Header | None:
    if len(msg) < SMB2_HEADER or bytes(msg[:4]) != SMB2_MAGIC or u16(msg, 4) != 64:
        return None
    flags = u32(msg, 16)
    return Smb2Header(
        credit_charge=u16(msg, 6),
        status=u32(msg, 8),
        command=u16(msg, 12),
        flags=flags,
        next_command=u32(msg, 20),
        message_id=u64(msg, 24),
        tree_id=0 if flags & FLAG_ASYNC else u32(msg, 36),
        session_id=u64(msg, 40),
    )


def smb2_body_size(msg: memoryview) -> int:
    """The fixed structure size the body declares (its low bit flags a variable part)."""
    if len(msg) < SMB2_HEADER + 2:
        return 0
    return u16(msg, SMB2_HEADER)


# -- SMB2 commands --------------------------------------------------------------------------------


def negotiate_dialect(msg: memoryview) -> int | None:
    """DialectRevision of a NEGOTIATE response."""
    body = SMB2_HEADER
    if len(msg) < body + 6 or u16(msg, body) != 65:
        return None
    return u16(msg, body + 4)


def session_setup_blob(msg: memoryview) -> memoryview | None:
    """The security buffer (SPNEGO / NTLMSSP) of a SESSION_SETUP request."""
    body = SMB2_HEADER
    if len(msg) < body + 24 or u16(msg, body) != 25:
        return None
    offset, length = u16(msg, body + 12), u16(msg, body + 14)
    if not within(len(msg), offset, length):
        return None
    return msg[offset : offset + length]


def ntlmssp_user(blob: Buf) -> tuple[str, str] | None:
    """(domain, user) of an NTLMSSP AUTHENTICATE message found anywhere in a security blob."""
    raw = bytes(blob)
    start = raw.find(b"NTLMSSP\x00")
    if start < 0 or len(raw) < start + 64 or u32(raw, start + 8) != 3:
        return None
    auth = raw[start:]
    unicode = len(auth) >= 64 and bool(u32(auth, 60) & 0x1)

    def field(pos: int) -> str | None:
        length, offset = u16(auth, pos), u32(auth, pos + 4)
        if not within(len(auth), offset, length):
            return None
        value = auth[offset : offset + length]
        return utf16(value) if unicode else value.decode("latin-1")

    domain, user = field(28), field(36)
    if user is None:
        return None
    return domain or "", user


def tree_connect_path(msg: memoryview) -> str | None:
    """The share path (``\\\\server\\share``) of a TREE_CONNECT request."""
    body = SMB2_HEADER
    if len(msg) < body + 8 or u16(msg, body) != 9:
        return None
    offset, length = u16(msg, body + 4), u16(msg, body + 6)
    if not within(len(msg), offset, length):
        return None
    return utf16(msg[offset : offset + length])


def tree_connect_share_type(msg: memoryview) -> int | None:
    """ShareType of a TREE_CONNECT response: 1 disk, 2 pipe, 3 printer."""
    body = SMB2_HEADER
    if len(msg) < body + 3 or u16(msg, body) != 16:
        return None
    return msg[body + 2]


@dataclass(frozen=True, slots=True)
class CreateRequest:
    name: str
    disposition: int


def create_request(msg: memoryview) -> CreateRequest | None:
    body = SMB2_HEADER
    if len(msg) < body + 56 or u16(msg, body) != 57:
        return None
    offset, length = u16(msg, body + 44), u16(msg, body + 46)
    if length == 0:
        return CreateRequest("", u32(msg, body + 36))  # the share's root directory
    if not within(len(msg), offset, length):
        return None
    return CreateRequest(utf16(msg[offset : offset + length]), u32(msg, body + 36))


@dataclass(frozen=True, slots=True)
class CreateResponse:
    file_id: bytes
    end_of_file: int
    directory: bool


def create_response(msg: memoryview) -> CreateResponse | None:
    body = SMB2_HEADER
    if len(msg) < body + 88 or u16(msg, body) != 89:
        return None
    attributes = u32(msg, body + 56)
    return CreateResponse(
        file_id=bytes(msg[body + 64 : body + 80]),
        end_of_file=u64(msg, body + 48),
        directory=bool(attributes & 0x10),
    )


def close_file_id(msg: memoryview) -> bytes | None:
    """FileId of a CLOSE request."""
    body = SMB2_HEADER
    if len(msg) < body + 24 or u16(msg, body) != 24:
        return None
    return bytes(msg[body + 8 : body + 24])


@dataclass(frozen=True, slots=True)
class IoRequest:
    """A WRITE request (with its data) or a READ request (data comes in the response)."""

    file_id: bytes
    offset: int
    length: int
    data_offset: int = 0  # WRITE only: where the data starts in the message


def write_request(msg: memoryview) -> IoRequest | None:
    body = SMB2_HEADER
    if len(msg) < body + 48 or u16(msg, body) != 49:
        return None
    return IoRequest(
        file_id=bytes(msg[body + 16 : body + 32]),
        offset=u64(msg, body + 8),
        length=u32(msg, body + 4),
        data_offset=u16(msg, body + 2),
    )


def read_request(msg: memoryview) -> IoRequest | None:
    body = SMB2_HEADER
    if len(msg) < body + 48 or u16(msg, body) != 49:
        return None
    return IoRequest(
        file_id=bytes(msg[body + 16 : body + 32]),
        offset=u64(msg, body + 8),
        length=u32(msg, body + 4),
    )


def read_response(msg: memoryview) -> tuple[int, int] | None:
    """(data offset, data length) of a READ response; the Reserved byte is ignored on purpose."""
    body = SMB2_HEADER
    if len(msg) < body + 16 or u16(msg, body) != 17:
        return None
    return msg[body + 2], u32(msg, body + 4)


# -- SMB3 transform header ------------------------------------------------------------------------


def transform_session(msg: memoryview) -> tuple[int, int] | None:
    """(session id, original message size) of an encrypted message ([MS-SMB2] 2.2.41)."""
    if len(msg) < TRANSFORM_HEADER or bytes(msg[:4]) != TRANSFORM_MAGIC:
        return None
    return u64(msg, 44), u32(msg, 36)


# -- SMB1 -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Smb1Header:
    command: int
    status: int
    flags: int
    flags2: int
    tree_id: int
    process_id: int
    user_id: int
    multiplex_id: int

    @property
    def reply(self) -> bool:
        return bool(self.flags & SMB1_FLAGS_REPLY)

    @property
    def unicode(self) -> bool:
        return bool(self.flags2 & SMB1_FLAGS2_UNICODE)


def smb1_header(msg: memoryview) -> Smb1Header | None:
    if len(msg) < SMB1_HEADER + 1 or bytes(msg[:4]) != SMB1_MAGIC:
        return None
    return Smb1Header(
        command=msg[4],
        status=u32(msg, 5),
        flags=msg[9],
        flags2=u16(msg, 10),
        tree_id=u16(msg, 24),
        process_id=u16(msg, 26) | (u16(msg, 12) << 16),
        user_id=u16(msg, 28),
        multiplex_id=u16(msg, 30),
    )


@dataclass(frozen=True, slots=True)
class Smb1Block:
    """One command's parameter words and data bytes inside an SMB1 message (AndX chains too)."""

    command: int
    start: int  # offset of the WordCount byte
    words: memoryview
    data: memoryview
    data_start: int  # offset of the first data byte in the message


def smb1_block(msg: memoryview, command: int, start: int) -> Smb1Block | None:
    if start >= len(msg):
        return None
    word_count = msg[start]
    words_end = start + 1 + 2 * word_count
    if words_end + 2 > len(msg):
        return None
    byte_count = u16(msg, words_end)
    data_start = words_end + 2
    if data_start + byte_count > len(msg):
        byte_count = len(msg) - data_start  # tolerated: some writers overstate ByteCount
    return Smb1Block(
        command=command,
        start=start,
        words=msg[start + 1 : words_end],
        data=msg[data_start : data_start + byte_count],
        data_start=data_start,
    )


ANDX_COMMANDS = frozenset(
    {
        SMB1_READ_ANDX,
        SMB1_WRITE_ANDX,
        SMB1_SESSION_SETUP_ANDX,
        SMB1_TREE_CONNECT_ANDX,
        SMB1_NT_CREATE_ANDX,
        0x24,  # LOCKING_ANDX
        0x2D,  # OPEN_ANDX
        0x74,  # LOGOFF_ANDX
    }
)
MAX_ANDX_CHAIN = 8  # real clients chain two or three; a loop of offsets must end


def smb1_blocks(msg: memoryview, header: Smb1Header) -> list[Smb1Block]:
    """The command block and any AndX followers, each offset strictly further than the last."""
    blocks: list[Smb1Block] = []
    command, start = header.command, SMB1_HEADER
    while len(blocks) < MAX_ANDX_CHAIN:
        block = smb1_block(msg, command, start)
        if block is None:
            break
        blocks.append(block)
        if command not in ANDX_COMMANDS or len(block.words) < 4:
            break
        next_command, next_offset = block.words[0], u16(block.words, 2)
        if next_command == SMB1_NO_ANDX or next_offset <= start:
            break
        command, start = next_command, next_offset
    return blocks


def smb1_string(msg: memoryview, pos: int, end: int, unicode: bool) -> str:
    """A NUL-terminated string at ``pos``; unicode strings are aligned to 2 from the header."""
    if unicode:
        if pos % 2:
            pos += 1
        raw = bytes(msg[pos:end])
        for i in range(0, len(raw) - 1, 2):
            if raw[i] == 0 and raw[i + 1] == 0:
                raw = raw[:i]
                break
        return utf16(raw)
    raw = bytes(msg[pos:end])
    return raw.split(b"\x00", 1)[0].decode("latin-1")


def smb1_tree_connect_path(msg: memoryview, block: Smb1Block, unicode: bool) -> str | None:
    if len(block.words) < 8:
        return None
    password_length = u16(block.words, 6)
    pos = block.data_start + password_length
    end = block.data_start + len(block.data)
    if pos > end:
        return None
    return smb1_string(msg, pos, end, unicode)


def smb1_create_name(msg: memoryview, block: Smb1Block, unicode: bool) -> str | None:
    """File name of an NT_CREATE_ANDX request."""
    if len(block.words) < 48:
        return None
    name_length = u16(block.words, 5)
    pos = block.data_start
    if unicode and pos % 2:
        pos += 1
    end = min(pos + name_length, block.data_start + len(block.data))
    if name_length == 0 or pos > end:
        return ""
    raw = msg[pos:end]
    return utf16(raw) if unicode else bytes(raw).split(b"\x00", 1)[0].decode("latin-1")


def smb1_create_fid(block: Smb1Block) -> int | None:
    """FID of an NT_CREATE_ANDX response."""
    if len(block.words) < 7:
        return None
    return u16(block.words, 5)


def smb1_write(block: Smb1Block) -> IoRequest | None:
    """WRITE_ANDX request: FID, 64-bit offset, length and data offset."""
    words = block.words
    if len(words) < 24:
        return None
    offset = u32(words, 6)
    if len(words) >= 28:
        offset |= u32(words, 24) << 32
    length = u16(words, 20) | (u16(words, 18) << 16)
    return IoRequest(
        file_id=struct.pack("<H", u16(words, 4)),
        offset=offset,
        length=length,
        data_offset=u16(words, 22),
    )


def smb1_read_request(block: Smb1Block) -> IoRequest | None:
    words = block.words
    if len(words) < 20:
        return None
    offset = u32(words, 6)
    if len(words) >= 24:
        offset |= u32(words, 20) << 32
    return IoRequest(file_id=struct.pack("<H", u16(words, 4)), offset=offset, length=u16(words, 10))


def smb1_read_response(block: Smb1Block) -> tuple[int, int] | None:
    """(data offset, data length) of a READ_ANDX response."""
    words = block.words
    if len(words) < 16:
        return None
    return u16(words, 12), u16(words, 10) | (u16(words, 14) << 16)


def smb1_close_fid(block: Smb1Block) -> bytes | None:
    if len(block.words) < 2:
        return None
    return bytes(block.words[0:2])


def smb_client_is_originator(up: Buf, down: Buf) -> bool | None:
    """For protocol detection: ``None`` unless a held stream starts with NetBIOS + SMB; else
    whether the originator is the SMB client (the side whose messages are not responses)."""
    for held, originator in ((up, True), (down, False)):
        if looks_like_smb(held):
            magic = bytes(held[NBSS_HEADER : NBSS_HEADER + 4])
            response = False
            if magic == SMB2_MAGIC and len(held) >= NBSS_HEADER + 20:
                response = bool(u32(held, NBSS_HEADER + 16) & FLAG_RESPONSE)
            elif magic == SMB1_MAGIC and len(held) >= NBSS_HEADER + 10:
                response = bool(held[NBSS_HEADER + 9] & SMB1_FLAGS_REPLY)
            return originator != response
    return None
